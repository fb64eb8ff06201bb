import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { type Got, type Response } from 'got';
import type { z } from 'zod';
import { remoteCalls } from '../runtime/process-metrics.js';
import { retryInPlace, type InPlaceRetryOptions } from '../runtime/in-place-retry.js';
import type { RequestBudget } from '../runtime/request-budget.js';
import {
  groupListSchema,
  toCrowdUser,
  userEntitySchema,
  userListSchema,
  type CrowdUser,
  type UserBody,
} from './entities.js';
import { parseEventsXml, type EventRead } from './events.js';
import {
  errorEntity,
  errorFromReply,
  errorFromTransport,
  malformedSuccess,
  type CrowdCall,
  type RawReply,
} from './errors.js';

export interface CrowdClientOptions {
  /** Crowd's base URL including the context path, e.g. `https://crowd.example.com/crowd/`. */
  url: string;
  applicationName: string;
  applicationPassword: string;
  /** Per request, connect to last byte. */
  timeoutMs: number;
  /** Taken once before every request when set (cluster-wide requests/s). */
  budget?: RequestBudget | undefined;
  /** Retries of one request inside a job's attempt, where safe (see in-place-retry.ts). */
  retry?: InPlaceRetryOptions | undefined;
}

export interface CallOptions {
  abortSignal?: AbortSignal | undefined;
}

type Query = Record<string, string | number | undefined>;

interface RequestOptions extends CallOptions {
  query?: Query;
  json?: unknown;
  /** Crowd `reason`s the caller handles itself; any other failure is thrown. */
  accept?: readonly string[];
  subject?: string | undefined;
  /** No retry in place: the caller wants this one answer (a quarantine probe). */
  once?: boolean;
  /**
   * A POST whose repeat is harmless: its "already done" answer is accepted (so the request may
   * be sent again in place after a failure that leaves open whether it landed). GET, PUT and
   * DELETE are idempotent as HTTP says; a POST is not unless the caller says so.
   */
  idempotent?: boolean;
  /** The URL path when it differs from `resource` (which names the call in messages and metrics). */
  path?: string;
  /** Ask for XML: the reply text is the caller's to parse, error entities are read from XML. */
  xml?: boolean;
  /** Statuses without an ErrorEntity the caller handles itself (reason `HTTP <status>`). */
  acceptStatuses?: readonly number[];
}

/** A successful reply, or one whose ErrorEntity `reason` the caller accepted. */
export interface CrowdReply {
  status: number;
  /** Set when the reply is an accepted ErrorEntity. */
  reason: string | undefined;
  message: string | undefined;
  json: unknown;
  /** The body and its content type, for XML replies. */
  text?: string;
  contentType?: string;
}

const API_PATH = 'rest/usermanagement/1/';
const PAGE_SIZE = 1000;

/** `https://host/crowd`, `.../crowd/` or `.../crowd/rest/usermanagement/1` → `.../crowd/`. */
export function normalizeBaseUrl(url: string): string {
  const u = new URL(url);
  u.pathname = u.pathname.replace(/\/rest\/usermanagement\/(1|latest)\/?$/, '/').replace(/\/?$/, '/');
  u.search = '';
  u.hash = '';
  u.username = '';
  u.password = '';
  return u.href;
}

/**
 * A typed client for Crowd's `usermanagement/1` API over got: JSON (XML for the `/event` feed), keep-alive,
 * one timeout per request, abortable. got's own retries are off (a blind retry of a write
 * could apply it twice); a request is sent again only where in-place-retry.ts says it is
 * safe (a read, or a refusal Crowd did not act on), the rest is BullMQ's. Every reply is
 * classified here: a method either returns what Crowd said or throws an error of the shared taxonomy.
 */
export class CrowdClient {
  readonly baseUrl: string;
  readonly #got: Got;
  readonly #agents: { http: HttpAgent; https: HttpsAgent };
  readonly #budget: RequestBudget | undefined;
  readonly #retry: InPlaceRetryOptions | undefined;
  readonly #context: { applicationName: string; baseUrl: string; timeoutMs: number };

  constructor(options: CrowdClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.url);
    this.#budget = options.budget;
    this.#retry = options.retry;
    this.#context = { applicationName: options.applicationName, baseUrl: this.baseUrl, timeoutMs: options.timeoutMs };
    this.#agents = {
      http: new HttpAgent({ keepAlive: true, scheduling: 'lifo' }),
      https: new HttpsAgent({ keepAlive: true, scheduling: 'lifo' }),
    };
    // The credentials go in a header we build, never in the URL, so no error message or
    // logged URL can carry them.
    const authorization = `Basic ${Buffer.from(`${options.applicationName}:${options.applicationPassword}`).toString('base64')}`;
    this.#got = got.extend({
      prefixUrl: new URL(API_PATH, this.baseUrl).href,
      headers: {
        accept: 'application/json',
        authorization,
        // Crowd's XSRF check skips requests that carry this header (the official client sends it).
        'x-atlassian-token': 'no-check',
        'user-agent': 'idsync',
      },
      agent: this.#agents,
      retry: { limit: 0 },
      timeout: { request: options.timeoutMs },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: 'text',
    });
  }

  // ---- users ----

  /** The user by key or (case-insensitive) name; null when Crowd has none. */
  async getUser(by: { key: string } | { username: string }, options: CallOptions & { attributes?: boolean } = {}): Promise<CrowdUser | null> {
    const query: Query = 'key' in by ? { key: by.key } : { username: by.username };
    if (options.attributes) query['expand'] = 'attributes';
    // Servers before 5.x answer a key lookup with 400 ILLEGAL_ARGUMENT ("username query
    // parameter must be given"): treat it as "not found by key" and let callers use the name.
    const accept = 'key' in by ? ['USER_NOT_FOUND', 'ILLEGAL_ARGUMENT'] : ['USER_NOT_FOUND'];
    const subject = 'key' in by ? `key ${by.key}` : by.username;
    const reply = await this.#request('GET', 'user', { ...options, query, accept, subject });
    if (reply.reason) return null;
    return toCrowdUser(this.#parse({ method: 'GET', resource: 'user', subject }, reply, userEntitySchema), options.attributes ?? false);
  }

  /**
   * Creates the user. Resolves `exists` when Crowd already has one by that name
   * (400 INVALID_USER "already exists"), so the caller can update it instead; resolves the
   * created user when Crowd returned it (Crowd ≥ 2.9 does), else undefined.
   */
  async createUser(body: UserBody, password: string, attributes: Record<string, string[]>, options: CallOptions = {}): Promise<CrowdUser | undefined | 'exists'> {
    const json: Record<string, unknown> = { ...body, password: { value: password } };
    if (Object.keys(attributes).length) json['attributes'] = { attributes: attributeList(attributes) };
    const call = { method: 'POST', resource: 'user', subject: body.name };
    // A repeat of a create that landed is answered "already exists", which the caller settles.
    const reply = await this.#request('POST', 'user', { ...options, json, accept: ['INVALID_USER'], subject: body.name, idempotent: true });
    if (reply.reason) {
      if (/already exists/i.test(reply.message ?? '')) return 'exists';
      throw this.#refusal(call, reply);
    }
    if (reply.json === undefined) return undefined;
    return toCrowdUser(this.#parse(call, reply, userEntitySchema), true);
  }

  /** Full replace: `body` must carry every profile field (GET, merge, PUT). */
  async updateUser(name: string, body: UserBody, options: CallOptions = {}): Promise<void> {
    await this.#request('PUT', 'user', { ...options, query: { username: name }, json: body, subject: name });
  }

  async renameUser(name: string, newName: string, options: CallOptions = {}): Promise<CrowdUser | undefined> {
    const call = { method: 'POST', resource: 'user/rename', subject: `${name} → ${newName}` };
    const reply = await this.#request('POST', 'user/rename', { ...options, query: { username: name }, json: { 'new-name': newName }, subject: call.subject });
    return reply.json === undefined ? undefined : toCrowdUser(this.#parse(call, reply, userEntitySchema), false);
  }

  /** False when the user does not exist. The password never reaches a message. */
  async setPassword(name: string, password: string, options: CallOptions = {}): Promise<boolean> {
    const reply = await this.#request('PUT', 'user/password', { ...options, query: { username: name }, json: { value: password }, accept: ['USER_NOT_FOUND'], subject: name });
    return !reply.reason;
  }

  /** False when the user was already gone. */
  async deleteUser(name: string, options: CallOptions = {}): Promise<boolean> {
    const reply = await this.#request('DELETE', 'user', { ...options, query: { username: name }, accept: ['USER_NOT_FOUND'], subject: name });
    return !reply.reason;
  }

  /** Adds or replaces the listed attributes; others are left alone. */
  async storeAttributes(name: string, attributes: Record<string, string[]>, options: CallOptions = {}): Promise<void> {
    await this.#request('POST', 'user/attribute', { ...options, query: { username: name }, json: { attributes: attributeList(attributes) }, subject: name, idempotent: true });
  }

  async deleteAttribute(name: string, attribute: string, options: CallOptions = {}): Promise<void> {
    await this.#request('DELETE', 'user/attribute', { ...options, query: { username: name, attributename: attribute }, subject: `${name} ${attribute}` });
  }

  // ---- memberships ----

  /** The user's direct (or nested) group names, all pages; null when the user does not exist. */
  async listUserGroups(name: string, scope: 'direct' | 'nested', options: CallOptions = {}): Promise<string[] | null> {
    const resource = `user/group/${scope}`;
    const out: string[] = [];
    for (let start = 0; ; start += PAGE_SIZE) {
      const reply = await this.#request('GET', resource, {
        ...options,
        query: { username: name, 'start-index': start, 'max-results': PAGE_SIZE },
        accept: ['USER_NOT_FOUND'],
        subject: name,
      });
      if (reply.reason) return null;
      const page = this.#parse({ method: 'GET', resource, subject: name }, reply, groupListSchema);
      const groups = page.groups ?? page.group ?? [];
      for (const g of groups) out.push(g.name);
      if (groups.length < PAGE_SIZE) return out;
    }
  }

  /** `exists` on 409 (already a member); `no-group` when Crowd has no such group. */
  async addUserToGroup(name: string, group: string, options: CallOptions = {}): Promise<'added' | 'exists' | 'no-group'> {
    const reply = await this.#request('POST', 'user/group/direct', {
      ...options,
      query: { username: name },
      json: { name: group },
      accept: ['MEMBERSHIP_ALREADY_EXISTS', 'GROUP_NOT_FOUND'],
      subject: `${name} → ${group}`,
      idempotent: true,
    });
    return reply.reason === 'MEMBERSHIP_ALREADY_EXISTS' ? 'exists' : reply.reason === 'GROUP_NOT_FOUND' ? 'no-group' : 'added';
  }

  /** `absent` when the membership (or the group) was already gone. */
  async removeUserFromGroup(name: string, group: string, options: CallOptions = {}): Promise<'removed' | 'absent'> {
    const reply = await this.#request('DELETE', 'user/group/direct', {
      ...options,
      query: { username: name, groupname: group },
      accept: ['MEMBERSHIP_NOT_FOUND', 'GROUP_NOT_FOUND'],
      subject: `${name} ✕ ${group}`,
    });
    return reply.reason ? 'absent' : 'removed';
  }

  // ---- search ----

  /** One page of users in name order (`expand=user`), optionally filtered by CQL. */
  async searchUsers(page: { startIndex: number; maxResults: number; restriction?: string | undefined; attributes?: boolean }, options: CallOptions = {}): Promise<CrowdUser[]> {
    const query: Query = {
      'entity-type': 'user',
      'start-index': page.startIndex,
      'max-results': page.maxResults,
      expand: page.attributes ? 'user,attributes' : 'user',
      restriction: page.restriction,
    };
    const call = { method: 'GET', resource: 'search', subject: page.restriction };
    const reply = await this.#request('GET', 'search', { ...options, query, subject: page.restriction });
    const list = this.#parse(call, reply, userListSchema);
    return (list.users ?? list.user ?? []).map((u) => toCrowdUser(u, page.attributes ?? false));
  }

  // ---- incremental synchronisation ----

  /** The event token for "now"; `unavailable` when the server does not offer incremental synchronisation. */
  async currentEventToken(options: CallOptions = {}): Promise<string | 'unavailable'> {
    const reply = await this.#request('GET', 'event', { ...options, xml: true, accept: ['INCREMENTAL_SYNC_NOT_AVAILABLE'], acceptStatuses: [404] });
    if (reply.reason) return 'unavailable';
    const parsed = this.#events({ method: 'GET', resource: 'event' }, reply);
    if (!parsed.available) return 'unavailable';
    if (!parsed.token) throw malformedSuccess({ method: 'GET', resource: 'event' }, rawOf(reply), 'an events reply without a newEventToken');
    return parsed.token;
  }

  /** The users changed since `token`, and the next token; `expired` on 410 EVENT_TOKEN_EXPIRED. */
  async eventsSince(token: string, options: CallOptions = {}): Promise<EventRead> {
    // The token names the call as `{token}`: it stays out of messages and metric labels.
    const call = { method: 'GET', resource: 'event/{token}' };
    const reply = await this.#request('GET', call.resource, {
      ...options,
      path: `event/${encodeURIComponent(token)}`,
      xml: true,
      accept: ['EVENT_TOKEN_EXPIRED', 'INCREMENTAL_SYNC_NOT_AVAILABLE'],
      acceptStatuses: [404],
    });
    if (reply.reason === 'EVENT_TOKEN_EXPIRED') return { kind: 'expired' };
    if (reply.reason) return { kind: 'unavailable' };
    const parsed = this.#events(call, reply);
    if (!parsed.available) return { kind: 'unavailable' };
    if (!parsed.token) throw malformedSuccess(call, rawOf(reply), 'an events reply without a newEventToken');
    return { kind: 'events', token: parsed.token, users: parsed.users };
  }

  #events(call: CrowdCall, reply: CrowdReply): NonNullable<ReturnType<typeof parseEventsXml>> {
    const parsed = parseEventsXml(reply.text ?? '');
    if (!parsed) throw malformedSuccess(call, rawOf(reply), 'a body that is not an <events> document');
    return parsed;
  }

  /** A cheap authenticated call; throws (ConfigurationError on 401/403) when Crowd refuses us. */
  async ping(options: CallOptions = {}): Promise<void> {
    await this.#request('GET', 'search', { ...options, query: { 'entity-type': 'user', 'max-results': 1 }, once: true });
  }

  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  // ---- transport ----

  async #request(method: string, resource: string, options: RequestOptions): Promise<CrowdReply> {
    if (options.once) return this.#send(method, resource, options);
    return retryInPlace(() => this.#send(method, resource, options), { idempotent: method !== 'POST' || options.idempotent === true, signal: options.abortSignal }, this.#retry);
  }

  async #send(method: string, resource: string, options: RequestOptions): Promise<CrowdReply> {
    const call: CrowdCall = { method, resource, subject: options.subject };
    const signal = options.abortSignal;
    if (this.#budget) await this.#budget.take(1, signal);
    let response: Response<string>;
    try {
      response = await this.#got(options.path ?? resource, {
        method: method as 'GET',
        ...(options.xml && { headers: { accept: 'application/xml' } }),
        searchParams: compact(options.query),
        ...(options.json !== undefined && { body: JSON.stringify(options.json), headers: { 'content-type': 'application/json' } }),
        ...(signal && { signal }),
      });
    } catch (err) {
      remoteCalls.inc({ target: 'crowd', method, route: resource, status: 'error' });
      throw errorFromTransport(call, err, { ...this.#context, aborted: signal?.aborted ?? false });
    }
    remoteCalls.inc({ target: 'crowd', method, route: resource, status: String(response.statusCode) });
    const reply = options.xml ? readXmlReply(response) : readReply(response);
    if (options.xml && reply.status >= 200 && reply.status < 300) {
      return { status: reply.status, reason: undefined, message: undefined, json: undefined, text: reply.text, contentType: reply.contentType };
    }
    if (options.acceptStatuses?.includes(reply.status) && !errorEntity(reply.json)) {
      return { status: reply.status, reason: `HTTP ${reply.status}`, message: undefined, json: undefined };
    }
    if (reply.status >= 200 && reply.status < 300) {
      if (reply.malformed || (reply.text.trim() !== '' && reply.json === undefined)) throw malformedSuccess(call, reply);
      return { status: reply.status, reason: undefined, message: undefined, json: reply.json };
    }
    // A 4xx whose ErrorEntity was cut off on the way says nothing about what Crowd refused
    // (a 404 may be USER_NOT_FOUND, a 400 "already exists"): a lost reply like any other.
    if (reply.malformed && reply.status >= 400 && reply.status < 500 && reply.status !== 429) throw malformedSuccess(call, reply);
    const entity = reply.malformed ? undefined : errorEntity(reply.json);
    if (entity && options.accept?.includes(entity.reason)) {
      return { status: reply.status, reason: entity.reason, message: entity.message, json: reply.json };
    }
    throw errorFromReply(call, reply, this.#context);
  }

  #parse<T extends z.ZodType>(call: CrowdCall, reply: CrowdReply, schema: T): z.infer<T> {
    const parsed = schema.safeParse(reply.json);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw malformedSuccess(call, { status: reply.status, headers: {}, text: '', contentType: 'application/json', json: reply.json, malformed: false },
      `a JSON body of an unexpected shape (${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'})`);
  }

  #refusal(call: CrowdCall, reply: CrowdReply) {
    return errorFromReply(call, { status: reply.status, headers: {}, text: '', contentType: 'application/json', json: reply.json, malformed: false }, this.#context);
  }
}

function readReply(response: Response<string>): RawReply {
  const contentType = String(response.headers['content-type'] ?? '').toLowerCase();
  const text = response.body ?? '';
  let json: unknown;
  let malformed = false;
  const looksJson = contentType.includes('json') || (contentType === '' && /^\s*[{[]/.test(text));
  if (looksJson && text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      malformed = true;
    }
  }
  return { status: response.statusCode, headers: response.headers, text, contentType, json, malformed };
}

/** An XML reply: the body stays text; an XML ErrorEntity (`<error><reason>…`) becomes `{reason, message}`. */
function readXmlReply(response: Response<string>): RawReply {
  const raw = readReply(response);
  if (raw.status < 300 || !/\b(application|text)\/xml\b/.test(raw.contentType)) return raw;
  const reason = /<reason>([^<]*)<\/reason>/.exec(raw.text)?.[1];
  const message = /<message>([^<]*)<\/message>/.exec(raw.text)?.[1] ?? '';
  return reason === undefined ? raw : { ...raw, json: { reason, message: decodeXmlText(message) } };
}

const decodeXmlText = (s: string): string =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

// An XML reply (the event feed) in the shape the error helpers read.
const rawOf = (reply: CrowdReply): RawReply => ({
  status: reply.status, headers: {}, text: reply.text ?? '', contentType: reply.contentType ?? '', json: undefined, malformed: false, expected: 'XML',
});

function compact(query: Query | undefined): Record<string, string | number> | undefined {
  if (!query) return undefined;
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(query)) if (v !== undefined) out[k] = v;
  return out;
}

const attributeList = (attributes: Record<string, string[]>) =>
  Object.entries(attributes).map(([name, values]) => ({ name, values }));
