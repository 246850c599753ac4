// Test doubles for the panel: a bridge that plays the main thread in memory, and a proxy answered by a
// fetch function, so component tests drive the panel through the same messages Figma would send.
import { render, screen, within } from '@testing-library/preact';
import { act } from 'preact/test-utils';
import type { Account, Capabilities } from '../../core/api';
import {
  DEFAULT_SETTINGS,
  type MainToPanelName,
  type MainToPanelPayload,
  type PanelToMainName,
  type PanelToMainPayload,
  type Settings,
  type Target,
  type TrayItem,
} from '../../core/messages';
import type { Bridge, Handlers } from '../../ui/bridge';
import { Panel } from '../../ui/panel';
import { CAPABILITIES } from './fixtures';

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

export { CAPABILITIES, frame, trayOf } from './fixtures';

export interface FakeProxyOptions {
  account?: Partial<Account>;
  capabilities?: Partial<Capabilities>;
  /** Answers any other route; `undefined` falls through to a 404. */
  route?: (url: string, init: RequestInit | undefined) => Response | Promise<Response> | undefined;
  /** The status of /v1/account (401 to play a proxy that wants a token). */
  accountStatus?: number;
}

export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });
}

export function fakeProxy(options: FakeProxyOptions = {}): typeof fetch {
  const body: Account = {
    name: 'local',
    balance_credits: 1000,
    spent_credits: 0,
    jobs_in_flight: 0,
    ...options.account,
  };
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    if (url.endsWith('/v1/capabilities')) return json({ ...CAPABILITIES, ...options.capabilities });
    if (url.endsWith('/v1/account')) {
      if (options.accountStatus === 401) {
        return json({ error: { code: 'unauthorized', message: 'Missing or unknown token.' } }, 401);
      }
      return json(body);
    }
    const answer = await options.route?.(url, init);
    if (answer) return answer;
    return json({ error: { code: 'not_found', message: 'No such route.' } }, 404);
  }) as typeof fetch;
}

/** Renders the panel and plays main's answer to PANEL_READY. */
export async function openPanel(
  options: {
    targets?: Target[];
    tray?: TrayItem[];
    selectionCount?: number;
    fetch?: typeof fetch;
    settings?: Partial<Settings>;
    relaunch?: MainToPanelPayload<'STORAGE_LOADED'>['relaunch'];
  } = {},
) {
  const main = new FakeMain();
  const view = render(
    <Panel bridge={main} defaultProxyUrl="http://localhost:8787" fetch={options.fetch ?? fakeProxy()} />,
  );
  main.emit('STORAGE_LOADED', {
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
    tray: options.tray ?? [],
    pendingJobs: [],
    relaunch: options.relaunch ?? null,
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

/** History's entries as listed now. */
export const historyEntries = () => within(screen.getByRole('list', { name: 'Past jobs' })).queryAllByRole('listitem');
