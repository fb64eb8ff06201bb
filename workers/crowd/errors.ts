import {
  ConfigurationError,
  PermanentError,
  ThrottledError,
  TransientError,
  type SyncError,
} from '../../shared/errors.js';
import { TLS_CODES, bodyDetail, lostReplyNote, malformedReply, noReplyError, summarizeBody, transportCode, type Remote } from '../runtime/http-failures.js';

/**
 * Crowd replies → the one error taxonomy (shared/errors.ts). Crowd speaks three dialects
 * when it fails (reference §3): a JSON ErrorEntity `{reason, message}`, text/plain (401,
 * malformed JSON) and HTML from Tomcat, a proxy or a WAF. Messages name the call and the
 * user, never a body we sent (it may hold a password) nor the Authorization header.
 */

/** What a message says about the call, e.g. `PUT /user alice`. */
export interface CrowdCall {
  method: string;
  resource: string;
  /** Username, group name or key the call is about. */
  subject?: string | undefined;
}

export const describeCall = (call: CrowdCall): string =>
  `${call.method} /${call.resource}${call.subject === undefined ? '' : ` ${call.subject}`}`;

export interface CrowdErrorEntity {
  reason: string;
  message: string;
}

/** A reply as the client read it; `json` is undefined when the body was not JSON. */
export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  contentType: string;
  json: unknown;
  /** The body claimed to be JSON (or was expected to be) but did not parse. */
  malformed: boolean;
  /** The format asked for, when not JSON (the event feed is read as XML). */
  expected?: string;
}

export function errorEntity(json: unknown): CrowdErrorEntity | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const { reason, message } = json as Record<string, unknown>;
  if (typeof reason !== 'string') return undefined;
  return { reason, message: typeof message === 'string' ? message : '' };
}

/** Retry-After (seconds or an HTTP date), else X-RateLimit-Interval-Seconds, else the default. */
export function retryAfterMs(headers: RawReply['headers'], fallbackMs = 1000): number {
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const retryAfter = header('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter) * 1000);
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at)) return Math.max(0, at - Date.now());
  }
  const interval = Number(header('x-ratelimit-interval-seconds'));
  if (Number.isFinite(interval) && interval > 0) return Math.ceil(interval * 1000);
  return fallbackMs;
}

// Per-user refusals that a configuration fix would not change; the default for a 403
// ErrorEntity is still permanent (see below), these only get a better hint.
const EMAIL_CHANGE_BLOCKED = /not allowed to change user emails/i;

/** Crowd's refusal to let an application change a user's e-mail (reference §4.3). */
export function isEmailChangeRefusal(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  return e?.name === 'PermanentError' && e.code === 'APPLICATION_PERMISSION_DENIED' && EMAIL_CHANGE_BLOCKED.test(String(e.message));
}

/** The error for a reply the caller did not accept. */
export function errorFromReply(call: CrowdCall, reply: RawReply, context: { applicationName: string; baseUrl: string }): SyncError {
  const what = describeCall(call);
  const { status } = reply;
  const entity = reply.malformed ? undefined : errorEntity(reply.json);
  const detail = entity ? `${entity.reason} — ${entity.message}` : bodyDetail(reply);
  const opts = { status, ...(entity && { code: entity.reason }) };

  if (status === 429 || (status === 503 && reply.headers['retry-after'] !== undefined)) {
    return new ThrottledError(`Crowd throttled ${what} (${status})`, { ...opts, retryAfterMs: retryAfterMs(reply.headers) });
  }
  if (status === 401) {
    return new ConfigurationError(
      `Crowd rejected the application credentials of "${context.applicationName}" on ${what} (401 ${summarizeBody(reply.text)}); check CROWD_APP_NAME and CROWD_APP_PASSWORD (an application, not a user login)`,
      opts,
    );
  }
  if (status === 403 && !entity) {
    return new ConfigurationError(
      `Crowd, or a proxy or firewall in front of it, refused ${what} with a ${detail}; check the application's remote addresses in Crowd and any firewall between idsync and Crowd`,
      opts,
    );
  }
  if (status === 403 && entity && EMAIL_CHANGE_BLOCKED.test(entity.message)) {
    return new PermanentError(
      `Crowd refused ${what}: ${detail} (Crowd blocks e-mail changes by applications unless the server runs with -Dcrowd.email.change.by.external.apps=true)`,
      opts,
    );
  }
  if (status >= 300 && status < 400) {
    const location = reply.headers['location'];
    return new ConfigurationError(`Crowd redirected ${what} (${status}) to ${String(location ?? 'nowhere')}; CROWD_URL should point straight at Crowd (is an SSO proxy in front of it?)`, opts);
  }
  if (status === 404 && !entity) {
    return new ConfigurationError(`No Crowd REST resource answered ${what} at ${context.baseUrl} (${detail}); check CROWD_URL (it includes the context path, e.g. https://crowd.example.com/crowd/)`, opts);
  }
  if (status >= 500) {
    const hint = reply.headers['retry-after'] !== undefined ? { nextRetryDelayMs: retryAfterMs(reply.headers) } : {};
    return new TransientError(`Crowd failed ${what}: ${detail}`, { ...opts, ...hint });
  }
  // Every other 4xx (and 403 ErrorEntities such as APPLICATION_PERMISSION_DENIED): retrying
  // the same request cannot help. Quarantining would not either: the probe would pass and
  // the job would fail again, so it goes to the failed set with Crowd's own words.
  return new PermanentError(`Crowd refused ${what}: ${detail}`, opts);
}

const CROWD: Remote = {
  name: 'Crowd',
  product: 'Crowd',
  urlSetting: 'CROWD_URL',
  htmlHint: 'is an SSO or login proxy in front of it? CROWD_URL should point straight at Crowd',
  // A CROWD_URL that does not parse is as much a configuration error as an untrusted certificate.
  configCodes: new Set([...TLS_CODES, 'ERR_INVALID_URL']),
};

/**
 * A 2xx whose body is not the JSON Crowd promised: an SSO login page quarantines, a cut-off
 * or oddly shaped reply is retried (see malformedReply).
 */
export function malformedSuccess(call: CrowdCall, reply: RawReply, problem?: string): SyncError {
  return malformedReply(CROWD, describeCall(call), reply, problem);
}

/** A request that got no reply: timeout, reset, refused, TLS failure, abort. */
export function errorFromTransport(call: CrowdCall, err: unknown, context: { timeoutMs: number; baseUrl: string; aborted: boolean }): SyncError {
  const what = describeCall(call);
  const code = transportCode(err);
  const name = String((err as { name?: unknown })?.name ?? '');
  if (context.aborted) return new TransientError(`${what} to Crowd was aborted (shutdown)`, { code: 'ABORTED', cause: err });
  const common = noReplyError(CROWD, what, code, { ...context, timedOut: name === 'TimeoutError' });
  if (common) return common;
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') {
    return new TransientError(`The connection to Crowd was reset during ${what}${lostReplyNote(what)}`, { code });
  }
  // got's messages carry no credentials (they travel in a header), but keep them short.
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new TransientError(`Request ${what} to Crowd failed: ${code || name || 'error'} ${message}`.trim(), { ...(code && { code }) });
}
