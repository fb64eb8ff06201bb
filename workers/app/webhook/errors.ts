import {
  ConfigurationError,
  PermanentError,
  ThrottledError,
  TransientError,
  type SyncError,
} from '../../../shared/errors.js';
import { TLS_CODES, isHtml, lostReplyNote, summarizeBody, transportCode } from '../../runtime/http-failures.js';
import { errorBodySchema } from './schemas.js';

/**
 * Webhook replies → the one error taxonomy (shared/errors.ts). Messages name the call, the
 * user id and the webhook's address without credentials or query (either may carry a
 * token), and quote a receiver's own `error` text only after scrubbing anything that looks
 * like a MAC or the secret: a receiver that echoes what it expected must not leak it.
 */

export interface WebhookCall {
  method: 'GET' | 'POST';
  /** `user.apply`, `user.roles`, `user.photo`, `/users` or `/users/{id}`. */
  resource: string;
  /** The application user the call is about. */
  userId?: string | undefined;
}

export const describeCall = (call: WebhookCall): string =>
  `${call.method} ${call.resource}${call.userId === undefined ? '' : ` (user ${call.userId})`}`;

/** A reply as the client read it; `json` is undefined when the body was empty or not JSON. */
export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  contentType: string;
  json: unknown;
  /** The body was not empty but did not parse as JSON. */
  malformed: boolean;
}

export interface ErrorContext {
  /** The webhook's address as messages show it (no credentials, no query). */
  endpoint: string;
  secret: string;
  timeoutMs: number;
}

/** The address without userinfo, query or fragment. */
export function safeEndpoint(url: string | URL): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** Retry-After in seconds or as an HTTP date; `fallbackMs` when absent or unreadable. */
export function retryAfterMs(headers: RawReply['headers'], fallbackMs = 1000): number {
  const raw = headers['retry-after'];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (!value) return fallbackMs;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : fallbackMs;
}

/** The error for a non-2xx reply the caller did not accept. */
export function errorFromReply(call: WebhookCall, reply: RawReply, context: ErrorContext): SyncError {
  const what = describeCall(call);
  const { status } = reply;
  const refusal = receiverError(reply, context.secret);
  const detail = `${status}${refusal.text ? `: ${refusal.text}` : ''}`;
  const opts = { status, ...(refusal.code && { code: refusal.code }) };
  const hasRetryAfter = reply.headers['retry-after'] !== undefined;

  if (status === 429 || (status === 503 && hasRetryAfter)) {
    return new ThrottledError(`The webhook throttled ${what} (${status})`, { ...opts, retryAfterMs: retryAfterMs(reply.headers) });
  }
  if (status === 401) {
    return new ConfigurationError(
      `The webhook at ${context.endpoint} rejected the signature of ${what} (${detail}); check that APP_WEBHOOK_SECRET is the receiver's secret and that both clocks are within 300 s`,
      opts,
    );
  }
  if (status === 403) {
    return new ConfigurationError(
      `The webhook at ${context.endpoint}, or something in front of it, refused ${what} (${detail}); check APP_WEBHOOK_URL and APP_WEBHOOK_SECRET, and any login or firewall in front of the application`,
      opts,
    );
  }
  if (status >= 300 && status < 400) {
    const location = reply.headers['location'];
    const to = typeof location === 'string' && URL.canParse(location, context.endpoint) ? safeEndpoint(new URL(location, context.endpoint)) : 'nowhere';
    return new ConfigurationError(`The webhook redirected ${what} (${status}) to ${to}; APP_WEBHOOK_URL must point straight at the receiver (a redirect would break the signature)`, opts);
  }
  if (status === 404 && call.userId !== undefined && reply.json !== undefined) {
    return new PermanentError(`The webhook has no user ${call.userId} for ${what} (${detail})`, { ...opts, code: refusal.code ?? 'USER_NOT_FOUND' });
  }
  if (status === 404 || status === 405) {
    // A receiver answers "no such user" with a JSON 404; anything else means nothing at this address speaks the protocol.
    return new ConfigurationError(`No webhook answered ${what} at ${context.endpoint} (${detail}); check APP_WEBHOOK_URL`, opts);
  }
  if (status === 408 || status === 425 || status >= 500) {
    const hint = hasRetryAfter ? { nextRetryDelayMs: retryAfterMs(reply.headers) } : {};
    return new TransientError(`The webhook failed ${what} (${detail})`, { ...opts, ...hint });
  }
  // 400, 409, 422 and any other 4xx: the receiver refuses this change; sending it again cannot help.
  return new PermanentError(`The webhook refused ${what} (${detail})`, opts);
}

/** A 2xx whose body is not what the protocol promises: transient, a deploy may be half done. */
export function malformedSuccess(call: WebhookCall, reply: RawReply, problem?: string): TransientError {
  // JSON that parsed is judged by its shape whatever its content type (PHP says text/html).
  const kind = reply.json !== undefined
    ? problem ?? `an unexpected ${reply.contentType || 'untyped'} body`
    : reply.text.trim() === ''
      ? 'an empty body'
      : isHtml(reply)
        ? `an HTML page ("${summarizeBody(reply.text, 80)}") instead of JSON; is a login page or proxy in front of the webhook?`
        : reply.malformed
          ? `JSON that does not parse (${Buffer.byteLength(reply.text)} bytes, cut off?)`
          : problem ?? `an unexpected ${reply.contentType || 'untyped'} body`;
  return new TransientError(`The webhook answered ${describeCall(call)} with ${reply.status} but ${kind}`, { status: reply.status, code: 'MALFORMED_RESPONSE' });
}

/** A request that got no reply: timeout, reset, refused, TLS failure, abort. */
export function errorFromTransport(call: WebhookCall, err: unknown, context: ErrorContext & { aborted: boolean }): SyncError {
  const what = describeCall(call);
  const code = transportCode(err);
  const name = String((err as { name?: unknown })?.name ?? '');
  // No `cause`: got's error carries the request options, signature header included.
  if (context.aborted) return new TransientError(`${what} to the webhook was aborted (shutdown)`, { code: 'ABORTED' });
  if (name === 'TimeoutError' || code === 'ETIMEDOUT') {
    return new TransientError(`The webhook did not answer ${what} within ${context.timeoutMs} ms${lostReplyNote(what)}`, { code: 'ETIMEDOUT' });
  }
  if (TLS_CODES.has(code) || code === 'ERR_INVALID_URL') {
    return new ConfigurationError(`Cannot reach the webhook at ${context.endpoint} for ${what}: ${code}; check APP_WEBHOOK_URL and the TLS trust store (NODE_EXTRA_CA_CERTS)`, { code });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') {
    return new TransientError(`The connection to the webhook was reset during ${what}${lostReplyNote(what)}`, { code });
  }
  if (code) return new TransientError(`Cannot reach the webhook at ${context.endpoint} for ${what}: ${code}`, { code });
  return new TransientError(`Request ${what} to the webhook failed: ${name || 'error'}`, {});
}

const MAX_QUOTE = 200;

/** The receiver's `error` / `code` (JSON) or a summary of its page, scrubbed and cut short. */
function receiverError(reply: RawReply, secret: string): { text: string; code: string | undefined } {
  const parsed = errorBodySchema.safeParse(reply.json);
  const own = parsed.success ? parsed.data : undefined;
  const raw = own?.error ?? (reply.json === undefined && reply.text.trim() !== '' ? summarizeBody(reply.text, MAX_QUOTE) : '');
  return { text: scrub(raw, secret), code: own?.code === undefined ? undefined : scrub(own.code, secret).slice(0, 64) };
}

function scrub(text: string, secret: string): string {
  let out = text.replace(/\s+/g, ' ').trim();
  if (secret) out = out.split(secret).join('[secret]');
  out = out.replace(/[0-9a-f]{32,}/gi, '[hex]');
  return out.length > MAX_QUOTE ? `${out.slice(0, MAX_QUOTE - 1)}…` : out;
}
