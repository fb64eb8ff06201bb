// Shared plumbing for the Crowd emulator suites: real HTTP through fetch, one emulator per test.
import { XMLParser } from 'fast-xml-parser';
import { type CrowdEmulator, type CrowdEmulatorOptions, startCrowdEmulator } from '../../../emulators/crowd/index.js';

export interface Call {
  method?: string;
  body?: unknown;
  /** Sent as-is when a string; JSON-encoded otherwise. */
  accept?: string | null;
  contentType?: string | null;
  auth?: string | null;
  headers?: Record<string, string>;
}

export interface Result {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export const basic = (name: string, password: string): string =>
  `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;

export class Client {
  constructor(readonly em: CrowdEmulator) {}

  get api(): string {
    return `${this.em.info.baseUrl}rest/usermanagement/1/`;
  }

  async call(path: string, c: Call = {}): Promise<Result> {
    const headers: Record<string, string> = { ...c.headers };
    const auth = c.auth === undefined ? basic(this.em.info.applicationName, this.em.info.applicationPassword) : c.auth;
    if (auth !== null) headers['Authorization'] = auth;
    const accept = c.accept === undefined ? 'application/json' : c.accept;
    if (accept !== null) headers['Accept'] = accept;
    let body: string | undefined;
    if (c.body !== undefined) {
      body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
      const ct = c.contentType === undefined ? 'application/json' : c.contentType;
      if (ct !== null) headers['Content-Type'] = ct;
    }
    const res = await fetch(path.startsWith('http') ? path : this.api + path, { method: c.method ?? 'GET', headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  get = (path: string, c: Call = {}): Promise<Result> => this.call(path, { ...c, method: 'GET' });
  post = (path: string, body?: unknown, c: Call = {}): Promise<Result> => this.call(path, { ...c, method: 'POST', body });
  put = (path: string, body?: unknown, c: Call = {}): Promise<Result> => this.call(path, { ...c, method: 'PUT', body });
  del = (path: string, c: Call = {}): Promise<Result> => this.call(path, { ...c, method: 'DELETE' });

  createUser(name: string, extra: Record<string, unknown> = {}): Promise<Result> {
    return this.post('user', {
      name,
      'first-name': 'First',
      'last-name': 'Last',
      email: `${name.toLowerCase()}@example.com`,
      password: { value: 'secret-1' },
      ...extra,
    });
  }

  createGroup(name: string, extra: Record<string, unknown> = {}): Promise<Result> {
    return this.post('group', { name, type: 'GROUP', active: true, ...extra });
  }

  async names(path: string): Promise<string[]> {
    const r = await this.get(path);
    if (r.status !== 200) throw new Error(`${path} → ${r.status} ${r.text}`);
    const list = (r.json.users ?? r.json.groups) as { name: string }[];
    return list.map((x) => x.name);
  }
}

/** Starts an emulator before each test of the enclosing describe and closes it after. */
export function useEmulator(options: CrowdEmulatorOptions = {}): { readonly em: CrowdEmulator; readonly client: Client } {
  const ctx: { em?: CrowdEmulator; client?: Client } = {};
  beforeEach(async () => {
    ctx.em = await startCrowdEmulator(options);
    ctx.client = new Client(ctx.em);
  });
  afterEach(async () => {
    await ctx.em?.close();
  });
  return {
    get em() {
      return ctx.em as CrowdEmulator;
    },
    get client() {
      return ctx.client as Client;
    },
  };
}

export const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false });

export const enc = encodeURIComponent;
