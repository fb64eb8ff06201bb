import { ConfigurationError, TransientError, type SyncError } from '../../shared/errors.js';

/**
 * What every HTTP connector says when the remote answers with something other than its
 * API (a login page, a cut-off body) or does not answer at all. None of this depends on
 * the remote's own error format, which stays in each connector's errors.ts; messages
 * differ only in the remote's name, its URL setting and one hint.
 */

export interface Remote {
  /** The remote as messages name it: 'Crowd', 'Graph'. */
  name: string;
  /** The product behind it, as a proxy's reply is contrasted with it: 'Crowd', 'Microsoft Graph'. */
  product: string;
  /** The setting that points idsync at it, named when the address or its TLS is wrong. */
  urlSetting: string;
  /** What to check when a 2xx carries an HTML page, e.g. `CROWD_URL should point straight at Crowd`. */
  htmlHint: string;
  /** Transport codes that mean the address or its TLS trust is wrong. @defaultValue TLS_CODES */
  configCodes?: ReadonlySet<string>;
}

/** The parts of a reply read here; each connector's RawReply has them. */
export interface ReplyBody {
  status: number;
  text: string;
  contentType: string;
  /** The body claimed to be JSON but did not parse. */
  malformed: boolean;
  /** The format the call asked for, as a message names it. @defaultValue 'JSON' */
  expected?: string;
}

/** A short, single-line summary of a non-JSON body: the HTML title or first text. */
export function summarizeBody(text: string, max = 160): string {
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text)?.[1] ?? /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(text)?.[1];
  const plain = (title ?? text).replace(/<[^>]*>/g, ' ').replace(/&[a-z]+;|&#\d+;/gi, ' ').replace(/\s+/g, ' ').trim();
  if (plain === '') return '(empty body)';
  return plain.length > max ? `${plain.slice(0, max - 1)}…` : plain;
}

export const isHtml = (r: Pick<ReplyBody, 'contentType' | 'text'>): boolean => r.contentType.includes('html') || /^\s*<(!doctype|html)/i.test(r.text);

/** How an error message quotes a body that is not the remote's error format, e.g. `502 HTML page: "Bad Gateway"`. */
export const bodyDetail = (reply: ReplyBody): string =>
  `${reply.status} ${isHtml(reply) ? 'HTML page' : reply.contentType || 'no content type'}: "${summarizeBody(reply.text)}"`;

/**
 * A 2xx whose body is not the JSON the remote promised; `what` names the call, `problem`
 * what was wrong with JSON that parsed. Three causes, three outcomes:
 *
 * - An HTML page: something other than the remote answered (an SSO proxy's login form, a
 *   captive portal). Every request will get the same page until an operator fixes the
 *   address or the proxy, so it is a ConfigurationError: the runtime quarantines the target
 *   and probes. The message names the content type only; the page is not quoted, since a
 *   login form may echo the request or carry session data.
 * - JSON that does not parse (or no body where one was due): the reply was cut off on the
 *   way, so the request may well have been applied. Transient: the connectors re-read
 *   before writing on a retry (`ctx.attempt > 1`), so retrying cannot write twice.
 * - JSON of the wrong shape, or another content type: transient too. On a 2xx this is far
 *   more often a partial reply or a node mid-upgrade (version skew behind a load balancer)
 *   than a remote that will never answer properly; failing the job for good would leave the
 *   user half-written (created, but without groups or link). If the shape stays wrong, the
 *   job still ends in the failed set after its attempts, with this readable reason.
 */
/**
 * The note a lost or garbled reply carries: on a write the remote may have applied it (so a
 * retry re-reads first); a read changes nothing, and saying otherwise sends an operator
 * looking for a write that never was. `what` names the call as "METHOD path…", as every
 * connector's describeCall does.
 */
export function lostReplyNote(what: string): string {
  return /^(GET|HEAD) /.test(what) ? '' : ' (a write may still have been applied)';
}

export function malformedReply(remote: Remote, what: string, reply: ReplyBody, problem?: string): SyncError {
  const opts = { status: reply.status, code: 'MALFORMED_RESPONSE' };
  if (isHtml(reply)) {
    return new ConfigurationError(
      `${remote.name} answered ${what} with ${reply.status} and an HTML page (${reply.contentType || 'no content type'}) instead of ${reply.expected ?? 'JSON'}: a proxy answered instead of ${remote.product}; ${remote.htmlHint}`,
      opts,
    );
  }
  const kind = reply.malformed
    ? `JSON that does not parse (${Buffer.byteLength(reply.text)} bytes, cut off?)`
    : problem ?? (reply.text.trim() === '' ? 'an empty body' : `an unexpected ${reply.contentType || 'untyped'} body`);
  return new TransientError(`${remote.name} answered ${what} with ${reply.status} but ${kind}${lostReplyNote(what)}`, opts);
}

/** Certificates the TLS trust store does not accept: an operator's fix, not a retry's. */
export const TLS_CODES: ReadonlySet<string> = new Set([
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

// Node's socket timeout and undici's connect timeout (got never reports the latter).
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);
// No connection at all: nothing was sent, and the remote may be back soon.
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The system error code behind a transport failure (undici wraps it in `cause`, sometimes twice; got does not). */
export function transportCode(err: unknown): string {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let i = 0; i < 4 && e; i++) {
    if (typeof e.code === 'string' && e.code !== '') return e.code;
    e = e.cause as typeof e;
  }
  return '';
}

export interface NoReplyContext {
  timeoutMs: number;
  baseUrl: string;
  /** The client's own deadline fired (the code alone does not always say so). */
  timedOut: boolean;
}

/**
 * A request that got no reply, when the cause reads the same for every remote: a timeout,
 * a certificate the trust store refuses, an unreachable host. Undefined otherwise; the
 * connector words the rest (aborts, resets, unknown failures) itself.
 */
export function noReplyError(remote: Remote, what: string, code: string, context: NoReplyContext): SyncError | undefined {
  if (context.timedOut || TIMEOUT_CODES.has(code)) {
    return new TransientError(`${remote.name} did not answer ${what} within ${context.timeoutMs} ms${lostReplyNote(what)}`, { code: 'ETIMEDOUT' });
  }
  if ((remote.configCodes ?? TLS_CODES).has(code)) {
    return new ConfigurationError(`Cannot reach ${remote.name} at ${context.baseUrl} for ${what}: ${code}; check ${remote.urlSetting} and the TLS trust store (NODE_EXTRA_CA_CERTS)`, { code });
  }
  if (UNREACHABLE_CODES.has(code)) {
    return new TransientError(`Cannot reach ${remote.name} at ${context.baseUrl} for ${what}: ${code}`, { code });
  }
  return undefined;
}
