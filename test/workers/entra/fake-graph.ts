// A stand-in for GraphClient that answers from a script and records each request with the
// exact options it was given, so tests can pin what a unit asks Graph for as well as what it
// makes of the answer. Replies have the shape GraphClient hands back for accepted statuses.
// realGraphClient (real-graph.ts) gives the genuine client on the emulator, to check those requests for real.
import type { GraphClient, GraphReply, RequestOptions } from '../../../workers/entra/client.js';
import type { GraphErrorBody } from '../../../workers/entra/errors.js';

export const BASE_URL = 'https://graph.test/';

export interface Request {
  method: string;
  /** The path or absolute link as the unit passed it. */
  link: string;
  options: RequestOptions;
  /** Set on binary reads (`getBytes`) only. */
  binary?: true;
}

export type Answer = (request: Request) => GraphReply | Promise<GraphReply>;

/** A binary reply (`getBytes`): the bytes, with headers such as content-type. */
export function bytesReply(status: number, bytes: Buffer | undefined, headers: Record<string, string> = {}): GraphReply & { bytes: Buffer | undefined } {
  return { ...reply(status, undefined), headers, bytes };
}

/** A reply to `GET path` (or another method) with a JSON body and, for failures, Graph's error envelope. */
export function reply(status: number, json: unknown, extra: { error?: GraphErrorBody; method?: string; path?: string; subject?: string } = {}): GraphReply {
  const text = json === undefined ? '' : JSON.stringify(json);
  const call = { method: extra.method ?? 'GET', path: extra.path ?? '/x', subject: extra.subject, permission: undefined };
  return {
    status,
    json,
    error: extra.error,
    headers: {},
    call,
    raw: { status, headers: {}, text, contentType: json === undefined ? '' : 'application/json', json, malformed: false },
  };
}

export const graphError = (code: string, message = ''): GraphErrorBody => ({ code, message, details: [] });

/** The path GraphClient names in messages: absolute links lose their origin and version. */
export const pathOf = (link: string): string => (/^[a-z]+:\/\//i.test(link) ? new URL(link).pathname.replace(/^\/v1\.0/, '') : link);

export class FakeGraph {
  readonly requests: Request[] = [];
  /** What `refusal()` was asked about, in order; each call returns a fresh error naming the status and call. */
  readonly refused: GraphReply[] = [];
  readonly baseUrl = BASE_URL;
  /** What `roles()` answers: the token's roles, undefined before a token was issued. */
  tokenRoles: ReadonlySet<string> | undefined = undefined;
  readonly missingPermissions = new Set<string>();
  /** How often `renewToken()` and `close()` were called. */
  renewed = 0;
  closed = 0;
  readonly #answer: Answer;

  constructor(answer: Answer) {
    this.#answer = answer;
  }

  /** Answers the requests in order from the list; a request beyond it fails the test. */
  static script(...replies: (GraphReply | ((request: Request) => GraphReply))[]): FakeGraph {
    let i = 0;
    return new FakeGraph((request) => {
      const next = replies[i++];
      if (!next) throw new Error(`unexpected request ${request.method} ${request.link}`);
      return typeof next === 'function' ? next(request) : next;
    });
  }

  get client(): GraphClient {
    return this as unknown as GraphClient;
  }

  async get(link: string, options: RequestOptions = {}): Promise<GraphReply> {
    return this.#send('GET', link, options);
  }

  async write(method: 'POST' | 'PATCH' | 'DELETE', link: string, options: RequestOptions = {}): Promise<GraphReply> {
    return this.#send(method, link, options);
  }

  async getBytes(link: string, options: RequestOptions = {}): Promise<GraphReply & { bytes: Buffer | undefined }> {
    return this.#send('GET', link, options, true) as Promise<GraphReply & { bytes: Buffer | undefined }>;
  }

  roles(): ReadonlySet<string> | undefined {
    return this.tokenRoles;
  }

  renewToken(): void {
    this.renewed++;
  }

  close(): void {
    this.closed++;
  }

  refusal(r: GraphReply): Error {
    this.refused.push(r);
    return new Error(`refused ${r.status} ${r.call.method} ${r.call.path}`);
  }

  async #send(method: string, link: string, options: RequestOptions, binary = false): Promise<GraphReply> {
    const request: Request = { method, link, options, ...(binary && { binary: true as const }) };
    this.requests.push(request);
    const r = await this.#answer(request);
    // Messages name the call as the real client would: method, version-relative path, subject.
    return { ...r, call: { method, path: pathOf(link), subject: options.subject, permission: options.permission } };
  }
}

/** [class, message, code, status] of a rejection. */
export async function failure(p: Promise<unknown>): Promise<unknown[]> {
  try {
    await p;
  } catch (err) {
    const e = err as { message: string; code?: string; status?: number };
    return [e.constructor.name, e.message, e.code, e.status];
  }
  return ['resolved'];
}
