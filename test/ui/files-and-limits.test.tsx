// @vitest-environment happy-dom
// The panel's side of per-file state and of requests that cannot be carried out: Settings refuses what the
// build or the message schema would refuse, a refused export is said in a sentence (no hang), and an image
// from another file is offered, never placed by itself.
import { cleanup, fireEvent, render, screen } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type PendingJob } from '../../core/messages';
import { Panel } from '../../ui/panel';
import { CAPABILITIES, FakeMain, fakeProxy, frame, openPanel, settle } from './helpers';

afterEach(cleanup);

const leave = (element: HTMLElement) => {
  fireEvent.blur(element);
  fireEvent.focusOut(element);
};

async function openWithOrigins(allowedOrigins: readonly string[]) {
  const main = new FakeMain();
  render(
    <Panel bridge={main} defaultProxyUrl="http://localhost:8787" fetch={fakeProxy()} allowedOrigins={allowedOrigins} />,
  );
  main.emit('STORAGE_LOADED', { settings: DEFAULT_SETTINGS, tray: [], pendingJobs: [], relaunch: null });
  main.emit('SELECTION_CHANGED', { targets: [], unusable: [], selectionCount: 0 });
  await settle();
  fireEvent.click(screen.getByText('Settings'));
  return main;
}

describe('Settings', () => {
  it('refuses a proxy URL the built manifest does not allow, naming the allowed origins and how to build for it', async () => {
    const main = await openWithOrigins(['http://localhost:8787']);
    const before = main.sentNamed('SAVE_STORAGE').length;
    const url = screen.getByLabelText('Proxy URL');
    fireEvent.input(url, { target: { value: 'https://framefill.example.com' } });
    leave(url);
    const alert = screen.getByRole('alert').textContent ?? '';
    expect(alert).toContain('may only reach http://localhost:8787');
    expect(alert).toContain('FRAMEFILL_PROXY_ORIGIN=https://framefill.example.com npm run build');
    expect(main.sentNamed('SAVE_STORAGE')).toHaveLength(before);
  });

  it('saves a proxy URL the manifest allows', async () => {
    const main = await openWithOrigins(['https://framefill.example.com', 'http://localhost:8787']);
    const url = screen.getByLabelText('Proxy URL');
    fireEvent.input(url, { target: { value: 'https://framefill.example.com/' } });
    leave(url);
    expect(main.sentNamed('SAVE_STORAGE').at(-1)?.settings?.proxyUrl).toBe('https://framefill.example.com');
  });

  it('refuses a reference size of 8192 with the allowed range, the same one the export message takes', async () => {
    const main = await openWithOrigins(['http://localhost:8787']);
    const before = main.sentNamed('SAVE_STORAGE').length;
    const edge = screen.getByLabelText('Reference max edge (px)');
    fireEvent.input(edge, { target: { value: '8192' } });
    leave(edge);
    expect(screen.getByRole('alert').textContent).toContain('from 256 to 4096');
    expect(main.sentNamed('SAVE_STORAGE')).toHaveLength(before);
  });
});

describe('an export the main thread could not carry out', () => {
  it('is said in a sentence, nothing is sent to the proxy, and Generate is usable again', async () => {
    const requests: string[] = [];
    const proxy = fakeProxy();
    const { main } = await openPanel({
      targets: [frame('Hero', 1920, 1080)],
      tray: [{ nodeId: '1:5', name: 'Mood' }],
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        requests.push(`${init?.method ?? 'GET'} ${String(input)}`);
        return proxy(input, init);
      }) as typeof fetch,
    });
    fireEvent.input(screen.getByLabelText('Prompt'), { target: { value: 'A quiet harbour' } });
    await settle();
    fireEvent.click(screen.getByRole('button', { name: /^Generate/ }));
    await settle();
    const asked = main.sentNamed('EXPORT_REFERENCES').find((r) => r.maxEdge === DEFAULT_SETTINGS.referenceMaxEdge);
    expect(asked).toBeDefined();
    main.emit('REFERENCES_EXPORTED', {
      requestId: asked!.requestId,
      nodeIds: [],
      missing: [],
      error: 'Figma could not export the references (the document is not available). Try Generate again.',
    });
    await settle();
    expect(screen.getByRole('alert').textContent).toContain('could not export the references');
    expect(requests.filter((r) => r.startsWith('POST'))).toEqual([]);
    expect(screen.queryByText('Exporting the references…')).toBeNull();
    expect((screen.getByRole('button', { name: /^Generate/ }) as HTMLButtonElement).disabled).toBe(false);
  });
});

const PNG_HEADER = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A proxy whose job `jobId` has completed at 1280×720. */
function completedJobProxy(jobId: string): typeof fetch {
  return (async (input: RequestInfo | URL) => {
    const url = String(input);
    if (url.endsWith('/events')) {
      const completed = { id: jobId, width: 1280, height: 720, mime: 'image/png', bytes: 8, url: '/x' };
      return new Response(`event: completed\ndata: ${JSON.stringify(completed)}\n\n`, {
        headers: { 'content-type': 'text/event-stream' },
      });
    }
    if (url.endsWith('/image')) return new Response(PNG_HEADER, { headers: { 'content-type': 'image/png' } });
    if (url.endsWith('/v1/capabilities')) return Response.json(CAPABILITIES);
    return fakeProxy()(input);
  }) as typeof fetch;
}

describe('a placement the message schema would refuse', () => {
  it('fails at once with a sentence and keeps the image to download, instead of waiting forever', async () => {
    const jobId = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const main = new FakeMain();
    render(<Panel bridge={main} defaultProxyUrl="http://localhost:8787" fetch={completedJobProxy(jobId)} />);
    main.emit('STORAGE_LOADED', {
      settings: DEFAULT_SETTINGS,
      tray: [],
      // Written by some other version: a model name longer than the message schema takes.
      pendingJobs: [
        {
          jobId,
          proxyUrl: 'http://localhost:8787',
          targetId: '1:2',
          targetName: 'Hero',
          provenance: {
            prompt: 'Dunes at dawn',
            aspectRatio: '16:9',
            resolution: '1K',
            model: 'm'.repeat(300),
            jobId,
            referenceIds: [],
            costCredits: 6,
            createdAt: '2026-03-01T10:00:00.000Z',
          },
        },
      ],
      relaunch: null,
    });
    for (let i = 0; i < 4; i++) await settle();
    expect(main.sentNamed('PLACE_IMAGE')).toEqual([]);
    expect(screen.getByText('Generated, but could not be placed.')).toBeTruthy();
    expect(screen.getByRole('alert').textContent).toContain('could not be placed (provenance.model');
    expect(screen.getByText('Download')).toBeTruthy();
  });
});

describe('an image from another file', () => {
  it('is offered to place here or download, and placed in a new frame only when asked', async () => {
    const jobId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    const pending: PendingJob = {
      jobId,
      proxyUrl: 'http://localhost:8787',
      targetId: null,
      targetName: 'Hero',
      fromAnotherFile: true,
      provenance: {
        prompt: 'Orchard in bloom',
        aspectRatio: '16:9',
        resolution: '1K',
        model: 'draft',
        jobId,
        referenceIds: [],
        costCredits: 6,
        createdAt: '2026-03-01T10:00:00.000Z',
      },
    };
    const main = new FakeMain();
    render(<Panel bridge={main} defaultProxyUrl="http://localhost:8787" fetch={completedJobProxy(jobId)} />);
    main.emit('STORAGE_LOADED', { settings: DEFAULT_SETTINGS, tray: [], pendingJobs: [pending], relaunch: null });
    main.emit('SELECTION_CHANGED', { targets: [], unusable: [], selectionCount: 0 });
    for (let i = 0; i < 4; i++) await settle();
    expect(screen.getByText('From another file: place it here or download it.')).toBeTruthy();
    expect(main.sentNamed('PLACE_IMAGE')).toEqual([]);
    expect(screen.getByText('Download')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Place here' }));
    const placed = main.sentNamed('PLACE_IMAGE');
    expect(placed).toHaveLength(1);
    expect(placed[0]).toMatchObject({ targetId: null, width: 1280, height: 720 });
  });
});
