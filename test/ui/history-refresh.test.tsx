// @vitest-environment happy-dom
// History refreshes itself when a job of this panel ends: the new job appears on top, and the older pages the
// designer already opened stay, with the keyboard focus where it was.
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../core/api';
import { HistoryView } from '../../ui/components/HistoryView';
import { ProxyClient } from '../../ui/proxy-client';
import { historyJob } from './fixtures';
import { historyEntries, json } from './helpers';

afterEach(cleanup);

const job = (id: string, prompt: string) => historyJob(id, prompt, { images: [] });

const FIRST = job('1b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a71', 'Lemons on a table');
const OLDER = job('2b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a72', 'A paper kite');
const NEW = job('3b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a73', 'Dunes at dawn');

const entries = historyEntries;
const listed = () => entries().map((entry) => entry.getAttribute('data-job-id'));

describe('History refreshed after a job ends', () => {
  it('keeps the older pages already shown and the focus in them, with the new job on top', async () => {
    let finished = false;
    const fetch = (async (input: RequestInfo | URL) => {
      const url = new URL(String(input));
      if (url.pathname !== '/v1/generations') return json({ error: { code: 'not_found', message: 'No.' } }, 404);
      if (url.searchParams.get('cursor') === 'after-first') return json({ jobs: [OLDER], next_cursor: null });
      return json({ jobs: finished ? [NEW, FIRST] : [FIRST], next_cursor: 'after-first' });
    }) as typeof globalThis.fetch;
    const client = new ProxyClient({ baseUrl: 'http://localhost:8787', fetch });
    const view = (refreshKey: number) => (
      <HistoryView
        open
        onToggle={() => undefined}
        client={client}
        targetName={undefined}
        onPlace={async () => undefined}
        onReuse={() => undefined}
        onDownload={async () => undefined}
        refreshKey={refreshKey}
      />
    );
    const { rerender } = render(view(0));
    await waitFor(() => expect(listed()).toEqual([FIRST.id]));
    fireEvent.click(screen.getByRole('button', { name: 'Show older' }));
    await waitFor(() => expect(listed()).toEqual([FIRST.id, OLDER.id]));
    await waitFor(() => expect(document.activeElement).toBe(entries()[1]));
    const reuse = screen.getByRole('button', { name: 'Reuse prompt and settings: A paper kite' });
    reuse.focus();

    finished = true;
    rerender(view(1));
    await waitFor(() => expect(listed()[0]).toBe(NEW.id));
    expect(listed()).toEqual([NEW.id, FIRST.id, OLDER.id]);
    expect(document.activeElement).toBe(reuse);
    expect(screen.queryByRole('button', { name: 'Show older' })).toBeNull();
  });

  it('a list from another proxy or token replaces the one shown: entries of two accounts never mix', async () => {
    const proxyOf = (jobs: Job[], next: string | null) =>
      (async (input: RequestInfo | URL) => {
        const url = new URL(String(input));
        if (url.searchParams.get('cursor')) return json({ jobs: [OLDER], next_cursor: null });
        return json({ jobs, next_cursor: next });
      }) as typeof globalThis.fetch;
    const first = new ProxyClient({ baseUrl: 'http://localhost:8787', fetch: proxyOf([FIRST], 'after-first') });
    const second = new ProxyClient({ baseUrl: 'http://localhost:8787', token: 'other', fetch: proxyOf([FIRST], null) });
    const view = (client: ProxyClient) => (
      <HistoryView
        open
        onToggle={() => undefined}
        client={client}
        targetName={undefined}
        onPlace={async () => undefined}
        onReuse={() => undefined}
        onDownload={async () => undefined}
      />
    );
    const { rerender } = render(view(first));
    await waitFor(() => expect(listed()).toEqual([FIRST.id]));
    fireEvent.click(screen.getByRole('button', { name: 'Show older' }));
    await waitFor(() => expect(listed()).toEqual([FIRST.id, OLDER.id]));
    rerender(view(second));
    await waitFor(() => expect(listed()).toEqual([FIRST.id]));
  });

  it('a proxy or token that cannot list History clears the other account’s entries rather than offering them', async () => {
    const first = new ProxyClient({
      baseUrl: 'http://localhost:8787',
      fetch: (async () => json({ jobs: [FIRST], next_cursor: null })) as typeof globalThis.fetch,
    });
    const refused = new ProxyClient({
      baseUrl: 'http://localhost:8787',
      token: 'revoked',
      fetch: (async () =>
        json(
          { error: { code: 'unauthorized', message: 'Missing or unknown token.' } },
          401,
        )) as typeof globalThis.fetch,
    });
    const view = (client: ProxyClient) => (
      <HistoryView
        open
        onToggle={() => undefined}
        client={client}
        targetName={undefined}
        onPlace={async () => undefined}
        onReuse={() => undefined}
        onDownload={async () => undefined}
      />
    );
    const { rerender } = render(view(first));
    await waitFor(() => expect(listed()).toEqual([FIRST.id]));
    rerender(view(refused));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/^History could not be loaded/));
    expect(listed()).toEqual([]);
  });
});
