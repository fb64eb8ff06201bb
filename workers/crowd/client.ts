import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { type Got, type Response } from 'got';
import type { z } from 'zod';
import { remoteCalls } from '../runtime/process-metrics.js';
import type { RequestBudget } from '../runtime/request-budget.js';
import {
  groupListSchema,
  toCrowdUser,
  userEntitySchema,
  userListSchema,
  type CrowdUser,
  type UserBody,
} from './entities.js';
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
}

/** A successful reply, or one whose ErrorEntity `reason` the caller accepted. */
export interface CrowdReply {
  status: number;
  /** Set when the reply is an accepted ErrorEntity. */
  reason: string | undefined;
  message: string | undefined;
  json: unknown;
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
 * A typed client for Crowd's `usermanagement/1` API over got: JSON only, keep-alive,
 * one timeout per request, abortable, and no retries of its own (BullMQ owns retries,
 * and a blind retry of a write could apply it twice). Every reply is classified here:
 * a method either returns what Crowd said or throws an error of the shared taxonomy.
 */
export class CrowdClient {
  readonly baseUrl: string;
  readonly #got: Got;
  readonly #agents: { http: HttpAgent; https: HttpsAgent };
  readonly #budget: RequestBudget | undefined;
  readonly #context: { applicationName: string; baseUrl: string; timeoutMs: number };

  constructor(options: CrowdClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.url);
    this.#budget = options.budget;
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
    const reply = await this.#request('GET', 'user', { ...options, query, accept, subject: 'key' in by ? `key ${by.key}` : by.username });
    if (reply.reason) return null;
    return toCrowdUser(this.#parse({ method: 'GET', resource: 'user' }, reply, userEntitySchema), options.attributes ?? false);
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
    const reply = await this.#request('POST', 'user', { ...options, json, accept: ['INVALID_USER'], subject: body.name });
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
    await this.#request('POST', 'user/attribute', { ...options, query: { username: name }, json: { attributes: attributeList(attributes) }, subject: name });
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

  /** A cheap authenticated call; throws (ConfigurationError on 401/403) when Crowd refuses us. */
  async ping(options: CallOptions = {}): Promise<void> {
    await this.#request('GET', 'search', { ...options, query: { 'entity-type': 'user', 'max-results': 1 } });
  }

  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  // ---- transport ----

  async #request(method: string, resource: string, options: RequestOptions): Promise<CrowdReply> {
    const call: CrowdCall = { method, resource, subject: options.subject };
    const signal = options.abortSignal;
    if (this.#budget) await this.#budget.take(1, signal);
    let response: Response<string>;
    try {
      response = await this.#got(resource, {
        method: method as 'GET',
        searchParams: compact(options.query),
        ...(options.json !== undefined && { body: JSON.stringify(options.json), headers: { 'content-type': 'application/json' } }),
        ...(signal && { signal }),
      });
    } catch (err) {
      remoteCalls.inc({ target: 'crowd', method, route: resource, status: 'error' });
      throw errorFromTransport(call, err, { ...this.#context, aborted: signal?.aborted ?? false });
    }
    remoteCalls.inc({ target: 'crowd', method, route: resource, status: String(response.statusCode) });
    const reply = readReply(response);
    if (reply.status >= 200 && reply.status < 300) {
      if (reply.malformed || (reply.text.trim() !== '' && reply.json === undefined)) throw malformedSuccess(call, reply);
      return { status: reply.status, reason: undefined, message: undefined, json: reply.json };
    }
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

function compact(query: Query | undefined): Record<string, string | number> | undefined {
  if (!query) return undefined;
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(query)) if (v !== undefined) out[k] = v;
  return out;
}

const attributeList = (attributes: Record<string, string[]>) =>
  Object.entries(attributes).map(([name, values]) => ({ name, values }));
