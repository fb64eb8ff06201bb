import {
  ConfigurationError,
  PermanentError,
  ThrottledError,
  TransientError,
  type SyncError,
} from '../../shared/errors.js';
import { bodyDetail, lostReplyNote, malformedReply, noReplyError, transportCode, type Remote } from '../runtime/http-failures.js';
import { PASSWORD_PERMISSION, PASSWORD_ROLE, holds } from './permissions.js';

/**
 * Graph replies → the one error taxonomy (shared/errors.ts), per reference §8: classify on
 * the HTTP status, `error.code` and `details[].code`; messages are only for people. A
 * message names the call and the user, never a body we sent (it may hold a password), a
 * token or the client secret.
 */

/** What a message says about a call, e.g. `PATCH /users/{id} alice@contoso.com`. */
export interface GraphCall {
  method: string;
  /** Version-relative path without the query, e.g. `/users/0b1…`. */
  path: string;
  /** The user, group or value the call is about. */
  subject?: string | undefined;
  /** The application permission the call needs, named when Graph answers 403. */
  permission?: string | undefined;
}

export const describeCall = (call: GraphCall): string =>
  `${call.method} ${call.path}${call.subject === undefined ? '' : ` ${call.subject}`}`;

/** A reply as the client read it (a top-level response or one `$batch` item). */
export interface RawReply {
  status: number;
  /** Header names as received; batch items keep Graph's exact casing. */
  headers: Record<string, string>;
  text: string;
  contentType: string;
  json: unknown;
  /** The body claimed to be JSON but did not parse. */
  malformed: boolean;
}

export interface GraphErrorBody {
  code: string;
  message: string;
  details: { code: string; target?: string }[];
}

/** `{"error":{code,message,details?}}`, or undefined when the body is not Graph's envelope. */
export function graphErrorBody(json: unknown): GraphErrorBody | undefined {
  const error = (json as { error?: unknown } | null)?.error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message, details } = error as Record<string, unknown>;
  if (typeof code !== 'string') return undefined;
  const list = Array.isArray(details) ? details.filter((d): d is { code: string; target?: string } => typeof d?.code === 'string') : [];
  return { code, message: typeof message === 'string' ? message : '', details: list };
}

/** A header by the exact name Graph uses (batch items), falling back to any casing. */
export function header(headers: Record<string, string>, name: string): string | undefined {
  if (headers[name] !== undefined) return headers[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** Retry-After in seconds (Graph sends fractions such as `2.128`) or an HTTP date. */
export function retryAfterMs(headers: Record<string, string>, fallbackMs = 1000): number {
  const value = header(headers, 'Retry-After')?.trim();
  if (value) {
    if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
    const at = Date.parse(value);
    if (Number.isFinite(at)) return Math.max(0, at - Date.now());
  }
  return fallbackMs;
}

/** What the client knows about the token in use, to tell a missing permission from a per-object refusal. */
export interface PermissionView {
  /** The token's `roles` claim, or undefined when it could not be read. */
  roles(): ReadonlySet<string> | undefined;
}

export function detailOf(reply: RawReply): string {
  const body = reply.malformed ? undefined : graphErrorBody(reply.json);
  if (body) {
    const extra = body.details.map((d) => d.code).filter((c) => c !== body.code);
    return `${body.code}${extra.length ? ` (${extra.join(', ')})` : ''} — ${body.message}`;
  }
  return bodyDetail(reply);
}

/** The error for a reply the caller did not accept. */
export function errorFromReply(call: GraphCall, reply: RawReply, permissions?: PermissionView): SyncError {
  const what = describeCall(call);
  const { status } = reply;
  const body = reply.malformed ? undefined : graphErrorBody(reply.json);
  const detail = detailOf(reply);
  const opts = { status, ...(body && { code: body.code }) };
  const retryAfter = header(reply.headers, 'Retry-After');

  if (status === 429 || (status === 503 && retryAfter !== undefined)) {
    return new ThrottledError(`Graph throttled ${what} (${status}${body ? ` ${body.code}` : ''})`, { ...opts, retryAfterMs: retryAfterMs(reply.headers) });
  }
  if (status === 401) {
    return new ConfigurationError(
      `Graph rejected the access token on ${what} (${detail}); check ENTRA_TENANT_ID, ENTRA_CLIENT_ID and that GRAPH_BASE_URL and ENTRA_AUTHORITY_HOST belong to the same cloud`,
      opts,
    );
  }
  if (status === 403) return forbidden(call, detail, opts, permissions);
  if (status >= 300 && status < 400) {
    return new ConfigurationError(`Graph redirected ${what} (${status}) to ${header(reply.headers, 'Location') ?? 'nowhere'}; GRAPH_BASE_URL should point straight at Microsoft Graph`, opts);
  }
  if (status >= 500 || status === 408) {
    const hint = retryAfter !== undefined ? { nextRetryDelayMs: retryAfterMs(reply.headers) } : {};
    return new TransientError(`Graph failed ${what}: ${detail}${lostReplyNote(what)}`, { ...opts, ...hint });
  }
  if (status === 404 && !body) {
    return new ConfigurationError(`No Graph resource answered ${what} (${detail}); check GRAPH_BASE_URL (e.g. https://graph.microsoft.com/)`, opts);
  }
  // Every other 4xx (validation, conflicts, unsupported queries): the same request cannot
  // succeed later, and quarantining would not help either, so the job fails with Graph's words.
  return new PermanentError(`Graph refused ${what}: ${detail}`, opts);
}

function forbidden(call: GraphCall, detail: string, opts: { status: number; code?: string }, permissions?: PermissionView): SyncError {
  const what = describeCall(call);
  const said = detail.replace(/\.\s*$/, '');
  if (call.permission === PASSWORD_PERMISSION) {
    // Not a ConfigurationError on purpose: that would quarantine the whole entra queue, and
    // the probe (which reads, and may not write passwords) would let it flap, blocking every
    // profile update behind one missing role. Only the password job fails, readably.
    return new PermanentError(
      `Graph refused ${what}: ${said}. Setting passwords app-only needs the application permission ${PASSWORD_PERMISSION} (admin-consented) and the ${PASSWORD_ROLE} directory role assigned to the app (Privileged Authentication Administrator for admin users); grant them and replay the failed password job. Other updates of this user are not affected.`,
      opts,
    );
  }
  const needed = call.permission;
  const roles = permissions?.roles();
  if (needed && roles && holds(roles, needed)) {
    // The app holds the permission, so Graph refuses this object, not the app: privileged
    // users and role-assignable groups need a higher directory role. Retrying cannot help.
    return new PermanentError(
      `Graph refused ${what} although the app holds ${needed}: ${said}. The object likely needs a higher directory role (an administrator user, a role-assignable group)`,
      opts,
    );
  }
  const hint = needed ? `grant the application permission ${needed} (admin consent) to ENTRA_CLIENT_ID` : 'check the application permissions of ENTRA_CLIENT_ID';
  return new ConfigurationError(`Graph refused ${what}: ${said}; ${hint}`, opts);
}

const GRAPH: Remote = {
  name: 'Graph',
  product: 'Microsoft Graph',
  urlSetting: 'GRAPH_BASE_URL',
  htmlHint: 'is a proxy or captive portal in front of it? GRAPH_BASE_URL should point straight at Microsoft Graph',
};

/**
 * A 2xx whose body is not the JSON Graph promised: a proxy's login page quarantines, a
 * cut-off or oddly shaped reply is retried (see malformedReply).
 */
export function malformedSuccess(call: GraphCall, reply: RawReply, problem?: string): SyncError {
  return malformedReply(GRAPH, describeCall(call), reply, problem);
}

/** A request that got no (complete) reply: timeout, reset, refused, TLS failure, abort. */
export function errorFromTransport(call: GraphCall, err: unknown, context: { timeoutMs: number; baseUrl: string; timedOut: boolean; aborted: boolean }): SyncError {
  const what = describeCall(call);
  const code = transportCode(err);
  if (context.aborted) return new TransientError(`${what} to Graph was aborted (shutdown)`, { code: 'ABORTED' });
  const common = noReplyError(GRAPH, what, code, context);
  if (common) return common;
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new TransientError(`The connection to Graph failed during ${what}: ${`${code || 'error'} ${message}`.trim()}${lostReplyNote(what)}`, { ...(code && { code }) });
}
