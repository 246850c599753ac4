// @vitest-environment happy-dom
// The panel's controls as a designer meets them: counter, ratio × resolution, the tray, the cost.
import { cleanup, fireEvent, render, screen, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/messages';
import { Panel } from '../../ui/panel';
import { FakeMain, fakeProxy, frame, openPanel, settle, trayOf } from './helpers';

afterEach(cleanup);

const generateButton = () => screen.getByRole('button', { name: /^Generate/ });

function typePrompt(text: string) {
  fireEvent.input(screen.getByLabelText('Prompt'), { target: { value: text } });
}

describe('prompt counter', () => {
  it('accepts exactly 20,000 characters and enables Generate', async () => {
    await openPanel();
    typePrompt('a'.repeat(20_000));
    expect(screen.getByText('20,000 / 20,000')).toBeTruthy();
    expect(screen.getByLabelText('Prompt').getAttribute('aria-invalid')).toBeNull();
    expect((generateButton() as HTMLButtonElement).disabled).toBe(false);
  });

  it('turns to an error at 20,001 characters and disables Generate with the reason', async () => {
    await openPanel();
    typePrompt('a'.repeat(20_001));
    expect(screen.getByText('20,001 / 20,000').className).toContain('ff-error-text');
    expect(screen.getByLabelText('Prompt').getAttribute('aria-invalid')).toBe('true');
    expect((generateButton() as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText(/The prompt has 20,001 characters; the limit is 20,000/)).toBeTruthy();
  });

  it('counts an emoji as one character', async () => {
    await openPanel();
    typePrompt('🙂🙂 hi');
    expect(screen.getByText('5 / 20,000')).toBeTruthy();
  });

  it('says why Generate is off while the prompt is empty', async () => {
    await openPanel();
    expect((generateButton() as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText('Write a prompt before generating.')).toBeTruthy();
  });
});

describe('aspect ratio × resolution', () => {
  const radio = (group: string, name: RegExp) =>
    within(screen.getByRole('radiogroup', { name: group })).getByRole('radio', { name }) as HTMLInputElement;

  it('offers every ratio with From frame chosen by default', async () => {
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
  });

  it('1:1 has no 4K, with the reason, while 16:9 has all three with their sizes', async () => {
    await openPanel();
    fireEvent.click(radio('Aspect ratio', /^1:1$/));
    expect(radio('Resolution', /^2K/).disabled).toBe(false);
    expect(radio('Resolution', /^4K/).disabled).toBe(true);
    expect(radio('Resolution', /^4K/).closest('label')?.textContent).toContain('1:1 has no 4K: the largest is 2K.');
    fireEvent.click(radio('Aspect ratio', /^16:9$/));
    expect(radio('Resolution', /^4K/).disabled).toBe(false);
    expect(radio('Resolution', /^4K/).closest('label')?.textContent).toContain('3840×2160');
  });

  it('steps a 4K choice down to 2K when 1:1 is chosen', async () => {
    await openPanel();
    fireEvent.click(radio('Aspect ratio', /^16:9$/));
    fireEvent.click(radio('Resolution', /^4K/));
    fireEvent.click(radio('Aspect ratio', /^1:1$/));
    expect(radio('Resolution', /^2K/).checked).toBe(true);
  });

  it('shows the ratio picked per target with its crop, and marks the suggested tier', async () => {
    await openPanel({ targets: [frame('Hero', 1920, 1080), frame('Card', 1000, 1100)] });
    expect(screen.getByText('Hero 1920×1080 → 16:9')).toBeTruthy();
    expect(screen.getByText('Card 1000×1100 → 1:1 (crops 9%)')).toBeTruthy();
    // 1920 px × density 2 = 3840: the Hero asks for 4K.
    expect(radio('Resolution', /^4K/).closest('label')?.textContent).toContain('suggested');
    expect(radio('Resolution', /^4K/).checked).toBe(true);
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
    // Thumbnails are asked for small.
    expect(main.sentNamed('EXPORT_REFERENCES').at(-1)?.maxEdge).toBe(96);
  });

  it('refuses a 17th reference with a message', async () => {
    await openPanel({ tray: trayOf(15), targets: [frame('A', 100, 100), frame('B', 100, 100)] });
    fireEvent.click(screen.getByRole('button', { name: 'Add selection as references' }));
    expect(screen.getByText('16 / 16')).toBeTruthy();
    expect(screen.getByRole('alert').textContent).toContain('at most 16 references: 1 not added');
    expect(within(screen.getByRole('list', { name: 'References' })).queryByText(/B$/)).toBeNull();
  });

  it('reorders and removes references', async () => {
    const { main } = await openPanel({ tray: trayOf(3) });
    const list = screen.getByRole('list', { name: 'References' });
    fireEvent.click(within(list).getAllByRole('button', { name: 'Move down' })[0] as HTMLElement);
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
    expect(screen.getByText('2 / 16')).toBeTruthy();
  });
});

describe('targets and cost', () => {
  const chooseTier = (tier: string) =>
    fireEvent.click(
      within(screen.getByRole('radiogroup', { name: 'Resolution' })).getByRole('radio', {
        name: new RegExp(`^${tier}`),
      }),
    );

  it('summarises the targets, or a new frame', async () => {
    await openPanel({ targets: [frame('Story', 1080, 1920), frame('Avatar', 400, 400)] });
    expect(screen.getByText('2 frames: 9:16, 1:1')).toBeTruthy();
    cleanup();
    await openPanel();
    expect(screen.getByText('new frame')).toBeTruthy();
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
    // 9:16 at 4K (12) + 1:1 at its largest, 2K (8).
    expect(generateButton().textContent).toBe('Generate · 20 credits');
    expect(screen.getByText(/Avatar: 1:1 2K · 8 credits/).textContent).toContain('1:1 has no 4K: rendered at 2K');
  });

  it('disables Generate when the balance cannot cover the batch', async () => {
    await openPanel({
      targets: [frame('Story', 1080, 1920), frame('Avatar', 400, 400)],
      fetch: fakeProxy({ balance_credits: 10 }),
    });
    typePrompt('a poster');
    chooseTier('1K');
    await settle();
    expect((generateButton() as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText(/Not enough credits: this batch costs 12 and the balance is 10/)).toBeTruthy();
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
    expect((generateButton() as HTMLButtonElement).disabled).toBe(true);
  });

  it('pre-fills prompt, ratio and tier when run from a Regenerate button', async () => {
    const main = new FakeMain();
    render(<Panel bridge={main} defaultProxyUrl="http://localhost:8787" fetch={fakeProxy()} />);
    main.emit('STORAGE_LOADED', {
      settings: DEFAULT_SETTINGS,
      tray: [],
      pendingJobs: [],
      relaunch: {
        targetId: '1:2',
        provenance: {
          prompt: 'A lighthouse at night',
          aspectRatio: '4:3',
          resolution: '4K',
          model: 'gpt-image-2',
          jobId: '3f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7b',
          referenceIds: [],
          costCredits: 12,
          createdAt: '2026-01-01T00:00:00.000Z',
        },
      },
    });
    await settle();
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('A lighthouse at night');
    const ratio = within(screen.getByRole('radiogroup', { name: 'Aspect ratio' })).getByRole('radio', { name: '4:3' });
    expect((ratio as HTMLInputElement).checked).toBe(true);
    expect(generateButton().textContent).toBe('Generate · 12 credits');
  });

  it('sends PANEL_READY once on start', async () => {
    const { main } = await openPanel();
    expect(main.sentNamed('PANEL_READY')).toHaveLength(1);
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

  it('refuses a reference max edge outside the allowed range, and says why', async () => {
    const { main } = await openPanel();
    fireEvent.click(screen.getByText('Settings'));
    const before = main.sentNamed('SAVE_STORAGE').length;
    const edge = screen.getByLabelText('Reference max edge (px)');
    fireEvent.input(edge, { target: { value: '99999' } });
    leave(edge);
    expect(screen.getByRole('alert').textContent).toContain('Not saved: referenceMaxEdge');
    expect(main.sentNamed('SAVE_STORAGE')).toHaveLength(before);
  });
});
