// The panel's side of the typed message channel to the plugin main thread (DESIGN.md §9).
// Deliberately not @create-figma-plugin/utilities' `on`/`emit`: that module takes over window.onmessage
// and throws on a message it has no handler for; here an unknown or invalid message is only logged.
import {
  MainToPanel,
  type MainToPanelName,
  type MainToPanelPayload,
  PanelToMain,
  type PanelToMainName,
  type PanelToMainPayload,
  parseMessage,
} from '../core/messages';

export type Send = <N extends PanelToMainName>(name: N, payload: PanelToMainPayload<N>) => void;
export type Handlers = { [N in MainToPanelName]?: (payload: MainToPanelPayload<N>) => void };

export interface Bridge {
  send: Send;
  /** Subscribes to every main → panel message; returns the unsubscribe function. */
  listen: (handlers: Handlers) => () => void;
}

/** Figma wraps a plugin message as `{pluginMessage}` on both sides: https://developers.figma.com/docs/plugins/creating-ui/ */
export function createBridge(target: Window = window): Bridge {
  return {
    send(name, payload) {
      const checked = PanelToMain[name].safeParse(payload);
      if (!checked.success) {
        console.warn(`framefill: not sending invalid ${name}`, checked.error.issues[0]?.message);
        return;
      }
      // The main thread validates too; '*' because the Figma host's origin is not ours to know.
      target.parent.postMessage({ pluginMessage: [name, payload] }, '*');
    },
    listen(handlers) {
      const onMessage = (event: MessageEvent) => {
        const data: unknown = event.data;
        if (typeof data !== 'object' || data === null || !('pluginMessage' in data)) return;
        const parsed = parseMessage(MainToPanel, (data as { pluginMessage: unknown }).pluginMessage);
        if (!parsed.ok) {
          console.warn(`framefill: ignored message (${parsed.reason})`);
          return;
        }
        const { name, payload } = parsed.message;
        const handler = handlers[name] as ((p: typeof payload) => void) | undefined;
        try {
          handler?.(payload);
        } catch (error) {
          console.warn(`framefill: handler for ${name} failed`, error);
        }
      };
      target.addEventListener('message', onMessage);
      return () => target.removeEventListener('message', onMessage);
    },
  };
}
