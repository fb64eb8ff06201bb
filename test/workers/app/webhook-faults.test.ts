// Receivers that misbehave, over real HTTP: every failure maps to the taxonomy with a
// readable message, a listing never ends early, and no message carries the secret or a MAC.
import { errorKind, ThrottledError, TransientError, type SyncError } from '../../../shared/errors.js';
import type { AppUser } from '../../../workers/app/directory.js';
import { createWebhookDirectory, verifyRequest, type WebhookDirectory } from '../../../workers/app/webhook/index.js';
import { SECRET, json, startBrokenReceiver, type BrokenReceiver } from './webhook-broken-receiver.js';

const user = (id: string) => ({ id, username: `user${id}`, email: `user${id}@example.com`, active: true });
const change = { values: { username: 'alice', email: 'alice@example.com' }, source: 'crowd' as const };

describe('webhook directory: faults', () => {
  let broken: BrokenReceiver;
  let dir: WebhookDirectory;
  beforeAll(async () => {
    broken = await startBrokenReceiver();
  });
  beforeEach(() => {
    broken.requests.length = 0;
    dir = createWebhookDirectory({ url: broken.url, secret: SECRET, timeoutMs: 500 });
  });
  afterEach(() => dir.close());
  afterAll(() => broken.close());

  const failure = async (call: Promise<unknown>): Promise<SyncError> => {
    const err = (await call.then(
      () => undefined,
      (e: unknown) => e,
    )) as SyncError | undefined;
    if (!err) throw new Error('expected the call to fail');
    for (const req of broken.requests) expect(err.message).not.toContain(String(req.headers['x-idsync-signature']).slice(3));
    expect(err.message).not.toContain(SECRET);
    return err;
  };

  it('signs every request as documented', async () => {
    broken.answer((_req, res) => json(res, 200, { id: '7', created: true, changed: ['username'] }));
    await dir.apply(change);
    broken.answer((_req, res) => json(res, 200, { users: [], nextCursor: null }));
    for await (const _page of dir.list({ pageSize: 10 })) void _page;
    const [post, get] = broken.requests;
    expect(post).toMatchObject({ method: 'POST', url: '/hook', headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(post!.body)).toEqual({ type: 'user.apply', values: change.values, source: 'crowd' });
    expect(get).toMatchObject({ method: 'GET', url: '/hook/users?limit=10', body: '' });
    for (const req of [post!, get!]) {
      expect(req.headers['x-idsync-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
      expect(req.headers['x-idsync-timestamp']).toMatch(/^\d+$/);
      expect(verifyRequest({ secret: SECRET, method: req.method, path: req.url, headers: req.headers, body: req.body })).toMatchObject({ ok: true });
    }
    expect(post!.headers['x-idsync-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(post!.headers['x-idsync-delivery']).not.toBe(get!.headers['x-idsync-delivery']);
  });

  it('keeps the query of APP_WEBHOOK_URL and signs the path it sends', async () => {
    const withQuery = createWebhookDirectory({ url: `${broken.url}/?token=abc`, secret: SECRET });
    broken.answer((_req, res) => json(res, 200, user('a b')));
    await withQuery.get('a b');
    await withQuery.close();
    const [req] = broken.requests;
    expect(req!.url).toBe('/hook/users/a%20b?token=abc');
    expect(verifyRequest({ secret: SECRET, method: 'GET', path: req!.url, headers: req!.headers, body: '' })).toMatchObject({ ok: true });
  });

  it('takes a 2xx that is not the promised JSON as transient, without echoing values', async () => {
    const cases: [(res: import('node:http').ServerResponse) => void, RegExp][] = [
      [(res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<html><title>Log in | Site</title></html>'), /with 200 but an HTML page \("Log in \| Site"\)/],
      [(res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"1","created":tr'), /JSON that does not parse \(22 bytes, cut off\?\)/],
      [(res) => void res.writeHead(200).end(), /with 200 but an empty body/],
      [(res) => json(res, 200, { id: '1', created: 'yes', changed: ['secret-value'] }), /unexpected shape \(created: .*expected boolean/],
    ];
    for (const [answer, message] of cases) {
      broken.answer((_req, res) => answer(res));
      const err = await failure(dir.apply(change));
      expect(err).toBeInstanceOf(TransientError);
      expect(err).toMatchObject({ code: 'MALFORMED_RESPONSE', status: 200 });
      expect(err.message).toMatch(/^The webhook answered POST user\.apply with 200 but /);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('secret-value');
    }

    broken.answer((_req, res) => json(res, 200, { users: [{ ...user('1'), email: 12345 }], nextCursor: null }));
    const err = await failure(dir.list().next());
    expect(err.message).toMatch(/GET \/users with 200 but a JSON body of an unexpected shape \(users\.0\.email: .*expected string/);
    expect(err.message).not.toContain('12345');

    broken.answer((_req, res) => json(res, 200, { id: '2', created: false, changed: [] }));
    await expect(failure(dir.apply({ ...change, id: '1' }))).resolves.toMatchObject({ message: expect.stringMatching(/a result for another user/) });
  });

  it('maps each status to the taxonomy', async () => {
    const cases: [number, Record<string, string>, unknown, string, RegExp][] = [
      [500, {}, { error: 'database down' }, 'transient', /^The webhook failed POST user\.apply \(500: database down\)$/],
      [502, { 'content-type': 'text/html' }, '<html><title>502 Bad Gateway</title></html>', 'transient', /\(502: 502 Bad Gateway\)/],
      [408, {}, undefined, 'transient', /408/],
      [425, {}, undefined, 'transient', /425/],
      [503, {}, undefined, 'transient', /503/],
      [429, { 'retry-after': '7' }, undefined, 'throttled', /^The webhook throttled POST user\.apply \(429\)$/],
      [503, { 'retry-after': '2' }, undefined, 'throttled', /throttled/],
      [401, {}, { error: `expected v1=${'ab'.repeat(32)} for secret ${SECRET}` }, 'configuration', /rejected the signature .*\[hex\].*\[secret\].*APP_WEBHOOK_SECRET/],
      [403, { 'content-type': 'text/html' }, '<title>Access denied</title>', 'configuration', /Access denied.*APP_WEBHOOK_URL and APP_WEBHOOK_SECRET/],
      [404, { 'content-type': 'text/html' }, '<title>Page not found</title>', 'configuration', /No webhook answered POST user\.apply at http:\/\/127\.0\.0\.1:\d+\/hook .*check APP_WEBHOOK_URL/],
      [405, {}, undefined, 'configuration', /check APP_WEBHOOK_URL/],
      [302, { location: 'https://sso.example.com/login?token=x' }, undefined, 'configuration', /redirected .*to https:\/\/sso\.example\.com\/login;/],
      [400, {}, { error: 'bad request' }, 'permanent', /refused POST user\.apply \(400: bad request\)/],
      [409, {}, { error: 'duplicate', code: 'DUP' }, 'permanent', /\(409: duplicate\)/],
      [422, {}, { error: 'x'.repeat(500) }, 'permanent', /\(422: x{199}…\)$/],
      [413, {}, undefined, 'permanent', /413/],
    ];
    for (const [status, headers, body, kind, message] of cases) {
      broken.answer((_req, res) => {
        res.writeHead(status, { ...(typeof body === 'object' && { 'content-type': 'application/json' }), ...headers });
        res.end(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
      });
      const err = await failure(dir.apply(change));
      expect([status, errorKind(err)]).toEqual([status, kind]);
      expect(err.message).toMatch(message);
      expect(err.status).toBe(status);
    }
  });

  it('takes Retry-After on a 429 as the pause, in seconds or as a date', async () => {
    broken.answer((_req, res) => void res.writeHead(429, { 'retry-after': '7' }).end());
    await expect(failure(dir.setRoles('1', ['a']))).resolves.toMatchObject({ retryAfterMs: 7000 });
    broken.answer((_req, res) => void res.writeHead(429, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() }).end());
    const err = (await failure(dir.setRoles('1', ['a']))) as ThrottledError;
    expect(err).toBeInstanceOf(ThrottledError);
    expect(err.retryAfterMs).toBeGreaterThan(25_000);
    broken.answer((_req, res) => void res.writeHead(500, { 'retry-after': '3' }).end());
    await expect(failure(dir.setRoles('1', ['a']))).resolves.toMatchObject({ kind: 'transient', nextRetryDelayMs: 3000 });
  });

  it('tells "no such user" (a JSON 404) from "no webhook here" (any other 404)', async () => {
    broken.answer((_req, res) => json(res, 404, { error: 'unknown user' }));
    await expect(dir.get('1')).resolves.toBeNull();
    await expect(dir.setRoles('1', ['a'])).resolves.toBe(false);
    await expect(dir.setPhoto('1', null)).resolves.toBe(false);
    await expect(failure(dir.apply({ ...change, id: '1' }))).resolves.toMatchObject({ kind: 'permanent', code: 'USER_NOT_FOUND', message: expect.stringMatching(/has no user 1 for POST user\.apply/) });
    await expect(failure(dir.apply(change))).resolves.toMatchObject({ kind: 'configuration' });
    await expect(failure(dir.list().next())).resolves.toMatchObject({ kind: 'configuration' });

    broken.answer((_req, res) => void res.writeHead(404).end());
    for (const call of [dir.get('1'), dir.setRoles('1', ['a']), dir.setPhoto('1', null)]) {
      await expect(failure(call)).resolves.toMatchObject({ kind: 'configuration', message: expect.stringMatching(/APP_WEBHOOK_URL/) });
    }
  });

  it('throws when a listing fails mid-way, never ending early', async () => {
    const pageOne = { users: [user('1'), user('2')], nextCursor: 'c2' };
    const listAll = async () => {
      const pages: AppUser[][] = [];
      const err = await (async () => {
        for await (const page of dir.list({ pageSize: 2 })) pages.push(page);
      })().then(
        () => undefined,
        (e: unknown) => e as SyncError,
      );
      return { pages, err };
    };
    const second = [
      (res: import('node:http').ServerResponse) => json(res, 500, { error: 'oops' }),
      (res: import('node:http').ServerResponse) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"users":[{"id":"3"'),
      (res: import('node:http').ServerResponse) => json(res, 200, { users: [user('3')] }),
      (res: import('node:http').ServerResponse) => json(res, 200, { users: [user('3')], nextCursor: 'c2' }),
      (res: import('node:http').ServerResponse) => void res.socket?.destroy(),
    ];
    for (const answer of second) {
      broken.answer((req, res) => (req.url.includes('cursor=') ? answer(res) : json(res, 200, pageOne)));
      const { pages, err } = await listAll();
      expect(pages).toEqual([pageOne.users]);
      expect(err).toBeInstanceOf(TransientError);
    }
    expect(broken.requests.at(-1)?.url).toBe('/hook/users?cursor=c2&limit=2');
  });

  it('maps timeouts, resets, refused connections and aborts to transient errors', async () => {
    broken.answer(() => undefined);
    await expect(failure(dir.get('1'))).resolves.toMatchObject({ kind: 'transient', code: 'ETIMEDOUT', message: expect.stringMatching(/did not answer GET \/users\/\{id\} \(user 1\) within 500 ms/) });

    broken.answer((_req, res) => void res.socket?.destroy());
    await expect(failure(dir.apply(change))).resolves.toMatchObject({ kind: 'transient', code: 'ECONNRESET', message: expect.stringMatching(/reset during POST user\.apply/) });

    const nowhere = createWebhookDirectory({ url: 'http://127.0.0.1:1/hook', secret: SECRET });
    await expect(failure(nowhere.get('1'))).resolves.toMatchObject({ kind: 'transient', code: 'ECONNREFUSED' });
    await nowhere.close();

    broken.answer(() => undefined);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    await expect(failure(dir.setRoles('1', ['a'], { abortSignal: abort.signal }))).resolves.toMatchObject({ kind: 'transient', code: 'ABORTED' });
  });
});
