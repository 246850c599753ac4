// Every error the panel can meet, as one sentence that ends with what to do next (DESIGN.md §6).
import { ERROR_ADVICE, type ErrorCode } from '../core/api';
import { PLACE_FAILURE_CODES, type PlaceFailureCode } from '../core/messages';
import type { ClientErrorCode } from './proxy-client';
import { isLocalProxy } from './proxy-url';

export interface ShownError {
  /** The proxy's or the client's code, or why Figma refused a placement (main's message is the whole sentence). */
  code: ClientErrorCode | PlaceFailureCode;
  message: string;
  retry_after?: number | undefined;
}

/** One sentence, with the URL that was actually used: the fix is usually starting the proxy or fixing the URL. */
export function unreachableSentence(proxyUrl: string): string {
  return (
    `Cannot reach the Framefill proxy at ${proxyUrl}: start it with \`npm start\` or check the URL in Settings ` +
    '(Figma in Chrome also asks you to allow "local network access" for figma.com).'
  );
}

/** Said exactly so on a 401 from a proxy on this machine: local mode needs the token `npm start` printed. */
export const LOCAL_TOKEN_ADVICE = 'paste the token that `npm start` printed into Settings ▸ Token.';

/** The sentence the panel shows: the server's specific message where it adds something, then the advice. */
export function errorSentence(error: ShownError, proxyUrl: string): string {
  // Figma refused the layer, not the proxy: main says what happened and what to do, and the proxy's advice would
  // send the designer to its logs.
  if (isPlaceFailure(error.code)) return withStop(error.message.trim());
  switch (error.code) {
    case 'proxy_unreachable':
      return unreachableSentence(proxyUrl);
    case 'interrupted':
      // The proxy's own message says the same; one sentence, said once.
      return ERROR_ADVICE.interrupted;
    case 'bad_response':
      return `${error.message} Update the plugin and the proxy to the same version, then try again.`;
    case 'content_policy':
      return `OpenAI refused this request: "${error.message}" Rephrase the prompt or change the references.`;
    case 'rate_limited': {
      const when =
        error.retry_after !== undefined && error.retry_after > 0
          ? `Try again in ${formatWait(error.retry_after)}.`
          : 'Wait a moment and try again.';
      return `Too many requests right now. ${when}`;
    }
    case 'unauthorized':
      return isLocalProxy(proxyUrl)
        ? `The local proxy at ${proxyUrl} needs its token: ${LOCAL_TOKEN_ADVICE}`
        : `The proxy at ${proxyUrl} refused the token: paste the one your admin gave you into Settings ▸ Token.`;
    default: {
      const advice = ERROR_ADVICE[error.code as ErrorCode];
      const message = error.message.trim();
      if (!message || message === advice) return advice;
      return `${withStop(message)} ${advice}`;
    }
  }
}

function isPlaceFailure(code: ShownError['code']): code is PlaceFailureCode {
  return (PLACE_FAILURE_CODES as readonly string[]).includes(code);
}

function withStop(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function formatWait(seconds: number): string {
  if (seconds < 90) return `${Math.ceil(seconds)} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
