// @vitest-environment happy-dom
// The panel's controls as a designer meets them: counter, ratio × resolution × quality, the targets and their
// cost, the tray, one submission at a time, the remembered form, and Settings.
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PRICES } from '../../core/pricing';
import { CAPABILITIES, fakeProxy, frame, json, openPanel, settle, trayOf } from './helpers';

afterEach(cleanup);

const generateButton = () => screen.getByRole('button', { name: /^Generate/ }) as HTMLButtonElement;
const radio = (group: string, name: RegExp) =>
  within(screen.getByRole('radiogroup', { name: group })).getByRole('radio', { name }) as HTMLInputElement;
const chooseTier = (tier: string) => fireEvent.click(radio('Resolution', new RegExp(`^${tier}`)));
const targetRow = (name: string) =>
  within(screen.getByRole('list', { name: 'Images to generate' }))
    .getAllByRole('listitem')
    .find((item) => item.textContent?.startsWith(name));

function typePrompt(text: string) {
  fireEvent.input(screen.getByLabelText('Prompt'), { target: { value: text } });
}

const JOB_ID = '3f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7b';

/** A proxy that accepts every generation and keeps its event stream open (the job runs until the test ends). */
function acceptingProxy() {
  const submissions: string[] = [];
  const fetch = fakeProxy({
    route: (url, init) => {
      if (url.endsWith('/v1/generations') && init?.method === 'POST') {
        submissions.push(new Headers(init.headers).get('Idempotency-Key') ?? '');
        return json(
          {
            id: JOB_ID,
            status: 'queued',
            prompt_chars: 8,
            aspect_ratio: '16:9',
            resolution: '1K',
            width: 1280,
            height: 720,
            quality: 'medium',
            output_format: 'png',
            references: 0,
            cost_credits: 6,
            created_at: new Date().toISOString(),
            model: 'draft',
          },
          202,
        );
      }
      if (url.endsWith('/events')) {
        const signal = init?.signal;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(
              new TextEncoder().encode(`event: status\ndata: ${JSON.stringify({ id: JOB_ID, status: 'queued' })}\n\n`),
            );
            signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
          },
        });
        return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      }
      return undefined;
    },
  });
  return { fetch, submissions };
}

describe('prompt counter', () => {
  it('accepts exactly 20,000 characters and enables Generate', async () => {
    await openPanel();
    typePrompt('a'.repeat(20_000));
    expect(screen.getByText('20,000 / 20,000')).toBeTruthy();
    expect(screen.getByLabelText('Prompt').getAttribute('aria-invalid')).toBeNull();
    expect(generateButton().disabled).toBe(false);
  });

  it('turns to an error at 20,001 characters and disables Generate with the reason', async () => {
    await openPanel();
    typePrompt('a'.repeat(20_001));
    expect(screen.getByText('20,001 / 20,000').className).toContain('ff-error-text');
    expect(screen.getByLabelText('Prompt').getAttribute('aria-invalid')).toBe('true');
    expect(generateButton().disabled).toBe(true);
    expect(screen.getByText(/The prompt has 20,001 characters; the limit is 20,000/).className).toBe('ff-reason');
  });

  it('refuses a prompt holding a NUL character, as the proxy does, with the reason', async () => {
    await openPanel();
    typePrompt('a lighthouse\u0000 at dusk');
    expect(generateButton().disabled).toBe(true);
    expect(screen.getByText(/NUL character \(U\+0000\)/).className).toBe('ff-reason');
  });

  it('counts 👩‍🎨 (two emoji joined by a ZWJ) as 3, as the proxy does: 19,997 + 👩‍🎨 fits, 19,998 + 👩‍🎨 does not', async () => {
    await openPanel();
    typePrompt('👩‍🎨');
    expect(screen.getByText('3 / 20,000')).toBeTruthy();
    typePrompt(`${'a'.repeat(19_997)}👩‍🎨`);
    expect(screen.getByText('20,000 / 20,000')).toBeTruthy();
    expect(generateButton().disabled).toBe(false);
    typePrompt(`${'a'.repeat(19_998)}👩‍🎨`);
    expect(screen.getByText('20,001 / 20,000')).toBeTruthy();
    expect(generateButton().disabled).toBe(true);
  });

  it('says quietly, not as an error, that a prompt is needed before anything was done', async () => {
    await openPanel();
    expect(generateButton().disabled).toBe(true);
    const hint = screen.getByText('Write a prompt before generating.');
    expect(hint.className).toBe('ff-muted');
    expect(hint.closest('[role="alert"]')).toBeNull();
    expect(screen.queryAllByRole('alert')).toEqual([]);
  });
});

describe('aspect ratio × resolution × quality', () => {
  it('offers every ratio as a segmented radio group with From frame chosen by default', async () => {
    await openPanel();
    for (const name of ['From frame', 'Auto', '1:1', '9:16', '16:9', '4:3', '3:4']) {
      expect(radio('Aspect ratio', new RegExp(`^${name}$`))).toBeTruthy();
    }
    expect(radio('Aspect ratio', /^From frame$/).checked).toBe(true);
  });

  it('Auto allows only 1K and says why 2K and 4K are off', async () => {
    await openPanel();
    fireEvent.click(radio('Aspect ratio', /^Auto$/));
    expect(radio('Resolution', /^1K/).disabled).toBe(false);
    expect(radio('Resolution', /^2K/).disabled).toBe(true);
    expect(radio('Resolution', /^4K/).disabled).toBe(true);
    expect(radio('Resolution', /^4K/).closest('label')?.textContent).toContain('Auto renders at 1K only.');
    expect(screen.getByText('4K is off: Auto renders at 1K only.')).toBeTruthy();
  });

  it('a square target shows 4K disabled with its reason, and never offers a 4K that renders 2048×2048', async () => {
    await openPanel({ targets: [frame('Post', 1080, 1080)] });
    expect(radio('Resolution', /^4K/).disabled).toBe(true);
    expect(radio('Resolution', /^4K/).closest('label')?.textContent).toContain('1:1 has no 4K: the largest is 2K.');
    expect(screen.getByText('4K is off: 1:1 has no 4K: the largest is 2K.')).toBeTruthy();
    expect(document.body.textContent).not.toMatch(/4K\s*2048×2048/);
    // 1080 px × 2 needs 2K: suggested on an option that exists, never on the disabled one.
    expect(radio('Resolution', /^4K/).closest('label')?.textContent).not.toContain('suggested');
    expect(radio('Resolution', /^2K/).closest('label')?.textContent).toContain('suggested');
  });

  it('keeps the tier at 1K when a frame that suggests 4K is selected: suggested is a hint beside it', async () => {
    const { main } = await openPanel();
    expect(radio('Resolution', /^1K/).checked).toBe(true);
    main.emit('SELECTION_CHANGED', { targets: [frame('Hero', 1920, 1080)], unusable: [], selectionCount: 1 });
    await settle();
    expect(radio('Resolution', /^1K/).checked).toBe(true);
    expect(radio('Resolution', /^4K/).closest('label')?.textContent).toContain('suggested');
    expect(screen.getByText('Suggested for these frames:').textContent).toBe('Suggested for these frames: 4K');
    typePrompt('a hero');
    expect(generateButton().textContent).toBe('Generate · 6 credits');
  });

  it('marks what OpenAI calls experimental: every 4K size, and 2K only where it is 2048×2048', async () => {
    await openPanel({ targets: [frame('Hero', 1920, 1080), frame('Post', 1080, 1080)] });
    expect(radio('Resolution', /^4K/).closest('label')?.textContent).toContain('experimental');
    expect(radio('Resolution', /^2K/).closest('label')?.textContent).toContain('experimental');
    expect(radio('Resolution', /^1K/).closest('label')?.textContent).not.toContain('experimental');
    expect(screen.getByText(/^Experimental at OpenAI/).textContent).toBe(
      'Experimental at OpenAI (over 2560×1440 pixels): 2K for Post; 4K.',
    );
  });

  it('forcing 1:1 on a 16:9 frame shows the crop, and the summary says 1:1', async () => {
    await openPanel({ targets: [frame('Hero', 1920, 1080)] });
    expect(screen.getByTestId('targets-summary').textContent).toBe('1 frame: 16:9');
    expect(targetRow('Hero')?.textContent).toContain('Hero 1920×1080 → 16:9');
    expect(targetRow('Hero')?.textContent).not.toContain('crops');
    fireEvent.click(radio('Aspect ratio', /^1:1$/));
    expect(screen.getByTestId('targets-summary').textContent).toBe('1 frame: 1:1');
    // A 1:1 image covering a 16:9 frame loses 1 − 9/16 = 44 % of itself.
    expect(targetRow('Hero')?.textContent).toBe('Hero 1920×1080 → 1:1 (crops 44%)6 credits1K 1024×1024');
  });

  it('keeps a 4K choice when 1:1 is chosen: that target renders at 2K and says so', async () => {
    await openPanel({ targets: [frame('Hero', 1920, 1080)] });
    fireEvent.click(radio('Aspect ratio', /^16:9$/));
    chooseTier('4K');
    fireEvent.click(radio('Aspect ratio', /^1:1$/));
    expect(radio('Resolution', /^4K/).checked).toBe(true);
    expect(targetRow('Hero')?.textContent).toBe(
      'Hero 1920×1080 → 1:1 (crops 44%)8 credits2K 2048×2048 · 1:1 has no 4K',
    );
  });

  it('prices from the proxy’s table, and quality beside the tier changes the price', async () => {
    await openPanel({
      targets: [frame('Hero', 1920, 1080)],
      fetch: fakeProxy({ capabilities: { prices: { ...DEFAULT_PRICES, medium: { '1K': 7, '2K': 9, '4K': 13 } } } }),
    });
    typePrompt('a hero');
    expect(generateButton().textContent).toBe('Generate · 7 credits');
    fireEvent.click(radio('Quality', /^High$/));
    expect(generateButton().textContent).toBe(`Generate · ${DEFAULT_PRICES.high['1K']} credits`);
    fireEvent.click(radio('Quality', /^Low$/));
    expect(generateButton().textContent).toBe(`Generate · ${DEFAULT_PRICES.low['1K']} credit`);
  });

  it("shows on Generate exactly the proxy's price for every tier × quality", async () => {
    // A table unlike core's defaults, so only prices read from the proxy can match.
    const prices = {
      low: { '1K': 2, '2K': 3, '4K': 5 },
      medium: { '1K': 7, '2K': 11, '4K': 13 },
      high: { '1K': 17, '2K': 19, '4K': 23 },
    };
    await openPanel({ targets: [frame('Hero', 1920, 1080)], fetch: fakeProxy({ capabilities: { prices } }) });
    typePrompt('a hero');
    for (const [quality, label] of [
      ['low', 'Low'],
      ['medium', 'Medium'],
      ['high', 'High'],
    ] as const) {
      fireEvent.click(radio('Quality', new RegExp(`^${label}$`)));
      for (const tier of ['1K', '2K', '4K'] as const) {
        chooseTier(tier);
        expect(generateButton().textContent).toBe(`Generate · ${prices[quality][tier]} credits`);
      }
    }
  });

  it('hides Quality when the proxy offers one quality only', async () => {
    await openPanel({ fetch: fakeProxy({ capabilities: { ...CAPABILITIES, qualities: ['medium'] } }) });
    expect(screen.queryByRole('radiogroup', { name: 'Quality' })).toBeNull();
  });
});

describe('the form is remembered', () => {
  it('saves the prompt, ratio, tier and quality with the settings, and a reopened panel starts from them', async () => {
    const { main } = await openPanel({ targets: [frame('Hero', 1920, 1080)] });
    typePrompt('a lighthouse');
    fireEvent.click(radio('Aspect ratio', /^16:9$/));
    chooseTier('2K');
    fireEvent.click(radio('Quality', /^High$/));
    await waitFor(() =>
      expect(main.sentNamed('SAVE_STORAGE').at(-1)?.settings).toMatchObject({
        prompt: 'a lighthouse',
        ratio: '16:9',
        tier: '2K',
        quality: 'high',
      }),
    );
    const saved = main.sentNamed('SAVE_STORAGE').at(-1)?.settings;
    cleanup();

    await openPanel({ targets: [frame('Hero', 1920, 1080)], settings: saved ?? {} });
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('a lighthouse');
    expect(radio('Aspect ratio', /^16:9$/).checked).toBe(true);
    expect(radio('Resolution', /^2K/).checked).toBe(true);
    expect(radio('Quality', /^High$/).checked).toBe(true);
    expect(generateButton().textContent).toBe(`Generate · ${DEFAULT_PRICES.high['2K']} credits`);
  });

  it('starts at 1K the first time, whatever the frames suggest', async () => {
    await openPanel({ targets: [frame('Hero', 1920, 1080)] });
    expect(radio('Resolution', /^1K/).checked).toBe(true);
  });
});

describe('targets and cost', () => {
  it('lists each target once with ratio, tier, output size, crop and cost', async () => {
    await openPanel({ targets: [frame('Story', 1080, 1920), frame('Banner', 3000, 1000)] });
    expect(targetRow('Story')?.textContent).toBe('Story 1080×1920 → 9:166 credits1K 720×1280');
    // 3:1 covered by 16:9: 1 − (16/9)/3 = 41 % cropped.
    expect(targetRow('Banner')?.textContent).toBe('Banner 3000×1000 → 16:9 (crops 41%)6 credits1K 1280×720');
    expect(screen.getByTestId('targets-summary').textContent).toBe('2 frames: 9:16, 16:9');
  });

  it('plans a new 1:1 frame when nothing is selected', async () => {
    await openPanel();
    expect(screen.getByTestId('targets-summary').textContent).toBe('new frame');
    expect(targetRow('No frame selected')?.textContent).toBe(
      'No frame selected: a new 1:1 frame is made.6 credits1K 1024×1024',
    );
  });

  it('prices one chosen tier per target: 9:16 + 1:1 at 2K cost 8 + 8', async () => {
    await openPanel({ targets: [frame('Story', 1080, 1920), frame('Avatar', 400, 400)] });
    typePrompt('a poster');
    chooseTier('2K');
    expect(generateButton().textContent).toBe('Generate · 16 credits');
    chooseTier('1K');
    expect(generateButton().textContent).toBe('Generate · 12 credits');
  });

  it('caps a 1:1 target at 2K when 4K is chosen, and says so beside it and in the cost', async () => {
    await openPanel({ targets: [frame('Story', 1080, 1920), frame('Avatar', 400, 400)] });
    chooseTier('4K');
    expect(generateButton().textContent).toBe('Generate · 20 credits');
    expect(targetRow('Avatar')?.textContent).toBe('Avatar 400×400 → 1:18 credits2K 2048×2048 · 1:1 has no 4K');
  });

  it('disables Generate when the balance cannot cover the batch, in the error colour', async () => {
    await openPanel({
      targets: [frame('Story', 1080, 1920), frame('Avatar', 400, 400)],
      fetch: fakeProxy({ account: { balance_credits: 10 } }),
    });
    typePrompt('a poster');
    await settle();
    expect(generateButton().disabled).toBe(true);
    expect(screen.getByText(/Not enough credits: this batch costs 12 and the balance is 10/).className).toBe(
      'ff-reason',
    );
  });
});

describe('reference tray', () => {
  it('pins the selection and shows the count n / 16', async () => {
    const { main } = await openPanel({ targets: [frame('A', 100, 100), frame('B', 200, 100)] });
    fireEvent.click(screen.getByRole('button', { name: 'Add selection as references' }));
    expect(screen.getByText('2 / 16')).toBeTruthy();
    const list = screen.getByRole('list', { name: 'References' });
    expect(within(list).getAllByRole('listitem')).toHaveLength(2);
    expect(
      main
        .sentNamed('SAVE_STORAGE')
        .at(-1)
        ?.tray?.map((t) => t.name),
    ).toEqual(['A', 'B']);
    expect(main.sentNamed('EXPORT_REFERENCES').at(-1)?.maxEdge).toBe(96);
  });

  it('refuses a 17th reference with a message', async () => {
    await openPanel({ tray: trayOf(15), targets: [frame('A', 100, 100), frame('B', 100, 100)] });
    fireEvent.click(screen.getByRole('button', { name: 'Add selection as references' }));
    expect(screen.getByText('16 / 16')).toBeTruthy();
    expect(screen.getByRole('alert').textContent).toContain('at most 16 references: 1 not added');
  });

  it('reorders and removes references with named icon buttons', async () => {
    const { main } = await openPanel({ tray: trayOf(3) });
    const list = screen.getByRole('list', { name: 'References' });
    const down = within(list).getAllByRole('button', { name: 'Move down' });
    expect(down.map((b) => b.querySelector('svg') !== null)).toEqual([true, true, true]);
    fireEvent.click(down[0] as HTMLElement);
    expect(
      main
        .sentNamed('SAVE_STORAGE')
        .at(-1)
        ?.tray?.map((t) => t.name),
    ).toEqual(['Ref 2', 'Ref 1', 'Ref 3']);
    fireEvent.click(within(list).getAllByRole('button', { name: 'Remove' })[2] as HTMLElement);
    expect(
      main
        .sentNamed('SAVE_STORAGE')
        .at(-1)
        ?.tray?.map((t) => t.name),
    ).toEqual(['Ref 2', 'Ref 1']);
  });
});

describe('generating', () => {
  it('shows "Exporting n of m" while references arrive one message per image', async () => {
    const { main } = await openPanel({ tray: trayOf(3), targets: [frame('Hero', 1440, 810)] });
    typePrompt('a poster');
    fireEvent.click(generateButton());
    const request = main.sentNamed('EXPORT_REFERENCES').find((r) => r.maxEdge === 2048);
    expect(request?.nodeIds).toEqual(['9:0', '9:1', '9:2']);
    expect(screen.getByText('Exporting 0 of 3')).toBeTruthy();
    main.emit('REFERENCE_EXPORTED', {
      requestId: request?.requestId ?? '',
      index: 0,
      total: 3,
      image: { nodeId: '9:0', name: 'Ref 1', mime: 'image/png', width: 4, height: 4, bytes: new Uint8Array([1]) },
    });
    expect(screen.getByText('Exporting 1 of 3')).toBeTruthy();
    expect(generateButton().disabled).toBe(true);
  });

  it('a double click and a double ⌘/Ctrl+Enter make one job each', async () => {
    const proxy = acceptingProxy();
    await openPanel({ targets: [frame('Hero', 1920, 1080)], fetch: proxy.fetch });
    typePrompt('a quiet harbour');
    fireEvent.click(generateButton());
    fireEvent.click(generateButton());
    await settle();
    expect(proxy.submissions).toHaveLength(1);
    cleanup();

    const again = acceptingProxy();
    await openPanel({ targets: [frame('Hero', 1920, 1080)], fetch: again.fetch });
    typePrompt('a quiet harbour');
    const prompt = screen.getByLabelText('Prompt');
    fireEvent.keyDown(prompt, { key: 'Enter', ctrlKey: true });
    fireEvent.keyDown(prompt, { key: 'Enter', ctrlKey: true });
    await settle();
    expect(again.submissions).toHaveLength(1);
  });

  it('asks before a second job for a target that already has one running', async () => {
    const proxy = acceptingProxy();
    await openPanel({ targets: [frame('Hero', 1920, 1080)], fetch: proxy.fetch });
    typePrompt('a quiet harbour');
    fireEvent.click(generateButton());
    await settle();
    expect(proxy.submissions).toHaveLength(1);

    fireEvent.click(generateButton());
    await settle();
    expect(screen.getByRole('alert').textContent).toBe('Hero already has a job running. Start another for 6 credits?');
    expect(proxy.submissions).toHaveLength(1);
    fireEvent.click(screen.getByRole('button', { name: 'Keep the running one' }));
    await settle();
    expect(proxy.submissions).toHaveLength(1);
    expect(screen.queryByRole('button', { name: 'Start another' })).toBeNull();

    fireEvent.click(generateButton());
    await settle();
    fireEvent.click(screen.getByRole('button', { name: 'Start another' }));
    await settle();
    expect(proxy.submissions).toHaveLength(2);
    // Two jobs, two keys: the second is a deliberate second image, not a retry of the first.
    expect(new Set(proxy.submissions).size).toBe(2);
  });

  it('asks the same when only some targets of the batch are busy, pricing the whole batch', async () => {
    const proxy = acceptingProxy();
    const { main } = await openPanel({ targets: [frame('Hero', 1920, 1080)], fetch: proxy.fetch });
    typePrompt('a quiet harbour');
    fireEvent.click(generateButton());
    await settle();
    main.emit('SELECTION_CHANGED', {
      targets: [frame('Hero', 1920, 1080), frame('Story', 1080, 1920)],
      unusable: [],
      selectionCount: 2,
    });
    fireEvent.click(generateButton());
    await settle();
    expect(screen.getByRole('alert').textContent).toBe(
      'Hero already has a job running. Generate all 2 anyway, for 12 credits?',
    );
    expect(proxy.submissions).toHaveLength(1);
  });

  it('says what Cancel does to the credits before the click', async () => {
    const proxy = acceptingProxy();
    await openPanel({ targets: [frame('Hero', 1920, 1080)], fetch: proxy.fetch });
    typePrompt('a quiet harbour');
    fireEvent.click(generateButton());
    await settle();
    expect(screen.getByRole('button', { name: 'Cancel — 6 credits returned' })).toBeTruthy();
  });

  it('pre-fills prompt, ratio and tier when run from a Regenerate button', async () => {
    await openPanel({
      relaunch: {
        targetId: '1:2',
        provenance: {
          prompt: 'A lighthouse at night',
          aspectRatio: '4:3',
          resolution: '4K',
          model: 'gpt-image-2',
          jobId: JOB_ID,
          referenceIds: [],
          costCredits: 12,
          createdAt: '2026-01-01T00:00:00.000Z',
        },
      },
    });
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('A lighthouse at night');
    expect(radio('Aspect ratio', /^4:3$/).checked).toBe(true);
    expect(generateButton().textContent).toBe('Generate · 12 credits');
  });

  it('sends PANEL_READY once on start', async () => {
    const { main } = await openPanel();
    expect(main.sentNamed('PANEL_READY')).toHaveLength(1);
  });
});

describe('connection', () => {
  it('on 401 from a local proxy asks for the token npm start printed, and keeps the form as it was', async () => {
    await openPanel({ fetch: fakeProxy({ accountStatus: 401 }), settings: { prompt: 'a kept prompt', tier: '2K' } });
    expect(screen.getByRole('alert').textContent).toBe(
      'The local proxy at http://localhost:8787 needs its token: paste the token that `npm start` printed into Settings ▸ Token.',
    );
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('a kept prompt');
    expect(radio('Resolution', /^2K/).checked).toBe(true);
    // Settings is open at the field the sentence names.
    expect(screen.getByLabelText('Token')).toBeTruthy();
  });
});

describe('settings', () => {
  // Preact listens to focusout for onBlur; a browser fires both when a field is left.
  const leave = (element: HTMLElement) => {
    fireEvent.blur(element);
    fireEvent.focusOut(element);
  };

  it('saves a new proxy URL and token through the main thread when the field is left', async () => {
    const { main } = await openPanel();
    fireEvent.click(screen.getByText('Settings'));
    const url = screen.getByLabelText('Proxy URL');
    fireEvent.input(url, { target: { value: 'https://framefill.example.com/' } });
    leave(url);
    const token = screen.getByLabelText('Token');
    fireEvent.input(token, { target: { value: ' secret-token ' } });
    leave(token);
    const saved = main.sentNamed('SAVE_STORAGE').at(-1)?.settings;
    expect(saved).toMatchObject({ proxyUrl: 'https://framefill.example.com', token: 'secret-token' });
  });

  it('keeps a half-typed proxy URL while the prompt is saved in the background', async () => {
    const { main } = await openPanel();
    fireEvent.click(screen.getByText('Settings'));
    const url = screen.getByLabelText('Proxy URL') as HTMLInputElement;
    fireEvent.input(url, { target: { value: 'https://framefill.exa' } });
    typePrompt('a lighthouse');
    await waitFor(() => expect(main.sentNamed('SAVE_STORAGE').at(-1)?.settings?.prompt).toBe('a lighthouse'));
    await settle();
    expect(url.value).toBe('https://framefill.exa');
  });

  it('drops a trailing /v1 or / from the proxy URL, and shows what is used', async () => {
    const { main } = await openPanel();
    fireEvent.click(screen.getByText('Settings'));
    const url = screen.getByLabelText('Proxy URL') as HTMLInputElement;
    fireEvent.input(url, { target: { value: ' http://localhost:9999/v1/ ' } });
    leave(url);
    expect(main.sentNamed('SAVE_STORAGE').at(-1)?.settings?.proxyUrl).toBe('http://localhost:9999');
    expect(url.value).toBe('http://localhost:9999');
  });

  it('explains a bad proxy URL in words, never with a field name, and saves nothing', async () => {
    const { main } = await openPanel();
    fireEvent.click(screen.getByText('Settings'));
    const before = main.sentNamed('SAVE_STORAGE').length;
    const url = screen.getByLabelText('Proxy URL');
    fireEvent.input(url, { target: { value: 'localhost:8787' } });
    leave(url);
    const alert = screen.getByRole('alert').textContent ?? '';
    expect(alert).toBe(
      'Not saved: The proxy URL must start with http:// or https://, for example http://localhost:8787.',
    );
    expect(alert).not.toMatch(/proxyUrl/);
    expect(main.sentNamed('SAVE_STORAGE')).toHaveLength(before);
  });

  it('refuses a reference max edge outside the allowed range, and says why in words', async () => {
    const { main } = await openPanel();
    fireEvent.click(screen.getByText('Settings'));
    const before = main.sentNamed('SAVE_STORAGE').length;
    const edge = screen.getByLabelText('Reference max edge (px)');
    fireEvent.input(edge, { target: { value: '99999' } });
    leave(edge);
    const alert = screen.getByRole('alert').textContent ?? '';
    expect(alert).toContain('Not saved: the reference max edge must be a whole number of pixels from 256 to 4096');
    expect(alert).not.toMatch(/referenceMaxEdge/);
    expect(main.sentNamed('SAVE_STORAGE')).toHaveLength(before);
  });
});
