// @vitest-environment happy-dom
// The panel's History: lists the proxy's jobs for this token, filters them by prompt, places one into the selected
// frame (or a new one) and reuses its prompt and settings.
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { HISTORY_QUERY_MAX_CHARS, type Job } from '../../core/api';
import { priceOf } from '../../core/pricing';
import { ageText, noImageReason, promptStart, variationsText } from '../../ui/history';
import { png } from '../helpers/images';
import { fakeProxy, frame, historyEntries, json, openPanel, settle } from './helpers';

afterEach(cleanup);

const ids = [
  '1b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a71',
  '2b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a72',
  '3b2f8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a73',
];

function job(id: string, over: Partial<Job>): Job {
  return {
    id,
    status: 'completed',
    prompt_chars: 10,
    aspect_ratio: '16:9',
    resolution: '1K',
    width: 1280,
    height: 720,
    quality: 'medium',
    output_format: 'jpeg',
    references: 0,
    cost_credits: 6,
    created_at: new Date(Date.now() - 5 * 60_000).toISOString(),
    model: 'draft',
    n: 1,
    images: [
      {
        index: 0,
        width: 1280,
        height: 720,
        mime: 'image/png',
        bytes: 100,
        url: `/v1/generations/${id}/image?index=0`,
        thumbnail_url: `/v1/generations/${id}/thumbnail?index=0`,
      },
    ],
    ...over,
  };
}

const JOBS: Job[] = [
  job(ids[0]!, {
    prompt: 'A bowl of lemons on a blue table',
    aspect_ratio: '4:3',
    resolution: '2K',
    width: 2048,
    height: 1536,
    quality: 'medium',
    n: 3,
    cost_credits: 3 * priceOf('2K'),
    images: [0, 1, 2].map((index) => ({
      index,
      width: 2048,
      height: 1536,
      mime: 'image/png',
      bytes: 100,
      url: `/v1/generations/${ids[0]}/image?index=${index}`,
      thumbnail_url: `/v1/generations/${ids[0]}/thumbnail?index=${index}`,
    })),
  }),
  job(ids[1]!, { prompt: 'A paper kite over a quiet harbour' }),
  job(ids[2]!, {
    prompt: 'Old lemon grove at noon',
    images: [
      {
        index: 0,
        width: 1280,
        height: 720,
        mime: 'image/png',
        bytes: 100,
        url: `/v1/generations/${ids[2]}/image?index=0`,
        thumbnail_url: `/v1/generations/${ids[2]}/thumbnail?index=0`,
        expired: true,
      },
    ],
  }),
];

async function historyProxy(
  options: { jobs?: Job[]; pages?: Record<string, { jobs: Job[]; next: string | null }> } = {},
) {
  const queries: string[] = [];
  const fetched: string[] = [];
  // Each image index has its own pixels, so a test can tell which variation was placed or downloaded.
  const images = await Promise.all([1, 2, 3].map(async (seed) => new Uint8Array(await png(64, 36, seed))));
  const image = images[0]!;
  const fetch = fakeProxy({
    route: (url, init) => {
      const parsed = new URL(url);
      if (parsed.pathname === '/v1/generations' && (init?.method ?? 'GET') === 'GET') {
        const q = parsed.searchParams.get('q') ?? '';
        queries.push(q);
        const page = options.pages?.[parsed.searchParams.get('cursor') ?? ''];
        if (page) return json({ jobs: page.jobs, next_cursor: page.next });
        const jobs = (options.jobs ?? JOBS).filter((j) => (j.prompt ?? '').toLowerCase().includes(q.toLowerCase()));
        return json({ jobs, next_cursor: null });
      }
      if (/\/(thumbnail|image)$/.test(parsed.pathname)) {
        fetched.push(`${parsed.pathname.split('/').at(-1)}${parsed.search}`);
        const index = Number(parsed.searchParams.get('index') ?? 0);
        return new Response(images[index], { status: 200, headers: { 'content-type': 'image/png' } });
      }
      return undefined;
    },
  });
  return { fetch, queries, image, images, fetched };
}

const entries = historyEntries;

async function openHistory(options: Parameters<typeof openPanel>[0] = {}, count = 3) {
  const opened = await openPanel(options);
  fireEvent.click(screen.getByText('History'));
  await waitFor(() => expect(entries()).toHaveLength(count));
  return opened;
}

/** Clicks History's Download and returns what the browser would save. */
async function downloadFrom(name: string | RegExp): Promise<{ name: string; href: string }> {
  const clicked: { name: string; href: string }[] = [];
  const original = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
    clicked.push({ name: this.download, href: this.href });
  };
  try {
    fireEvent.click(screen.getByRole('button', { name }));
    await waitFor(() => expect(clicked).toHaveLength(1));
  } finally {
    HTMLAnchorElement.prototype.click = original;
  }
  return clicked[0]!;
}

describe('History', () => {
  it('lists the jobs newest first: prompt start, ratio, tier, cost, status, age, thumbnail', async () => {
    const { fetch } = await historyProxy();
    await openHistory({ fetch });
    const [first, , expired] = entries();
    expect(first?.textContent).toContain('A bowl of lemons on a blue table');
    expect(first?.textContent).toContain(
      `4:3 · 2K · ${3 * priceOf('2K')} credits · completed · 5 min ago · 3 variations`,
    );
    // A single image shows its thumbnail; a job of several shows one per variation to choose from.
    await waitFor(() => expect(within(entries()[1]!).getByRole('img').getAttribute('src')).toMatch(/^blob:/));
    expect(
      within(first!)
        .getAllByRole('radio')
        .map((r) => r.getAttribute('aria-label')),
    ).toEqual(['Variation 1 of 3', 'Variation 2 of 3', 'Variation 3 of 3']);
    await waitFor(() => expect(first!.querySelectorAll('img[src^="blob:"]')).toHaveLength(3));
    // An entry whose image was removed keeps its prompt and settings, and can be reused but not placed.
    expect(expired?.textContent).toContain('Image removed');
    expect((within(expired!).getByRole('button', { name: /^Place in/ }) as HTMLButtonElement).disabled).toBe(true);
    expect((within(expired!).getByRole('button', { name: /^Reuse/ }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('filters by the prompt through the proxy', async () => {
    const { fetch, queries } = await historyProxy();
    await openHistory({ fetch });
    fireEvent.input(screen.getByLabelText('Search prompts'), { target: { value: 'lemon' } });
    await waitFor(() => expect(entries()).toHaveLength(2));
    expect(queries.at(-1)).toBe('lemon');
    expect(entries().map((e) => e.textContent?.slice(0, 20))).toEqual([
      expect.stringContaining('A bowl of lemons'),
      expect.stringContaining('Old lemon grove'),
    ]);
    fireEvent.input(screen.getByLabelText('Search prompts'), { target: { value: 'zebra' } });
    await waitFor(() => expect(screen.getByText('No generation matches “zebra”: try other words.')).toBeTruthy());
  });

  it('places an entry into the selected frame, even one placed before, and says so', async () => {
    const { fetch, image } = await historyProxy();
    const hero = frame('Hero', 1920, 1080);
    const { main } = await openHistory({ fetch, targets: [hero] });
    const place = screen.getByRole('button', { name: 'Place in Hero: A paper kite over a quiet harbour' });
    // The accessible name starts with the words on the button (WCAG 2.5.3, label in name).
    expect(place.textContent).toBe('Place in Hero');
    fireEvent.click(place);
    await waitFor(() => expect(main.sentNamed('PLACE_IMAGE')).toHaveLength(1));
    const [request] = main.sentNamed('PLACE_IMAGE');
    expect(request).toMatchObject({
      targetId: hero.id,
      width: 1280,
      height: 720,
      again: true,
      provenance: { jobId: ids[1], prompt: 'A paper kite over a quiet harbour', aspectRatio: '16:9', resolution: '1K' },
    });
    expect(Array.from(request!.bytes)).toEqual(Array.from(image));
    main.emit('IMAGE_PLACED', { requestId: request!.requestId, nodeId: hero.id, createdFrame: false });
    await settle();
    expect(screen.getByText('Placed from History.')).toBeTruthy();
  });

  it('with no frame selected, places into a new frame', async () => {
    const { fetch } = await historyProxy();
    const { main } = await openHistory({ fetch });
    fireEvent.click(
      screen.getByRole('button', { name: /^Place in a new frame \(variation 1 of 3\): A bowl of lemons/ }),
    );
    await waitFor(() => expect(main.sentNamed('PLACE_IMAGE')).toHaveLength(1));
    expect(main.sentNamed('PLACE_IMAGE')[0]).toMatchObject({ targetId: null, width: 2048, height: 1536 });
  });

  it('reuses the prompt and settings: ratio, tier, quality and variations, priced before Generate', async () => {
    const { fetch } = await historyProxy();
    await openHistory({ fetch, targets: [frame('Hero', 1920, 1080)] });
    fireEvent.click(screen.getByRole('button', { name: /^Reuse prompt and settings: A bowl of lemons/ }));
    await settle();
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('A bowl of lemons on a blue table');
    const checked = (group: string) =>
      (within(screen.getByRole('radiogroup', { name: group })).getAllByRole('radio') as HTMLInputElement[])
        .filter((r) => r.checked)
        .map((r) => r.value);
    expect(checked('Aspect ratio')).toEqual(['4:3']);
    expect(checked('Resolution')).toEqual(['2K']);
    expect(checked('Variations')).toEqual(['3']);
    expect(screen.getByRole('button', { name: /^Generate/ }).textContent).toBe(
      `Generate · ${3 * priceOf('2K')} credits`,
    );
  });
});

describe('History downloads', () => {
  it('downloads an entry’s image under a name from its prompt and size', async () => {
    const { fetch } = await historyProxy();
    await openHistory({ fetch });
    const clicked: { name: string; href: string }[] = [];
    const original = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
      clicked.push({ name: this.download, href: this.href });
    };
    try {
      fireEvent.click(screen.getByRole('button', { name: 'Download: A paper kite over a quiet harbour' }));
      await waitFor(() => expect(clicked).toHaveLength(1));
    } finally {
      HTMLAnchorElement.prototype.click = original;
    }
    expect(clicked[0]).toMatchObject({
      name: 'a-paper-kite-over-a-quiet-harbour-1280x720.png',
      href: expect.stringMatching(/^blob:/),
    });
  });
});

describe('History texts', () => {
  it('cuts the prompt at 60 characters and says the age in words', () => {
    expect(promptStart('x'.repeat(61))).toBe(`${'x'.repeat(59)}…`);
    expect(promptStart('  two\n lines ')).toBe('two lines');
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(ageText('2026-12-01T11:59:30Z', now)).toBe('just now');
    expect(ageText('2026-12-01T09:00:00Z', now)).toBe('3 h ago');
    expect(ageText('2026-11-29T12:00:00Z', now)).toBe('2 days ago');
    expect(noImageReason(JOBS[1]!)).toBeUndefined();
    expect(noImageReason({ ...JOBS[1]!, status: 'failed', images: undefined })).toBe('No image: the job failed.');
    expect(
      noImageReason({
        ...JOBS[1]!,
        status: 'failed',
        images: undefined,
        error: { code: 'content_policy', message: 'The model refused the prompt.' },
      }),
    ).toBe('No image: the job failed (The model refused the prompt).');
    expect(noImageReason({ ...JOBS[1]!, status: 'canceled', images: undefined })).toBe(
      'No image: the job was canceled.',
    );
    // A job that got fewer variations than asked says so beside what it cost.
    expect(variationsText({ ...JOBS[0]!, n: 3, images: JOBS[0]!.images?.slice(0, 2) })).toBe('2 of 3 variations');
    expect(variationsText(JOBS[0]!)).toBe('3 variations');
    expect(variationsText(JOBS[1]!)).toBe('');
    expect(variationsText({ ...JOBS[1]!, n: 2 })).toBe('1 of 2 variations');
    expect(variationsText({ ...JOBS[1]!, n: 2, status: 'failed', images: undefined })).toBe('2 variations');
  });
});

describe('History variations', () => {
  const lemons = () => entries()[0]!;

  it('shows each variation’s thumbnail from its thumbnail_url; Place uses the first unless another is chosen', async () => {
    const { fetch, images, fetched } = await historyProxy();
    const hero = frame('Hero', 1920, 1080);
    const { main } = await openHistory({ fetch, targets: [hero] });
    await waitFor(() => expect(lemons().querySelectorAll('img[src^="blob:"]')).toHaveLength(3));
    for (const index of [0, 1, 2]) expect(fetched).toContain(`thumbnail?index=${index}`);
    const radios = within(lemons()).getAllByRole('radio') as HTMLInputElement[];
    expect(radios.map((r) => r.checked)).toEqual([true, false, false]);

    fireEvent.click(radios[1]!);
    expect((within(lemons()).getAllByRole('radio') as HTMLInputElement[]).map((r) => r.checked)).toEqual([
      false,
      true,
      false,
    ]);
    fireEvent.click(
      screen.getByRole('button', { name: 'Place in Hero (variation 2 of 3): A bowl of lemons on a blue table' }),
    );
    await waitFor(() => expect(main.sentNamed('PLACE_IMAGE')).toHaveLength(1));
    const [request] = main.sentNamed('PLACE_IMAGE');
    expect(Array.from(request!.bytes)).toEqual(Array.from(images[1]!));
    expect(request).toMatchObject({ targetId: hero.id, width: 2048, height: 1536, provenance: { variation: 1 } });
    expect(fetched).toContain('image?index=1');
  });

  it('downloads the chosen variation under its own name', async () => {
    const { fetch } = await historyProxy();
    await openHistory({ fetch });
    fireEvent.click(within(lemons()).getAllByRole('radio')[2]!);
    const saved = await downloadFrom('Download (variation 3 of 3): A bowl of lemons on a blue table');
    expect(saved.name).toBe('a-bowl-of-lemons-on-a-blue-table-2048x1536-v3.png');
  });

  it('an expired variation stays listed with the prompt; Place and Download are off for it, with the reason', async () => {
    const id = ids[0]!;
    const partly = job(id, {
      prompt: 'Two takes of a harbour',
      n: 2,
      cost_credits: 12,
      images: [0, 1].map((index) => ({
        index,
        width: 1280,
        height: 720,
        mime: 'image/png',
        bytes: 100,
        url: `/v1/generations/${id}/image?index=${index}`,
        thumbnail_url: `/v1/generations/${id}/thumbnail?index=${index}`,
        ...(index === 1 ? { expired: true } : {}),
      })),
    });
    const { fetch } = await historyProxy({ jobs: [partly] });
    await openHistory({ fetch }, 1);
    const entry = entries()[0]!;
    const place = () => within(entry).getByRole('button', { name: /^Place in a new frame/ }) as HTMLButtonElement;
    const download = () => within(entry).getByRole('button', { name: /^Download/ }) as HTMLButtonElement;
    expect([place().disabled, download().disabled]).toEqual([false, false]);

    const expired = within(entry).getByRole('radio', { name: 'Variation 2 of 2, image removed' });
    fireEvent.click(expired);
    expect(entry.textContent).toContain('Two takes of a harbour');
    expect([place().disabled, download().disabled]).toEqual([true, true]);
    const reason = document.getElementById(place().getAttribute('aria-describedby') ?? '');
    expect(reason?.textContent).toBe(
      'Variation 2 removed (kept for a limited time) — reuse the prompt to make it again.',
    );
    expect(download().getAttribute('aria-describedby')).toBe(reason?.id);
    // Its thumbnail is kept, so it is still shown.
    await waitFor(() => expect(entry.querySelectorAll('img[src^="blob:"]')).toHaveLength(2));
  });
});

describe('History states', () => {
  it('says "No generations yet" on a proxy with no jobs', async () => {
    const { fetch } = await historyProxy({ jobs: [] });
    await openPanel({ fetch });
    fireEvent.click(screen.getByText('History'));
    await waitFor(() => expect(screen.getByText(/^No generations yet/)).toBeTruthy());
    expect(screen.getByText(/^No generations yet/).getAttribute('role')).toBe('status');
  });

  it('a list route that fails says what happened and what to do, and Try again loads it', async () => {
    let failing = true;
    const fetch = fakeProxy({
      route: (url) => {
        if (new URL(url).pathname !== '/v1/generations') return undefined;
        if (failing) return json({ error: { code: 'internal', message: 'database is locked' } }, 500);
        return json({ jobs: JOBS, next_cursor: null });
      },
    });
    await openPanel({ fetch });
    fireEvent.click(screen.getByText('History'));
    await waitFor(() => expect(screen.getByText(/^History could not be loaded/)).toBeTruthy());
    const alert = screen.getByText(/^History could not be loaded/);
    expect(alert.getAttribute('role')).toBe('alert');
    expect(alert.textContent).toBe(
      "History could not be loaded: the proxy hit an error. Try again; if it persists, check the proxy's logs.",
    );
    expect(screen.queryByText(/^No generations yet/)).toBeNull();
    failing = false;
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(entries()).toHaveLength(3));
    expect(screen.queryByText(/^History could not be loaded/)).toBeNull();
  });

  it('a proxy from before History is asked to be updated, not told a job is gone', async () => {
    await openPanel({ fetch: fakeProxy() });
    fireEvent.click(screen.getByText('History'));
    await waitFor(() =>
      expect(screen.getByRole('alert').textContent).toBe(
        "The proxy at http://localhost:8787 keeps no History: update it to this plugin's version, then open History again.",
      ),
    );
  });

  it('Show older loads the next page below, moves focus to the first older entry, and goes when there is no more', async () => {
    const { fetch } = await historyProxy({
      pages: {
        '': { jobs: [JOBS[0]!], next: 'page-2' },
        'page-2': { jobs: [JOBS[1]!, JOBS[2]!], next: null },
      },
    });
    await openHistory({ fetch }, 1);
    const older = screen.getByRole('button', { name: 'Show older' });
    older.focus();
    fireEvent.click(older);
    await waitFor(() => expect(entries()).toHaveLength(3));
    expect(entries().map((e) => e.getAttribute('data-job-id'))).toEqual(ids);
    expect(screen.queryByRole('button', { name: 'Show older' })).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(entries()[1]));
  });

  it(`refuses a search over ${HISTORY_QUERY_MAX_CHARS} characters in the panel, as the proxy would`, async () => {
    const { fetch, queries } = await historyProxy();
    await openHistory({ fetch });
    const asked = queries.length;
    fireEvent.input(screen.getByLabelText('Search prompts'), {
      target: { value: '🍋'.repeat(HISTORY_QUERY_MAX_CHARS + 1) },
    });
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(screen.getByText(/^Search for at most/).textContent).toBe(
      `Search for at most ${HISTORY_QUERY_MAX_CHARS} characters: shorten it by 1.`,
    );
    expect(queries.length).toBe(asked);
    fireEvent.input(screen.getByLabelText('Search prompts'), {
      target: { value: '🍋'.repeat(HISTORY_QUERY_MAX_CHARS) },
    });
    await waitFor(() => expect(queries.length).toBe(asked + 1));
    expect(screen.queryByText(/^Search for at most/)).toBeNull();
  });
});

describe('History older pages', () => {
  it('an older page that fails keeps what is listed, and Try again asks for that page again', async () => {
    let olderFails = true;
    const fetch = fakeProxy({
      route: (url) => {
        const parsed = new URL(url);
        if (parsed.pathname !== '/v1/generations') return undefined;
        if (!parsed.searchParams.get('cursor')) return json({ jobs: [JOBS[0]], next_cursor: 'page-2' });
        if (olderFails) return json({ error: { code: 'rate_limited', message: 'Slow down.', retry_after: 5 } }, 429);
        return json({ jobs: [JOBS[1], JOBS[2]], next_cursor: null });
      },
    });
    await openPanel({ fetch });
    fireEvent.click(screen.getByText('History'));
    await waitFor(() => expect(entries()).toHaveLength(1));
    fireEvent.click(screen.getByRole('button', { name: 'Show older' }));
    await waitFor(() =>
      expect(screen.getByRole('alert').textContent).toBe(
        'History could not be loaded. Too many requests right now. Try again in 5 seconds.',
      ),
    );
    expect(entries()).toHaveLength(1);
    olderFails = false;
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(entries()).toHaveLength(3));
  });
});

describe('History while an action runs', () => {
  it('Place keeps keyboard focus while its image downloads, and a second press sends nothing more', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const image = new Uint8Array(await png(64, 36));
    const fetch = fakeProxy({
      route: (url) => {
        const parsed = new URL(url);
        const answer = () => new Response(image, { headers: { 'content-type': 'image/png' } });
        if (parsed.pathname === '/v1/generations') return json({ jobs: JOBS, next_cursor: null });
        if (parsed.pathname.endsWith('/image')) return held.then(answer);
        if (parsed.pathname.endsWith('/thumbnail')) return answer();
        return undefined;
      },
    });
    const { main } = await openHistory({ fetch, targets: [frame('Hero', 1920, 1080)] });
    const place = screen.getByRole('button', { name: 'Place in Hero: A paper kite over a quiet harbour' });
    place.focus();
    fireEvent.click(place);
    await settle();
    expect((place as HTMLButtonElement).disabled).toBe(false);
    expect(place.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(place);
    fireEvent.click(place);
    release();
    await waitFor(() => expect(main.sentNamed('PLACE_IMAGE')).toHaveLength(1));
    await settle();
    expect(main.sentNamed('PLACE_IMAGE')).toHaveLength(1);
    expect(place.getAttribute('aria-disabled')).toBeNull();
  });
});
