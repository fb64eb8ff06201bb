import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { type Got, type Response } from 'got';
import type { z } from 'zod';
import { ConfigurationError, PermanentError } from '../../../shared/errors.js';
import { errorFromReply, errorFromTransport, malformedSuccess, safeEndpoint, type ErrorContext, type RawReply, type WebhookCall } from './errors.js';
import { describeIssue } from './schemas.js';
import { signRequest } from './signature.js';

export interface WebhookClientOptions {
  /** The receiver's address, e.g. `https://app.example.com/idsync/webhook`. */
  url: string;
  /** The HMAC key both sides share (APP_WEBHOOK_SECRET). */
  secret: string;
  /** Per request, connect to last byte. */
  timeoutMs: number;
}

export interface WebhookRequest extends WebhookCall {
  /** Path segments below the webhook's address, encoded here, e.g. `['users', id]`. */
  segments?: readonly string[];
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  /** Hand a 404 with a JSON body back (the receiver has no such user) instead of throwing. */
  acceptUnknownUser?: boolean;
  abortSignal?: AbortSignal | undefined;
}

/**
 * Signed JSON requests to one webhook over got: keep-alive, one timeout per request,
 * abortable, and no retries or redirects of its own (BullMQ owns retries, and a redirect
 * would send the request somewhere its signature was not made for). A method returns a
 * 2xx (or an accepted 404) or throws an error of the shared taxonomy.
 */
export class WebhookClient {
  readonly #base: URL;
  readonly #got: Got;
  readonly #agents: { http: HttpAgent; https: HttpsAgent };
  readonly #secret: string;
  readonly #context: ErrorContext;

  constructor(options: WebhookClientOptions) {
    if (!URL.canParse(options.url) || !/^https?:$/.test(new URL(options.url).protocol)) {
      throw new ConfigurationError('APP_WEBHOOK_URL must be an http:// or https:// URL');
    }
    if (!options.secret) throw new ConfigurationError('APP_WEBHOOK_SECRET must not be empty');
    this.#base = new URL(options.url);
    this.#base.hash = '';
    this.#secret = options.secret;
    this.#context = { endpoint: safeEndpoint(this.#base), secret: options.secret, timeoutMs: options.timeoutMs };
    this.#agents = {
      http: new HttpAgent({ keepAlive: true, scheduling: 'lifo' }),
      https: new HttpsAgent({ keepAlive: true, scheduling: 'lifo' }),
    };
    this.#got = got.extend({
      headers: { accept: 'application/json', 'user-agent': 'idsync' },
      agent: this.#agents,
      retry: { limit: 0 },
      timeout: { request: options.timeoutMs },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: 'text',
    });
  }

  /** The webhook's address as messages show it. */
  get endpoint(): string {
    return this.#context.endpoint;
  }

  async send(request: WebhookRequest): Promise<RawReply> {
    const url = this.#url(request);
    // Only a POST carries a body, so only a POST's is signed.
    const body = request.method === 'POST' && request.json !== undefined ? JSON.stringify(request.json) : '';
    // Signed over the request target exactly as got puts it on the request line.
    const headers = signRequest({ secret: this.#secret, method: request.method, path: `${url.pathname}${url.search}`, body });
    const signal = request.abortSignal;
    let response: Response<string>;
    try {
      response = await this.#got(url, {
        method: request.method,
        headers,
        ...(request.method === 'POST' && { body }),
        ...(signal && { signal }),
      });
    } catch (err) {
      throw errorFromTransport(request, err, { ...this.#context, aborted: signal?.aborted ?? false });
    }
    const reply = readReply(response);
    if (reply.status >= 200 && reply.status < 300) return reply;
    if (reply.status === 404 && request.acceptUnknownUser && reply.json !== undefined) return reply;
    throw errorFromReply(request, reply, this.#context);
  }

  /** The reply's JSON checked against `schema`; a 2xx of another shape is a TransientError. */
  parse<T extends z.ZodType>(call: WebhookCall, reply: RawReply, schema: T): z.output<T> {
    if (reply.json === undefined) throw malformedSuccess(call, reply);
    const parsed = schema.safeParse(reply.json);
    if (parsed.success) return parsed.data;
    throw malformedSuccess(call, reply, `a JSON body of an unexpected shape (${describeIssue(parsed.error)})`);
  }

  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  #url(request: WebhookRequest): URL {
    const url = new URL(this.#base.href);
    const segments = (request.segments ?? []).map((s) => {
      // URLs resolve `.` and `..` segments (encoded or not), so such an id has no address.
      if (s === '.' || s === '..') throw new PermanentError(`The id "${s}" cannot be sent in a webhook URL path`, { code: 'INVALID_ID' });
      return `/${encodeURIComponent(s)}`;
    });
    url.pathname = `${url.pathname.replace(/\/+$/, '')}${segments.join('')}` || '/';
    // Parameters of APP_WEBHOOK_URL itself (a token, a Drupal `q=`) are kept; ours are added after them.
    for (const [k, v] of Object.entries(request.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }
}

function readReply(response: Response<string>): RawReply {
  const contentType = String(response.headers['content-type'] ?? '').toLowerCase();
  const text = response.body ?? '';
  let json: unknown;
  let malformed = false;
  // PHP answers text/html unless told otherwise, so a body is tried as JSON whatever its type.
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      malformed = true;
    }
  }
  return { status: response.statusCode, headers: response.headers, text, contentType, json, malformed };
}
