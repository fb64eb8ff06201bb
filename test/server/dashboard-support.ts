import { PermanentError } from '../../shared/errors.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { startTestServer, type TestServer } from './support.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/**
 * A crowd worker whose connector refuses the first user for good (a permanent error: no
 * retry), and the HTTP server with the dashboard on the same prefix. The connector succeeds
 * from then on, so a replay of the failed job completes.
 */
export async function startWithFailedJob(): Promise<{ h: Harness; t: TestServer; jobId: string }> {
  const connector = new FakeConnector().then(() => {
    throw new PermanentError('Crowd group staff does not exist');
  });
  const h = await startHarness({ connector });
  const [enqueued] = await h.client.userChanged({ id: 'u-9', username: 'nine', email: 'nine@example.com' });
  const jobId = enqueued!.jobId;
  await h.finished(jobId).catch(() => undefined);
  const t = await startTestServer({ env: { IDSYNC_PREFIX: h.prefix, IDSYNC_ADMIN_TOKEN: ADMIN_TOKEN } });
  return { h, t, jobId };
}

export interface Page {
  status: number;
  location: string | null;
  headers: Headers;
  text: string;
}

/** A request as a browser form or link makes it, without following redirects. */
export async function browse(url: string, path: string, options: { method?: string; cookie?: string; form?: Record<string, string | string[]>; headers?: Record<string, string>; json?: unknown } = {}): Promise<Page> {
  const headers: Record<string, string> = { ...(options.cookie && { cookie: options.cookie }), ...options.headers };
  let body: string | undefined;
  if (options.form) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(options.form)) for (const one of [v].flat()) params.append(k, one);
    body = params.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${url}${path}`, { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), headers: res.headers, text: await res.text() };
}

/** Logs in with the token; the session cookie as a `Cookie` header value, and the Set-Cookie line. */
export async function login(url: string, token = ADMIN_TOKEN): Promise<{ cookie: string; setCookie: string; page: Page }> {
  const page = await browse(url, '/login', { form: { token, next: '/' } });
  const setCookie = page.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0]!, setCookie, page };
}

/** The CSRF token embedded in a page's forms. */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF field on the page');
  return m[1]!;
}
