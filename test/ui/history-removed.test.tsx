// @vitest-environment happy-dom
// An image the proxy removed after History listed it (results are kept for a limited time): Place or Download
// says so in one sentence that does not contradict itself, the entry then reads as removed, and keyboard focus
// goes to Reuse, the way to make it again.
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { historyJob } from './fixtures';
import { fakeProxy, json, openPanel } from './helpers';

afterEach(cleanup);

const ID = '5b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a75';
const KITE = historyJob(ID, 'A paper kite over a quiet harbour');

/** The proxy's answer for an image its expiry removed (proxy/server.ts expiredImage). */
const REMOVED = {
  error: {
    code: 'not_found',
    message:
      'This image was removed on 2026-12-01 (results are kept for a limited time and disk space): its prompt and settings are still in History — reuse them to generate it again.',
  },
};

async function historyWithRemovedImage() {
  const fetch = fakeProxy({
    route: (url) => {
      const parsed = new URL(url);
      if (parsed.pathname === '/v1/generations') return json({ jobs: [KITE], next_cursor: null });
      if (parsed.pathname.endsWith('/image')) return json(REMOVED, 404);
      return undefined;
    },
  });
  const opened = await openPanel({ fetch });
  fireEvent.click(screen.getByText('History'));
  const list = await waitFor(() => screen.getByRole('list', { name: 'Past jobs' }));
  const entry = await waitFor(() => within(list).getByRole('listitem'));
  return { ...opened, entry };
}

const notice = () => document.querySelector('.ff-notice')?.textContent;

describe('an image removed after History listed it', () => {
  for (const action of ['Place in a new frame', 'Download'] as const) {
    it(`${action} says it was removed and how to make it again, then the entry reads as removed`, async () => {
      const { main, entry } = await historyWithRemovedImage();
      const button = within(entry).getByRole('button', { name: new RegExp(`^${action}`) }) as HTMLButtonElement;
      button.focus();
      fireEvent.click(button);
      await waitFor(() => expect(notice()).not.toBe(''));
      // One sentence in the panel's words: not the proxy's "still in History" followed by "no longer exists".
      expect(notice()).toBe(
        'This image is no longer on the proxy (results are kept for a limited time): reuse the prompt to make it again.',
      );
      expect(main.sentNamed('PLACE_IMAGE')).toEqual([]);
      await waitFor(() => expect(button.disabled).toBe(true));
      expect(
        within(entry).getByText('Image removed (kept for a limited time) — reuse the prompt to make it again.'),
      ).toBeTruthy();
      const reuse = within(entry).getByRole('button', {
        name: 'Reuse prompt and settings: A paper kite over a quiet harbour',
      });
      await waitFor(() => expect(document.activeElement).toBe(reuse));
    });
  }
});
