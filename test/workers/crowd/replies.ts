import { errorKind, type SyncError } from '../../../shared/errors.js';
import type { RawReply } from '../../../workers/crowd/errors.js';

/** A raw Crowd reply as the client hands it to the error mapping: JSON parsed when it is JSON and parses. */
export function reply(status: number, text: string, contentType = 'application/json', headers: RawReply['headers'] = {}): RawReply {
  let json: unknown;
  try {
    json = contentType.includes('json') ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status, text, contentType, headers, json, malformed: false };
}

// Everything a runtime decision or an operator depends on, in one comparable shape.
export const view = (err: SyncError) => ({
  kind: errorKind(err),
  message: err.message,
  status: err.status,
  code: err.code,
  retryAfterMs: (err as { retryAfterMs?: number }).retryAfterMs,
  nextRetryDelayMs: (err as { nextRetryDelayMs?: number }).nextRetryDelayMs,
});
export const expected = (kind: string, message: string, more: Partial<ReturnType<typeof view>> = {}) => ({
  kind,
  message,
  status: undefined,
  code: undefined,
  retryAfterMs: undefined,
  nextRetryDelayMs: undefined,
  ...more,
});
