// @vitest-environment happy-dom
// History's pages belong to the search they were listed for: a page asked for while a new search waits for its
// pause continues the list shown, and the list that stays is the one the search box says.
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { historyJob } from './fixtures';
import { fakeProxy, historyEntries, json, openPanel } from './helpers';

afterEach(cleanup);

const job = (id: string, prompt: string) => historyJob(id, prompt, { images: [] });

const NEWEST = job('1b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a71', 'Lemons on a table');
const OLDER = job('2b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a72', 'Lemons in a bowl');
const KITE = job('3b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a73', 'A paper kite');

const entries = historyEntries;
const listed = () => entries().map((entry) => entry.getAttribute('data-job-id'));

describe('History paging and the search', () => {
  it('Show older pressed while a new search waits asks for the older page of the list shown, not of the search', async () => {
    const asked: { q: string; cursor: string }[] = [];
    const fetch = fakeProxy({
      route: (url) => {
        const parsed = new URL(url);
        if (parsed.pathname !== '/v1/generations') return undefined;
        const q = parsed.searchParams.get('q') ?? '';
        const cursor = parsed.searchParams.get('cursor') ?? '';
        asked.push({ q, cursor });
        // The proxy's cursor is the last job listed, whatever the search: combined with another search it
        // would skip that search's newer jobs.
        if (q === 'kite') return json({ jobs: cursor ? [] : [KITE], next_cursor: null });
        return json({ jobs: cursor ? [OLDER] : [NEWEST], next_cursor: cursor ? null : 'after-newest' });
      },
    });
    await openPanel({ fetch });
    fireEvent.click(screen.getByText('History'));
    await waitFor(() => expect(listed()).toEqual([NEWEST.id]));

    fireEvent.input(screen.getByLabelText('Search prompts'), { target: { value: 'kite' } });
    fireEvent.click(screen.getByRole('button', { name: 'Show older' }));

    await waitFor(() => expect(asked.some((a) => a.cursor === 'after-newest')).toBe(true));
    expect(asked.filter((a) => a.cursor === 'after-newest')).toEqual([{ q: '', cursor: 'after-newest' }]);
    // Once the search is asked, the list is the search's alone.
    await waitFor(() => expect(listed()).toEqual([KITE.id]));
  });

  it('says no job matches only for the search that was asked, not for words typed since', async () => {
    const fetch = fakeProxy({
      route: (url) => {
        const parsed = new URL(url);
        if (parsed.pathname !== '/v1/generations') return undefined;
        return json({ jobs: [], next_cursor: null });
      },
    });
    await openPanel({ fetch });
    fireEvent.click(screen.getByText('History'));
    const search = screen.getByLabelText('Search prompts');
    fireEvent.input(search, { target: { value: 'kite' } });
    await waitFor(() => expect(screen.getByText('No generation matches “kite”: try other words.')).toBeTruthy());
    fireEvent.input(search, { target: { value: 'kites over the harbour' } });
    expect(screen.queryByText(/No generation matches “kites over the harbour”/)).toBeNull();
    await waitFor(() =>
      expect(screen.getByText('No generation matches “kites over the harbour”: try other words.')).toBeTruthy(),
    );
  });

  it('a slow answer to an earlier search never replaces the list of the later one', async () => {
    let releaseLemons: () => void = () => undefined;
    const lemonsHeld = new Promise<void>((resolve) => {
      releaseLemons = resolve;
    });
    const fetch = fakeProxy({
      route: (url) => {
        const parsed = new URL(url);
        if (parsed.pathname !== '/v1/generations') return undefined;
        const q = parsed.searchParams.get('q') ?? '';
        if (q === 'lemons') return lemonsHeld.then(() => json({ jobs: [NEWEST, OLDER], next_cursor: null }));
        return json({ jobs: q === 'kite' ? [KITE] : [NEWEST], next_cursor: null });
      },
    });
    await openPanel({ fetch });
    fireEvent.click(screen.getByText('History'));
    await waitFor(() => expect(listed()).toEqual([NEWEST.id]));
    const search = screen.getByLabelText('Search prompts');
    fireEvent.input(search, { target: { value: 'lemons' } });
    // The pause that sends "lemons", then the designer types on.
    await new Promise((resolve) => setTimeout(resolve, 400));
    fireEvent.input(search, { target: { value: 'kite' } });
    await waitFor(() => expect(listed()).toEqual([KITE.id]));
    releaseLemons();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(listed()).toEqual([KITE.id]);
  });
});
