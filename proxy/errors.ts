// The one error type of the proxy: it carries a §6 code, and `app.onError` renders it.
import { ERROR_ADVICE, ERROR_STATUS, type ErrorCode } from '../core/api';

export class FramefillError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** Seconds, passed on as `Retry-After` for `rate_limited`. */
  readonly retryAfter: number | undefined;
  /** The upstream's id of the failed call (OpenAI's x-request-id), kept on the job and logged. */
  readonly upstreamRequestId: string | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options: { field?: string; retryAfter?: number; cause?: unknown; upstreamRequestId?: string } = {},
  ) {
    super(message ?? ERROR_ADVICE[code], { cause: options.cause });
    this.name = 'FramefillError';
    this.code = code;
    this.field = options.field;
    this.retryAfter = options.retryAfter;
    this.upstreamRequestId = options.upstreamRequestId;
  }

  get status(): (typeof ERROR_STATUS)[ErrorCode] {
    return ERROR_STATUS[this.code];
  }

  toBody(): { error: { code: ErrorCode; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}
