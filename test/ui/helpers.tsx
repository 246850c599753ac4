// Test doubles for the panel: a bridge that plays the main thread in memory, and a proxy answered by a
// fetch function, so component tests drive the panel through the same messages Figma would send.
import { render } from '@testing-library/preact';
import { act } from 'preact/test-utils';
import type { Account, Capabilities } from '../../core/api';
import { ASPECT_RATIOS, SIZES, TIERS } from '../../core/formats';
import {
  DEFAULT_SETTINGS,
  type MainToPanelName,
  type MainToPanelPayload,
  type PanelToMainName,
  type PanelToMainPayload,
  type Target,
  type TrayItem,
} from '../../core/messages';
import { DEFAULT_PRICES } from '../../core/pricing';
import type { Bridge, Handlers } from '../../ui/bridge';
import { Panel } from '../../ui/panel';

export interface Sent {
  name: PanelToMainName;
  payload: unknown;
}

export class FakeMain implements Bridge {
  readonly sent: Sent[] = [];
  private handlers: Handlers[] = [];

  send = <N extends PanelToMainName>(name: N, payload: PanelToMainPayload<N>) => {
    this.sent.push({ name, payload });
  };

  listen = (handlers: Handlers) => {
    this.handlers.push(handlers);
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handlers);
    };
  };

  emit<N extends MainToPanelName>(name: N, payload: MainToPanelPayload<N>): void {
    act(() => {
      for (const handlers of this.handlers) (handlers[name] as ((p: typeof payload) => void) | undefined)?.(payload);
    });
  }

  sentNamed<N extends PanelToMainName>(name: N): PanelToMainPayload<N>[] {
    return this.sent.filter((m) => m.name === name).map((m) => m.payload as PanelToMainPayload<N>);
  }
}

export { frame, trayOf } from './fixtures';

export const CAPABILITIES: Capabilities = {
  model: 'draft',
  provider: 'draft',
  ratios: [...ASPECT_RATIOS],
  tiers: [...TIERS],
  sizes: SIZES as Capabilities['sizes'],
  qualities: ['low', 'medium', 'high'],
  prices: DEFAULT_PRICES,
  limits: {
    prompt_max_chars: 20_000,
    max_references: 16,
    reference_max_bytes: 50 * 1024 * 1024,
    reference_max_edge: 8192,
    reference_mime_types: ['image/png', 'image/jpeg', 'image/webp'],
  },
};

export function fakeProxy(account: Partial<Account> = {}): typeof fetch {
  const body: Account = { name: 'local', balance_credits: 1000, spent_credits: 0, jobs_in_flight: 0, ...account };
  return (async (input: RequestInfo | URL) => {
    const url = String(input);
    const json = (value: unknown) =>
      new Response(JSON.stringify(value), { status: 200, headers: { 'content-type': 'application/json' } });
    if (url.endsWith('/v1/capabilities')) return json(CAPABILITIES);
    if (url.endsWith('/v1/account')) return json(body);
    return new Response(JSON.stringify({ error: { code: 'not_found', message: 'No such route.' } }), { status: 404 });
  }) as typeof fetch;
}

/** Renders the panel and plays main's answer to PANEL_READY. */
export async function openPanel(
  options: { targets?: Target[]; tray?: TrayItem[]; selectionCount?: number; fetch?: typeof fetch } = {},
) {
  const main = new FakeMain();
  const view = render(
    <Panel bridge={main} defaultProxyUrl="http://localhost:8787" fetch={options.fetch ?? fakeProxy()} />,
  );
  main.emit('STORAGE_LOADED', {
    settings: DEFAULT_SETTINGS,
    tray: options.tray ?? [],
    pendingJobs: [],
    relaunch: null,
  });
  const targets = options.targets ?? [];
  main.emit('SELECTION_CHANGED', {
    targets,
    unusable: [],
    selectionCount: options.selectionCount ?? targets.length,
  });
  await settle();
  return { main, view };
}

/** Lets pending fetches and effects finish. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await act(async () => {
      await new Promise((resolve) => setTimeout(resolve, 0));
    });
  }
}
