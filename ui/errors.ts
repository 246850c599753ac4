// Every error the panel can meet, as one sentence that ends with what to do next (DESIGN.md §6).
import { ERROR_ADVICE, type ErrorCode } from '../core/api';
import type { ClientErrorCode } from './proxy-client';

export interface ShownError {
  code: ClientErrorCode;
  message: string;
  retry_after?: number | undefined;
}

export function unreachableSentence(proxyUrl: string): string {
  return (
    `Cannot reach the Framefill proxy at ${proxyUrl}. Start it with \`npm start\` in the Framefill folder ` +
    '(or check the proxy URL in Settings), then try again. In Figma for Chrome, also allow ' +
    '"local network access" for figma.com when the browser asks (or in the site settings); the desktop app needs nothing.'
  );
}

/** The sentence the panel shows: the server's specific message where it adds something, then the advice. */
export function errorSentence(error: ShownError, proxyUrl: string): string {
  switch (error.code) {
    case 'proxy_unreachable':
      return unreachableSentence(proxyUrl);
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
      return `${ERROR_ADVICE.unauthorized} (Settings → Token, at the bottom of this panel.)`;
    default: {
      const advice = ERROR_ADVICE[error.code as ErrorCode];
      const message = error.message.trim();
      if (!message || message === advice) return advice;
      return `${withStop(message)} ${advice}`;
    }
  }
}

function withStop(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function formatWait(seconds: number): string {
  if (seconds < 90) return `${Math.ceil(seconds)} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
