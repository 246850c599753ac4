// Typed messages between the main thread and the panel over figma.ui (DESIGN.md §9). Every incoming
// message is validated with zod; invalid or unknown ones are counted, logged and ignored, never thrown.
// (create-figma-plugin's `on`/`emit` would take over figma.ui.onmessage and throw for a message with no
// handler, so this small bridge speaks the same `[NAME, payload]` wire format instead.)
import {
  type MainToPanelName,
  type MainToPanelPayload,
  PanelToMain,
  type PanelToMainName,
  type PanelToMainPayload,
  parseMessage,
} from '../core/messages';

export type PanelHandlers = {
  [N in PanelToMainName]?: (payload: PanelToMainPayload<N>) => void | Promise<void>;
};

/** A refused request the panel is waiting on: its name, its request id and why it was refused. */
export interface Refused {
  name: PanelToMainName;
  requestId: string;
  reason: string;
}

/** The request id of a refused `[NAME, {requestId}]`, so the waiting panel can be answered. */
function refusedRequest(raw: unknown, reason: string): Refused | undefined {
  if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== 'string') return undefined;
  const [name, payload] = raw as [string, unknown];
  if (!Object.keys(PanelToMain).includes(name) || !payload || typeof payload !== 'object') return undefined;
  const requestId = (payload as { requestId?: unknown }).requestId;
  if (typeof requestId !== 'string' || requestId.length < 1 || requestId.length > 100) return undefined;
  return { name: name as PanelToMainName, requestId, reason };
}

export function describeError(error: unknown): string {
  // Errors thrown by the host API may come from another realm, so `instanceof Error` is not reliable.
  if (error && typeof error === 'object' && 'message' in error) return String((error as { message: unknown }).message);
  return String(error);
}

/** Posts `[NAME, payload]` to the panel: https://developers.figma.com/docs/plugins/api/properties/figma-ui-postmessage */
export function send<N extends MainToPanelName>(name: N, payload: MainToPanelPayload<N>): void {
  figma.ui.postMessage([name, payload]);
}

export interface Listening {
  /** How many panel messages were ignored as invalid or unknown. */
  ignored(): number;
}

/**
 * Receives what the panel posts as `parent.postMessage({pluginMessage: [NAME, payload]}, '*')`; Figma passes
 * the pluginMessage to `figma.ui.onmessage`: https://developers.figma.com/docs/plugins/creating-ui
 */
export function listen(handlers: PanelHandlers, onRefused?: (refused: Refused) => void): Listening {
  let ignored = 0;
  figma.ui.onmessage = (raw: unknown) => {
    const parsed = parseMessage(PanelToMain, raw);
    if (!parsed.ok) {
      ignored++;
      console.warn(`Framefill: ignored a panel message (${parsed.reason}).`);
      // A refused request would leave the panel waiting forever: answer it with the reason.
      const refused = refusedRequest(raw, parsed.reason);
      if (refused && onRefused) {
        try {
          onRefused(refused);
        } catch (error) {
          console.warn(`Framefill: could not answer a refused ${refused.name}: ${describeError(error)}`);
        }
      }
      return;
    }
    const { name, payload } = parsed.message;
    const handler = handlers[name] as ((p: typeof payload) => void | Promise<void>) | undefined;
    if (!handler) return;
    try {
      const result = handler(payload);
      if (result) result.then(undefined, (error) => console.warn(`Framefill: ${name} failed: ${describeError(error)}`));
    } catch (error) {
      console.warn(`Framefill: ${name} failed: ${describeError(error)}`);
    }
  };
  return { ignored: () => ignored };
}
