// @vitest-environment happy-dom
// History's thumbnails are blob: URLs: each one made is revoked when its entry goes, also when its bytes arrive just
// after the entry went (a search that replaced the list while they were on their way).
import { cleanup, render, screen, waitFor, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { HistoryView } from '../../ui/components/HistoryView';
import { ProxyClient } from '../../ui/proxy-client';
import { png } from '../helpers/images';
import { historyJob } from './fixtures';
import { json } from './helpers';

afterEach(cleanup);

const ID = '7b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a77';
const KITE = historyJob(ID, 'A paper kite');

describe('History thumbnails', () => {
  it('a thumbnail whose bytes arrive after its entry went leaves no blob: URL behind', async () => {
    const bytes = new Uint8Array(await png(16, 9));
    let thumbnailAsked = false;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The bytes were already read when the entry went: the abort comes too late to stop them.
    const fetch = (async (input: RequestInfo | URL) => {
      const url = new URL(String(input));
      if (url.pathname.endsWith('/thumbnail')) {
        thumbnailAsked = true;
        await held;
        return new Response(bytes, { headers: { 'content-type': 'image/png' } });
      }
      return json({ jobs: [KITE], next_cursor: null });
    }) as typeof globalThis.fetch;
    const live = new Set<string>();
    const { createObjectURL, revokeObjectURL } = URL;
    URL.createObjectURL = (blob: Blob) => {
      const made = createObjectURL(blob);
      live.add(made);
      return made;
    };
    URL.revokeObjectURL = (url: string) => {
      live.delete(url);
      revokeObjectURL(url);
    };
    try {
      const client = new ProxyClient({ baseUrl: 'http://localhost:8787', fetch });
      const view = render(
        <HistoryView
          open
          onToggle={() => undefined}
          client={client}
          targetName={undefined}
          onPlace={async () => undefined}
          onReuse={() => undefined}
          onDownload={async () => undefined}
        />,
      );
      await waitFor(() =>
        expect(within(screen.getByRole('list', { name: 'Past jobs' })).getAllByRole('listitem')).toHaveLength(1),
      );
      await waitFor(() => expect(thumbnailAsked).toBe(true));
      view.unmount();
      release();
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
      expect([...live]).toEqual([]);
    } finally {
      URL.createObjectURL = createObjectURL;
      URL.revokeObjectURL = revokeObjectURL;
    }
  });
});
