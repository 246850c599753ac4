// @vitest-environment happy-dom
// The panel's History: lists the proxy's jobs for this token, filters them by prompt, places one into the selected
// frame (or a new one) and reuses its prompt and settings.
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../core/api';
import { priceOf } from '../../core/pricing';
import { ageText, noImageReason, promptStart } from '../../ui/history';
import { png } from '../helpers/images';
import { fakeProxy, frame, json, openPanel, settle } from './helpers';

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

async function historyProxy() {
  const queries: string[] = [];
  const image = new Uint8Array(await png(64, 36));
  const fetch = fakeProxy({
    route: (url, init) => {
      const parsed = new URL(url);
      if (parsed.pathname === '/v1/generations' && (init?.method ?? 'GET') === 'GET') {
        const q = parsed.searchParams.get('q') ?? '';
        queries.push(q);
        const jobs = JOBS.filter((j) => (j.prompt ?? '').toLowerCase().includes(q.toLowerCase()));
        return json({ jobs, next_cursor: null });
      }
      if (/\/(thumbnail|image)$/.test(parsed.pathname)) {
        return new Response(image, { status: 200, headers: { 'content-type': 'image/png' } });
      }
      return undefined;
    },
  });
  return { fetch, queries, image };
}

const entries = () => within(screen.getByRole('list', { name: 'Past jobs' })).queryAllByRole('listitem');

async function openHistory(options: Parameters<typeof openPanel>[0] = {}) {
  const opened = await openPanel(options);
  fireEvent.click(screen.getByText('History'));
  await waitFor(() => expect(entries()).toHaveLength(3));
  return opened;
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
    await waitFor(() => expect(within(first!).getByRole('img').getAttribute('src')).toMatch(/^blob:/));
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
    await waitFor(() => expect(screen.getByText('No job matches this search.')).toBeTruthy());
  });

  it('places an entry into the selected frame, even one placed before, and says so', async () => {
    const { fetch, image } = await historyProxy();
    const hero = frame('Hero', 1920, 1080);
    const { main } = await openHistory({ fetch, targets: [hero] });
    fireEvent.click(screen.getByRole('button', { name: 'Place in Hero: A paper kite over a quiet harbour' }));
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
    fireEvent.click(screen.getByRole('button', { name: /^Place in a new frame: A bowl of lemons/ }));
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
    expect(noImageReason({ ...JOBS[1]!, status: 'failed', images: undefined })).toMatch(/ended failed/);
  });
});
