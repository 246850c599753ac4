// @vitest-environment happy-dom
// History's Try again from the keyboard: the button stays focusable while it loads (aria-disabled: a disabled button
// drops the focus to the page), and once the list is there it goes, so the focus moves to the first entry.
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { historyJob } from './fixtures';
import { fakeProxy, json, openPanel } from './helpers';

afterEach(cleanup);

const KITE = historyJob('6b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a76', 'A paper kite over a quiet harbour', { images: [] });

describe('History’s Try again from the keyboard', () => {
  it('keeps the focus while it loads, then moves it to the first entry', async () => {
    let failing = true;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fetch = fakeProxy({
      route: (url) => {
        if (new URL(url).pathname !== '/v1/generations') return undefined;
        if (failing) return json({ error: { code: 'internal', message: 'database is locked' } }, 500);
        return held.then(() => json({ jobs: [KITE], next_cursor: null }));
      },
    });
    await openPanel({ fetch });
    fireEvent.click(screen.getByText('History'));
    const retry = await waitFor(() => screen.getByRole('button', { name: 'Try again' }) as HTMLButtonElement);
    failing = false;
    retry.focus();
    fireEvent.click(retry);
    await waitFor(() => expect(retry.getAttribute('aria-disabled')).toBe('true'));
    expect(retry.disabled).toBe(false);
    expect(document.activeElement).toBe(retry);
    release();
    const list = screen.getByRole('list', { name: 'Past jobs' });
    await waitFor(() => expect(within(list).queryAllByRole('listitem')).toHaveLength(1));
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(within(list).getByRole('listitem')));
  });
});
