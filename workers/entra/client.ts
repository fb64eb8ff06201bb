import { GraphClientError, ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import { PermanentError, TransientError, isConfigurationError, type SyncError } from '../../shared/errors.js';
import { remoteCalls, routeOf } from '../runtime/process-metrics.js';
import { retryInPlace, type InPlaceRetryOptions } from '../runtime/in-place-retry.js';
import type { RequestBudget } from '../runtime/request-budget.js';
import { WriteBatcher, type BatchItem, type BatcherOptions } from './batcher.js';
import { TokenFailure, type AppCredential } from './credentials.js';
import {
  errorFromReply,
  errorFromTransport,
  graphErrorBody,
  header,
  malformedSuccess,
  type GraphCall,
  type GraphErrorBody,
  type RawReply,
} from './errors.js';
import { TransportFailure, createSdkClient, parseJson, readReply } from './transport.js';

export interface GraphClientOptions {
  /** e.g. `https://graph.microsoft.com/`; https only, or graph-client sends no token. */
  graphBaseUrl: string;
  credential: AppCredential;
  /** Per request, connect to last byte. */
  timeoutMs: number;
  /** Every write takes one from it (Graph's write quota is per app+tenant, cluster-wide). */
  budget: RequestBudget;
  batch?: BatcherOptions;
  /** Retries of one read inside a job's attempt, where safe (see in-place-retry.ts). */
  retry?: InPlaceRetryOptions;
}

export interface CallOptions {
  abortSignal?: AbortSignal | undefined;
}

type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions extends CallOptions {
  query?: Query;
  headers?: Record<string, string>;
  json?: unknown;
  /** Failure statuses the caller handles itself; any other failure is thrown. */
  accept?: readonly number[];
  subject?: string | undefined;
  /** The permission the call needs, named in 403 messages. */
  permission?: string | undefined;
  /** No retry in place: the caller wants this one answer (a quarantine probe). */
  once?: boolean;
  /**
   * A POST write whose repeat is harmless: Graph's "already exists" answer is accepted, so the
   * item may be sent again after a failure that leaves open whether it landed. PATCH (it sets
   * properties) and DELETE (404 accepted) are taken as idempotent; a POST only when said so.
   */
  idempotent?: boolean;
}

/** A successful reply, or a failure whose status the caller accepted. */
export interface GraphReply {
  status: number;
  json: unknown;
  /** Graph's error envelope, for accepted failures. */
  error: GraphErrorBody | undefined;
  headers: Record<string, string>;
  call: GraphCall;
  raw: RawReply;
}

/**
 * A typed Graph v1.0 client over graph-client: raw responses (the SDK's own body handling
 * turns an HTML page into an unread stream and a cut-off JSON body into a SyntaxError),
 * one timeout per request, abortable. Reads go straight out and are sent again in place
 * where that is safe (in-place-retry.ts); writes go through the WriteBatcher as `$batch`
 * items, which sends again items Graph refused without acting on them. Every reply is
 * classified here: a method returns what Graph said or throws an error of the shared taxonomy.
 */
export class GraphClient {
  readonly baseUrl: string;
  readonly #origin: string;
  readonly #sdk: Client;
  readonly #credential: AppCredential;
  readonly #timeoutMs: number;
  readonly #batcher: WriteBatcher;
  readonly #retry: InPlaceRetryOptions | undefined;
  /** Permissions whose absence made Graph refuse a call (a ConfigurationError); the probe checks the token for them. */
  readonly missingPermissions = new Set<string>();

  constructor(options: GraphClientOptions) {
    const url = new URL(options.graphBaseUrl);
    this.baseUrl = url.href.endsWith('/') ? url.href : `${url.href}/`;
    this.#origin = url.origin;
    this.#credential = options.credential;
    this.#timeoutMs = options.timeoutMs;
    this.#retry = options.retry;
    this.#sdk = createSdkClient(this.baseUrl, options.credential);
    this.#batcher = new WriteBatcher((items) => this.#sendBatch(items), options.budget, options.batch);
  }

  /** A JSON read; `pathOrLink` may be an absolute nextLink/deltaLink on the Graph host. */
  async get(pathOrLink: string, options: RequestOptions = {}): Promise<GraphReply> {
    return this.#read(options, async () => this.#accept(...(await this.#request('GET', pathOrLink, options, false)), options.accept, true));
  }

  /** A binary read (`/photo/$value`). */
  async getBytes(path: string, options: RequestOptions = {}): Promise<GraphReply & { bytes: Buffer | undefined }> {
    return this.#read(options, async () => {
      const [call, raw] = await this.#request('GET', path, options, true);
      const reply = this.#accept(call, raw, options.accept, false);
      return { ...reply, bytes: (raw as RawReply & { bytes?: Buffer }).bytes };
    });
  }

  #read<T>(options: RequestOptions, send: () => Promise<T>): Promise<T> {
    return options.once ? send() : retryInPlace(send, { idempotent: true, signal: options.abortSignal }, this.#retry);
  }

  /** A write, sent as one item of a `$batch` once the write budget allows it. */
  async write(method: 'POST' | 'PATCH' | 'DELETE', path: string, options: RequestOptions = {}): Promise<GraphReply> {
    const call: GraphCall = { method, path, subject: options.subject, permission: options.permission };
    const item: BatchItem = { method, url: withQuery(path, options.query), ...(options.json !== undefined && { body: options.json }), ...(options.headers && { headers: options.headers }) };
    const raw = await this.#batcher.submit(item, { signal: options.abortSignal, idempotent: method !== 'POST' || options.idempotent === true });
    return this.#accept(call, raw, options.accept, method === 'POST' && raw.status !== 204);
  }

  /** The taxonomy error for an accepted failure the caller decided not to handle after all. */
  refusal(reply: GraphReply): SyncError {
    return this.#error(reply.call, reply.raw);
  }

  /** Roles of the token in use (undefined until a token was issued). */
  roles(): ReadonlySet<string> | undefined {
    return this.#credential.roles();
  }

  /** Forgets the cached token, so the next request sees the app's current permissions. */
  renewToken(): void {
    this.#credential.renew();
  }

  close(): void {
    this.#batcher.close();
  }

  // ---- transport ----

  async #request(method: string, pathOrLink: string, options: RequestOptions, binary: boolean): Promise<[GraphCall, RawReply]> {
    const target = this.#target(pathOrLink, options.query);
    const call: GraphCall = { method, path: target.path, subject: options.subject, permission: options.permission };
    for (let renewed = false; ; renewed = true) {
      let raw: RawReply;
      try {
        raw = await this.#send(call, method, target.url, options, binary);
      } catch (err) {
        remoteCalls.inc({ target: 'entra', method, route: routeOf(target.path), status: 'error' });
        throw err;
      }
      remoteCalls.inc({ target: 'entra', method, route: routeOf(target.path), status: String(raw.status) });
      // An expired or revoked token: the SDK does not retry 401s; renew once, then fail.
      if (raw.status === 401 && !renewed) {
        this.#credential.renew();
        continue;
      }
      return [call, raw];
    }
  }

  async #send(call: GraphCall, method: string, url: string, options: RequestOptions, binary: boolean): Promise<RawReply> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const caller = options.abortSignal;
    const signal = caller ? AbortSignal.any([caller, timeout]) : timeout;
    const context = { timeoutMs: this.#timeoutMs, baseUrl: this.baseUrl };
    try {
      caller?.throwIfAborted();
      const request = this.#sdk.api(url).headers(options.headers ?? {}).option('signal', signal).responseType(ResponseType.RAW);
      const response: Response = await (method === 'GET'
        ? request.get()
        : method === 'POST'
          ? request.post(options.json ?? {})
          : method === 'PATCH'
            ? request.patch(options.json ?? {})
            : request.delete());
      return await readReply(response, binary);
    } catch (err) {
      if (err instanceof TokenFailure) throw err.error;
      const failure = err instanceof TransportFailure ? err.failure : err;
      if (err instanceof GraphClientError && !(err instanceof TransportFailure)) throw new TransientError(`graph-client failed ${call.method} ${call.path}: ${err.message}`);
      throw errorFromTransport(call, failure, { ...context, timedOut: timeout.aborted, aborted: caller?.aborted ?? false });
    }
  }

  #accept(call: GraphCall, raw: RawReply, accept: readonly number[] | undefined, expectJson: boolean): GraphReply {
    const reply: GraphReply = { status: raw.status, json: raw.json, error: undefined, headers: raw.headers, call, raw };
    if (raw.status >= 200 && raw.status < 300) {
      const unreadable = raw.malformed || (raw.text.trim() !== '' && raw.json === undefined);
      if (expectJson && raw.status !== 204 && (unreadable || raw.json === undefined)) throw malformedSuccess(call, raw, raw.text.trim() === '' ? 'an empty body' : undefined);
      return reply;
    }
    if (accept?.includes(raw.status)) return { ...reply, error: raw.malformed ? undefined : graphErrorBody(raw.json) };
    throw this.#error(call, raw);
  }

  #error(call: GraphCall, raw: RawReply): SyncError {
    const err = errorFromReply(call, raw, this.#credential);
    if (raw.status === 403 && call.permission && isConfigurationError(err)) this.missingPermissions.add(call.permission);
    return err;
  }

  /** Relative paths get the query; absolute links must stay on the Graph host (the token goes with them). */
  #target(pathOrLink: string, query: Query | undefined): { url: string; path: string } {
    if (/^[a-z]+:\/\//i.test(pathOrLink)) {
      const u = new URL(pathOrLink);
      if (u.origin !== this.#origin) {
        throw new PermanentError(`Graph returned a link to ${u.origin}, not ${this.#origin}; idsync sends its token only to GRAPH_BASE_URL`, { code: 'FOREIGN_LINK' });
      }
      return { url: pathOrLink, path: u.pathname.replace(/^\/v1\.0/, '') };
    }
    return { url: withQuery(pathOrLink, query), path: pathOrLink };
  }

  /** One `$batch` POST with hand-built, version-relative item URLs (reference §2.6). */
  async #sendBatch(items: readonly BatchItem[]): Promise<RawReply[]> {
    const requests = items.map((it, i) => ({
      id: String(i + 1),
      method: it.method,
      url: it.url,
      ...(it.body !== undefined
        ? { headers: { 'Content-Type': 'application/json', ...it.headers }, body: it.body }
        : it.headers && { headers: it.headers }),
    }));
    const options = { json: { requests }, subject: `(${items.length} item${items.length === 1 ? '' : 's'})` };
    const reply = this.#accept(...(await this.#request('POST', '/$batch', options, false)), undefined, true);
    const responses = (reply.json as { responses?: unknown }).responses;
    if (!Array.isArray(responses)) throw malformedSuccess(reply.call, reply.raw, 'a body without "responses"');
    const byId = new Map<string, Record<string, unknown>>();
    for (const r of responses) if (r && typeof r === 'object') byId.set(String((r as { id?: unknown }).id), r as Record<string, unknown>);
    return requests.map((req) => itemReply(byId.get(req.id)));
  }
}

/** One `$batch` response item as a RawReply; headers keep Graph's exact casing. */
function itemReply(item: Record<string, unknown> | undefined): RawReply {
  if (!item || typeof item.status !== 'number') {
    const text = 'the $batch response had no entry for this item';
    return { status: 502, headers: {}, text, contentType: 'text/plain', json: undefined, malformed: false };
  }
  const headers: Record<string, string> = {};
  if (item.headers && typeof item.headers === 'object') for (const [k, v] of Object.entries(item.headers)) headers[k] = String(v);
  const contentType = (header(headers, 'Content-Type') ?? '').toLowerCase();
  const body = item.body;
  if (body !== null && typeof body === 'object') return { status: item.status, headers, text: JSON.stringify(body), contentType, json: body, malformed: false };
  const text = typeof body === 'string' ? body : '';
  return { status: item.status, headers, text, contentType, ...parseJson(text, contentType) };
}

/** `path?k=v&…` with each value percent-encoded (graph-client sends query values raw; reference §2.2). */
export function withQuery(path: string, query: Query | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined) continue;
    parts.push(`${k}=${encodeURIComponent(String(v)).replace(/%2C/g, ',')}`);
  }
  return parts.length ? `${path}${path.includes('?') ? '&' : '?'}${parts.join('&')}` : path;
}
