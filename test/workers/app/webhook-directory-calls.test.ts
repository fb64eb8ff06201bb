// The webhook application side call by call, against a scripted receiver: the exact request
// each method sends (method, path, query, signed headers, body down to the byte), how each
// answer becomes its result, and every way it fails, as the taxonomy's kind, code and full
// message. Listing: page size, cursors, empty pages, and a listing that fails or would never
// end throwing instead of ending early.
import { createHash } from 'node:crypto';
import { errorKind, type SyncError } from '../../../shared/errors.js';
import type { AppPhoto, AppUser } from '../../../workers/app/directory.js';
import type { ApplyRequestBody, PhotoRequestBody, RolesRequestBody } from '../../../workers/app/webhook/protocol.js';
import { verifyRequest } from '../../../workers/app/webhook/signature.js';
import { WebhookDirectory } from '../../../workers/app/webhook/webhook-directory.js';
import { SECRET, hangUp, send, sendJson, silence, startBrokenReceiver, type BrokenReceiver, type SeenRequest } from './webhook-broken-receiver.js';

const TIMEOUT_MS = 100;

const wire = (id: string | number, extra: Record<string, unknown> = {}) => ({ id, username: `user${id}`, email: `user${id}@example.com`, active: true, ...extra });
const appUser = (id: string, extra: Partial<AppUser> = {}): AppUser => ({ id, username: `user${id}`, email: `user${id}@example.com`, active: true, ...extra });

async function caught(call: Promise<unknown>): Promise<SyncError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e as SyncError,
  );
  if (!err) throw new Error('expected the call to fail');
  return err;
}

const view = (err: SyncError) => ({
  kind: errorKind(err),
  message: err.message,
  status: err.status,
  code: err.code,
  retryAfterMs: (err as { retryAfterMs?: number }).retryAfterMs,
  nextRetryDelayMs: (err as { nextRetryDelayMs?: number }).nextRetryDelayMs,
});
const failure = (kind: string, message: string, more: Partial<ReturnType<typeof view>> = {}) => ({
  kind,
  message,
  status: undefined,
  code: undefined,
  retryAfterMs: undefined,
  nextRetryDelayMs: undefined,
  ...more,
});

/** What a request was, and whether it was signed for exactly that (never the MAC itself). */
const request = (r: SeenRequest) => ({
  method: r.method,
  url: r.url,
  body: r.body,
  contentType: r.headers['content-type'],
  signed: verifyRequest({ secret: SECRET, method: r.method, path: r.url, headers: r.headers, body: r.body }).ok,
});
const GET = (url: string) => ({ method: 'GET', url, body: '', contentType: 'application/json', signed: true });
const POST = (body: ApplyRequestBody | RolesRequestBody | PhotoRequestBody) => ({ method: 'POST', url: '/hook', body: JSON.stringify(body), contentType: 'application/json', signed: true });

describe('WebhookDirectory calls', () => {
  let server: BrokenReceiver;
  let dir: WebhookDirectory;
  let url: string;
  const sent = () => server.requests.map(request);

  beforeAll(async () => {
    server = await startBrokenReceiver({ holdIdleConnections: true });
    url = server.url;
  });
  beforeEach(() => {
    server.clear();
    server.answer(send(599, 'text/plain', 'unscripted request'));
    dir = new WebhookDirectory({ url, secret: SECRET, timeoutMs: TIMEOUT_MS });
  });
  afterEach(() => dir.close());
  afterAll(() => server.close());

  /** Every page of a listing, and the error that ended it early, if any. */
  const listAll = async (options: Parameters<WebhookDirectory['list']>[0] = {}) => {
    const pages: AppUser[][] = [];
    try {
      for await (const page of dir.list(options)) pages.push(page);
    } catch (err) {
      return { pages, error: view(err as SyncError) };
    }
    return { pages, error: undefined };
  };

  it('says what it is and where, without credentials or query', async () => {
    const other = new WebhookDirectory({ url: url.replace('http://', 'http://app:pw@') + '?token=abc', secret: SECRET, timeoutMs: 1 });
    expect([other.kind, other.endpoint]).toStrictEqual(['webhook', url]);
    await expect(other.close()).resolves.toBeUndefined();
    expect(() => new WebhookDirectory({ url: 'ftp://app.example.com/', secret: SECRET, timeoutMs: 1 })).toThrow(
      expect.objectContaining({ name: 'ConfigurationError', message: 'APP_WEBHOOK_URL must be an http:// or https:// URL' }),
    );
  });

  it('drops its kept-alive connection on close()', async () => {
    server.queue(sendJson(404, {}));
    await dir.get('1');
    expect(server.openSockets).toBe(1);
    await dir.close();
    await server.connectionsClosed();
    expect(server.openSockets).toBe(0);
  }, 3000);

  describe('get', () => {
    it('reads one user from GET {url}/users/{id}, as the application keeps it', async () => {
      const full = { firstName: 'Ann', lastName: 'Lee', displayName: 'Ann Lee', groups: ['staff'], roles: ['editor'], attributes: { dept: 'Ops', tags: ['a', 'b'] }, photoHash: 'ab'.repeat(32), version: 17 };
      server.queue(sendJson(200, wire('ou=x/y z', full)));
      await expect(dir.get('ou=x/y z')).resolves.toStrictEqual(appUser('ou=x/y z', full));
      expect(sent()).toStrictEqual([GET('/hook/users/ou%3Dx%2Fy%20z')]);
    });

    it('takes a numeric id as a string, null as absent, and drops fields it does not know', async () => {
      server.queue(sendJson(200, { ...wire(42), firstName: null, groups: null, version: null, extra: 'x' }));
      await expect(dir.get('42')).resolves.toStrictEqual(appUser('42'));
    });

    it('takes a user labelled text/html as the user, and judges one of the wrong shape by its shape', async () => {
      server.queue(send(200, 'text/html; charset=UTF-8', JSON.stringify(wire(42))));
      await expect(dir.get('42')).resolves.toStrictEqual(appUser('42'));
      server.queue(send(200, 'text/html; charset=UTF-8', JSON.stringify(wire(42, { email: 12345 }))));
      expect(view(await caught(dir.get('42')))).toStrictEqual(
        failure('transient', 'The webhook answered GET /users/{id} (user 42) with 200 but a JSON body of an unexpected shape (email: Invalid input: expected string, received number)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      );
    });

    it('takes any 2xx with a user as the user', async () => {
      server.queue(sendJson(203, wire(42)));
      await expect(dir.get('42')).resolves.toStrictEqual(appUser('42'));
    });

    it('answers null for a JSON 404, the receiver’s "no such user"', async () => {
      server.queue(sendJson(404, { error: 'unknown user' }));
      await expect(dir.get('42')).resolves.toBeNull();
      expect(sent()).toStrictEqual([GET('/hook/users/42')]);
    });

    it.each<[string, ReturnType<typeof send>, ReturnType<typeof failure>]>([
      ['a 404 page as nothing at the address', send(404, 'text/html', '<title>Not Found</title>'), failure('configuration', 'No webhook answered GET /users/{id} (user 42) at __URL__ (404: Not Found); check APP_WEBHOOK_URL', { status: 404 })],
      ['an empty 404 as nothing at the address', send(404, '', ''), failure('configuration', 'No webhook answered GET /users/{id} (user 42) at __URL__ (404); check APP_WEBHOOK_URL', { status: 404 })],
      [
        'a user of the wrong shape as transient, without its values',
        sendJson(200, wire(42, { email: 12345 })),
        failure('transient', 'The webhook answered GET /users/{id} (user 42) with 200 but a JSON body of an unexpected shape (email: Invalid input: expected string, received number)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      ],
      [
        'another user than the one asked for as transient',
        sendJson(200, wire(43)),
        failure('transient', 'The webhook answered GET /users/{id} (user 42) with 200 but another user (a read must answer with the user it names)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      ],
      ['an empty 200 as transient', send(200, 'application/json', ''), failure('transient', 'The webhook answered GET /users/{id} (user 42) with 200 but an empty body', { status: 200, code: 'MALFORMED_RESPONSE' })],
      [
        'a login page as transient',
        send(200, 'text/html', '<html><title>Log in</title></html>'),
        failure('transient', 'The webhook answered GET /users/{id} (user 42) with 200 but an HTML page ("Log in") instead of JSON; is a login page or proxy in front of the webhook?', { status: 200, code: 'MALFORMED_RESPONSE' }),
      ],
      ['a 500 as transient', sendJson(500, { error: 'db down' }), failure('transient', 'The webhook failed GET /users/{id} (user 42) (500: db down)', { status: 500 })],
      // 300 is a redirect too, however much it looks like the end of the 2xx range.
      [
        'a 300 with a user as configuration',
        sendJson(300, wire(42)),
        failure('configuration', 'The webhook redirected GET /users/{id} (user 42) (300) to nowhere; APP_WEBHOOK_URL must point straight at the receiver (a redirect would break the signature)', { status: 300 }),
      ],
      ['a 429 as throttled', send(429, '', '', { 'retry-after': '5' }), failure('throttled', 'The webhook throttled GET /users/{id} (user 42) (429)', { status: 429, retryAfterMs: 5000 })],
      [
        'a 401 as configuration',
        sendJson(401, { error: 'invalid signature' }),
        failure('configuration', "The webhook at __URL__ rejected the signature of GET /users/{id} (user 42) (401: invalid signature); check that APP_WEBHOOK_SECRET is the receiver's secret and that both clocks are within 300 s", { status: 401 }),
      ],
      ['a 400 as permanent', sendJson(400, { error: 'bad id', code: 'BAD_ID' }), failure('permanent', 'The webhook refused GET /users/{id} (user 42) (400: bad id)', { status: 400, code: 'BAD_ID' })],
      ['no answer in time as transient, not as a write', silence, failure('transient', `The webhook did not answer GET /users/{id} (user 42) within ${TIMEOUT_MS} ms`, { code: 'ETIMEDOUT' })],
      ['a reset as transient, not as a write', hangUp, failure('transient', 'The connection to the webhook was reset during GET /users/{id} (user 42)', { code: 'ECONNRESET' })],
    ])('takes %s', async (_, answer, want) => {
      server.queue(answer);
      expect(view(await caught(dir.get('42')))).toStrictEqual({ ...want, message: want.message.replace('__URL__', url) });
      expect(sent()).toStrictEqual([GET('/hook/users/42')]);
    });

    it('refuses an id a URL would resolve away, without a request', async () => {
      expect(view(await caught(dir.get('..')))).toStrictEqual(failure('permanent', 'The id ".." cannot be sent in a webhook URL path', { code: 'INVALID_ID' }));
      expect(sent()).toStrictEqual([]);
    });

    it('stops at an abort, as a shutdown', async () => {
      const abort = new AbortController();
      server.queue(() => abort.abort());
      expect(view(await caught(dir.get('42', { abortSignal: abort.signal })))).toStrictEqual(failure('transient', 'GET /users/{id} (user 42) to the webhook was aborted (shutdown)', { code: 'ABORTED' }));
    });
  });

  describe('list', () => {
    it('asks for 1000 users a page by default, without a cursor on the first', async () => {
      server.queue(sendJson(200, { users: [wire(1)], nextCursor: null }));
      await expect(listAll()).resolves.toStrictEqual({ pages: [[appUser('1')]], error: undefined });
      expect(sent()).toStrictEqual([GET('/hook/users?limit=1000')]);
    });

    it('follows nextCursor until null, a page at a time', async () => {
      server.queue(
        sendJson(200, { users: [wire(1), wire(2, { version: 3 })], nextCursor: 'c2' }),
        sendJson(200, { users: [wire(3, { firstName: null })], nextCursor: null }),
      );
      await expect(listAll({ pageSize: 2 })).resolves.toStrictEqual({ pages: [[appUser('1'), appUser('2', { version: 3 })], [appUser('3')]], error: undefined });
      expect(sent()).toStrictEqual([GET('/hook/users?limit=2'), GET('/hook/users?cursor=c2&limit=2')]);
    });

    it.each<[number, number]>([
      [2.9, 2],
      [1, 1],
      [0.5, 1],
      [0, 1],
      [-5, 1],
      [5000, 5000],
    ])('asks for a page size of %p as limit=%p', async (pageSize, limit) => {
      server.queue(sendJson(200, { users: [], nextCursor: null }));
      await listAll({ pageSize });
      expect(sent()).toStrictEqual([GET(`/hook/users?limit=${limit}`)]);
    });

    it('passes the cursor on exactly, form-encoded', async () => {
      server.queue(sendJson(200, { users: [], nextCursor: 'a+b/c= d&e' }), sendJson(200, { users: [], nextCursor: null }));
      await listAll({ pageSize: 3 });
      expect(sent()).toStrictEqual([GET('/hook/users?limit=3'), GET('/hook/users?cursor=a%2Bb%2Fc%3D+d%26e&limit=3')]);
    });

    it('yields no empty page, yet keeps paging past one', async () => {
      server.queue(
        sendJson(200, { users: [], nextCursor: 'c2' }),
        sendJson(200, { users: [wire(1)], nextCursor: 'c3' }),
        sendJson(200, { users: [], nextCursor: null }),
      );
      await expect(listAll({ pageSize: 1 })).resolves.toStrictEqual({ pages: [[appUser('1')]], error: undefined });
      expect(sent().map((r) => r.url)).toStrictEqual(['/hook/users?limit=1', '/hook/users?cursor=c2&limit=1', '/hook/users?cursor=c3&limit=1']);
    });

    it('lists nothing from an empty receiver', async () => {
      server.queue(sendJson(200, { users: [], nextCursor: null }));
      await expect(listAll()).resolves.toStrictEqual({ pages: [], error: undefined });
    });

    it('asks for the next page only when it is wanted', async () => {
      server.queue(sendJson(200, { users: [wire(1)], nextCursor: 'c2' }));
      const pages = dir.list({ pageSize: 1 });
      expect(sent()).toStrictEqual([]);
      await expect(pages.next()).resolves.toStrictEqual({ done: false, value: [appUser('1')] });
      expect(sent()).toHaveLength(1);
      await expect(pages.return!(undefined)).resolves.toStrictEqual({ done: true, value: undefined });
      expect(sent()).toHaveLength(1);
    });

    it('throws instead of paging forever when the cursors go round in a loop', async () => {
      server.queue(
        sendJson(200, { users: [wire(1)], nextCursor: 'c1' }),
        sendJson(200, { users: [wire(2)], nextCursor: 'c2' }),
        sendJson(200, { users: [wire(3)], nextCursor: 'c1' }),
      );
      await expect(listAll({ pageSize: 1 })).resolves.toStrictEqual({
        pages: [[appUser('1')], [appUser('2')]],
        error: failure('transient', 'The webhook answered GET /users with 200 but a cursor it had already given as nextCursor (the listing would never end)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      });
      expect(sent()).toHaveLength(3);
    });

    it('asks for the default page size when given one that is not a number', async () => {
      for (const pageSize of [Number.NaN, Number.POSITIVE_INFINITY]) {
        server.queue(sendJson(200, { users: [], nextCursor: null }));
        await expect(listAll({ pageSize })).resolves.toStrictEqual({ pages: [], error: undefined });
      }
      expect(sent()).toStrictEqual([GET('/hook/users?limit=1000'), GET('/hook/users?limit=1000')]);
    });

    it('throws instead of paging forever when handed back its own cursor', async () => {
      server.queue(sendJson(200, { users: [wire(1)], nextCursor: 'c2' }), sendJson(200, { users: [wire(2)], nextCursor: 'c2' }));
      await expect(listAll({ pageSize: 1 })).resolves.toStrictEqual({
        pages: [[appUser('1')]],
        error: failure('transient', 'The webhook answered GET /users with 200 but a cursor it had already given as nextCursor (the listing would never end)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      });
      expect(sent()).toHaveLength(2);
    });

    it.each<[string, ReturnType<typeof send>, ReturnType<typeof failure>]>([
      [
        'a page without nextCursor, never as the end',
        sendJson(200, { users: [wire(3)] }),
        failure('transient', 'The webhook answered GET /users with 200 but a JSON body of an unexpected shape (nextCursor: Invalid input: expected string, received undefined)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      ],
      [
        'a page with an empty nextCursor',
        sendJson(200, { users: [], nextCursor: '' }),
        failure('transient', 'The webhook answered GET /users with 200 but a JSON body of an unexpected shape (nextCursor: Too small: expected string to have >=1 characters)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      ],
      [
        'a bad user, naming where but not what',
        sendJson(200, { users: [wire(3), wire(4, { username: '' })], nextCursor: null }),
        failure('transient', 'The webhook answered GET /users with 200 but a JSON body of an unexpected shape (users.1.username: Too small: expected string to have >=1 characters)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      ],
      ['a cut-off page', send(200, 'application/json', '{"users":[{"id":"3"'), failure('transient', 'The webhook answered GET /users with 200 but JSON that does not parse (19 bytes, cut off?)', { status: 200, code: 'MALFORMED_RESPONSE' })],
      ['a 500', sendJson(500, { error: 'oops' }), failure('transient', 'The webhook failed GET /users (500: oops)', { status: 500 })],
      // A listing is about no user, so a JSON 404 means nothing speaks the protocol here.
      ['a JSON 404', sendJson(404, { error: 'unknown user' }), failure('configuration', 'No webhook answered GET /users at __URL__ (404: unknown user); check APP_WEBHOOK_URL', { status: 404 })],
      ['a 503 with Retry-After', send(503, '', '', { 'retry-after': '1.5' }), failure('throttled', 'The webhook throttled GET /users (503)', { status: 503, retryAfterMs: 1500 })],
      ['no answer in time', silence, failure('transient', `The webhook did not answer GET /users within ${TIMEOUT_MS} ms`, { code: 'ETIMEDOUT' })],
      ['a reset', hangUp, failure('transient', 'The connection to the webhook was reset during GET /users', { code: 'ECONNRESET' })],
    ])('fails mid-way on %s, keeping the pages it had', async (_, answer, want) => {
      server.queue(sendJson(200, { users: [wire(1), wire(2)], nextCursor: 'c2' }), answer);
      await expect(listAll({ pageSize: 2 })).resolves.toStrictEqual({ pages: [[appUser('1'), appUser('2')]], error: { ...want, message: want.message.replace('__URL__', url) } });
      expect(sent()).toStrictEqual([GET('/hook/users?limit=2'), GET('/hook/users?cursor=c2&limit=2')]);
    });

    it('stops at an abort on any page, as a shutdown', async () => {
      const abort = new AbortController();
      server.queue(sendJson(200, { users: [wire(1)], nextCursor: 'c2' }), () => abort.abort());
      await expect(listAll({ pageSize: 1, abortSignal: abort.signal })).resolves.toStrictEqual({
        pages: [[appUser('1')]],
        error: failure('transient', 'GET /users to the webhook was aborted (shutdown)', { code: 'ABORTED' }),
      });
    });
  });

  describe('apply', () => {
    const values = { username: 'alice', email: 'alice@example.com', displayName: null, active: false, groups: ['staff'], attributes: { dept: 'Ops' } };

    it('creates (or adopts) with a POST of user.apply without an id', async () => {
      server.queue(sendJson(200, { id: 9, created: true, changed: ['username', 'email'] }));
      await expect(dir.apply({ values, source: 'crowd', remoteId: 'k-1' })).resolves.toStrictEqual({ id: '9', created: true, changed: ['username', 'email'] });
      expect(sent()).toStrictEqual([POST({ type: 'user.apply', values, source: 'crowd', remoteId: 'k-1' })]);
    });

    it('takes an adoption (created: false, any id) as the answer to a create', async () => {
      server.queue(sendJson(200, { id: '3', created: false, changed: [] }));
      await expect(dir.apply({ values, source: 'entra' })).resolves.toStrictEqual({ id: '3', created: false, changed: [] });
      expect(sent()).toStrictEqual([POST({ type: 'user.apply', values, source: 'entra' })]);
    });

    it('updates with the id first, leaving out a remote id it does not have', async () => {
      server.queue(sendJson(200, { id: 42, created: false, changed: ['displayName'], extra: true }));
      await expect(dir.apply({ id: '42', values: { displayName: null }, source: 'entra' })).resolves.toStrictEqual({ id: '42', created: false, changed: ['displayName'] });
      expect(sent()).toStrictEqual([POST({ type: 'user.apply', id: '42', values: { displayName: null }, source: 'entra' })]);
      expect(server.requests[0]!.body).toBe('{"type":"user.apply","id":"42","values":{"displayName":null},"source":"entra"}');
    });

    const answered = (rest: string) => failure('transient', `The webhook answered POST user.apply (user 42) with 200 but ${rest}`, { status: 200, code: 'MALFORMED_RESPONSE' });
    const another = answered('a result for another user (an update must answer with its own id and created: false)');

    it.each<[string, ReturnType<typeof send>, ReturnType<typeof failure>]>([
      ['an update answered for another user', sendJson(200, { id: '43', created: false, changed: [] }), another],
      ['an update answered as a create', sendJson(200, { id: '42', created: true, changed: ['username'] }), another],
      ['a result without changed', sendJson(200, { id: '42', created: false }), answered('a JSON body of an unexpected shape (changed: Invalid input: expected array, received undefined)')],
      ['an empty 200', send(200, '', ''), answered('an empty body')],
      ['a cut-off 200', send(200, 'application/json', '{"id":"42","crea'), answered('JSON that does not parse (16 bytes, cut off?)')],
      ['a JSON 404 as a missing user', sendJson(404, { error: 'unknown user' }), failure('permanent', 'The webhook has no user 42 for POST user.apply (user 42) (404: unknown user)', { status: 404, code: 'USER_NOT_FOUND' })],
      ['a 409 as permanent', sendJson(409, { error: 'another user has this username', code: 'TAKEN' }), failure('permanent', 'The webhook refused POST user.apply (user 42) (409: another user has this username)', { status: 409, code: 'TAKEN' })],
      ['a 502 as transient', send(502, 'text/html', '<title>502 Bad Gateway</title>'), failure('transient', 'The webhook failed POST user.apply (user 42) (502: 502 Bad Gateway)', { status: 502 })],
      ['a 403 as configuration', send(403, '', ''), failure('configuration', 'The webhook at __URL__, or something in front of it, refused POST user.apply (user 42) (403); check APP_WEBHOOK_URL and APP_WEBHOOK_SECRET, and any login or firewall in front of the application', { status: 403 })],
      ['no answer in time as a write that may have been applied', silence, failure('transient', `The webhook did not answer POST user.apply (user 42) within ${TIMEOUT_MS} ms (a write may still have been applied)`, { code: 'ETIMEDOUT' })],
      ['a reset as a write that may have been applied', hangUp, failure('transient', 'The connection to the webhook was reset during POST user.apply (user 42) (a write may still have been applied)', { code: 'ECONNRESET' })],
    ])('fails an update on %s', async (_, answer, want) => {
      server.queue(answer);
      expect(view(await caught(dir.apply({ id: '42', values: { active: true }, source: 'crowd' })))).toStrictEqual({ ...want, message: want.message.replace('__URL__', url) });
      expect(sent()).toHaveLength(1);
    });

    it('takes a JSON 404 to a create as nothing at the address', async () => {
      server.queue(sendJson(404, { error: 'no route' }));
      expect(view(await caught(dir.apply({ values, source: 'crowd' })))).toStrictEqual(failure('configuration', `No webhook answered POST user.apply at ${url} (404: no route); check APP_WEBHOOK_URL`, { status: 404 }));
    });

    it('stops at an abort, as a shutdown', async () => {
      const abort = new AbortController();
      server.queue(() => abort.abort());
      expect(view(await caught(dir.apply({ values, source: 'crowd' }, { abortSignal: abort.signal })))).toStrictEqual(failure('transient', 'POST user.apply to the webhook was aborted (shutdown)', { code: 'ABORTED' }));
    });
  });

  describe('setRoles and setPhoto', () => {
    // Bytes whose base64 has `+`, `/` and padding, which base64url would spell otherwise.
    const data = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xfb, 0xff, 0xfe]);
    const photo: AppPhoto = { hash: createHash('sha256').update(data).digest('hex'), contentType: 'image/png', data };
    const calls: [string, (d: WebhookDirectory, signal?: AbortSignal) => Promise<boolean>, string, ReturnType<typeof POST>][] = [
      ['setRoles', (d, signal) => d.setRoles('42', Object.freeze(['editor', 'admin']), { ...(signal && { abortSignal: signal }) }), 'user.roles', POST({ type: 'user.roles', id: '42', roles: ['editor', 'admin'] })],
      ['setRoles with no roles', (d, signal) => d.setRoles('42', [], { ...(signal && { abortSignal: signal }) }), 'user.roles', POST({ type: 'user.roles', id: '42', roles: [] })],
      [
        'setPhoto',
        (d, signal) => d.setPhoto('42', photo, { ...(signal && { abortSignal: signal }) }),
        'user.photo',
        POST({ type: 'user.photo', id: '42', photo: { hash: photo.hash, contentType: 'image/png', data: 'iVBOR/v//g==' } }),
      ],
      ['setPhoto with null', (d, signal) => d.setPhoto('42', null, { ...(signal && { abortSignal: signal }) }), 'user.photo', POST({ type: 'user.photo', id: '42', photo: null })],
    ];

    describe.each(calls)('%s', (_, call, resource, body) => {
      it.each<[string, ReturnType<typeof send>]>([
        ['a 200 with JSON', sendJson(200, { ok: true })],
        ['a 204', send(204, '', '')],
        ['a 200 of another shape', sendJson(200, ['anything'])],
        // PHP labels whatever it sends text/html unless told otherwise: JSON or nothing is no page.
        ['JSON labelled text/html', send(200, 'text/html; charset=UTF-8', '{"ok":true}')],
        ['an empty 200 labelled text/html', send(200, 'text/html; charset=UTF-8', '')],
        ['a blank 200 labelled text/html', send(200, 'text/html; charset=UTF-8', ' \r\n')],
      ])('posts its change and answers true for %s, whatever the body', async (_label, answer) => {
        server.queue(answer);
        await expect(call(dir)).resolves.toBe(true);
        expect(sent()).toStrictEqual([body]);
      });

      it('answers false for a JSON 404, the receiver’s "no such user"', async () => {
        server.queue(sendJson(404, { error: 'unknown user' }));
        await expect(call(dir)).resolves.toBe(false);
        expect(sent()).toStrictEqual([body]);
      });

      it('answers false for a JSON 404 labelled text/html', async () => {
        server.queue(send(404, 'text/html; charset=UTF-8', '{"error":"unknown user"}'));
        await expect(call(dir)).resolves.toBe(false);
      });

      it.each<[string, ReturnType<typeof send>, (what: string) => ReturnType<typeof failure>]>([
        ['a 404 page as nothing at the address', send(404, 'text/html', '<title>Not Found</title>'), (what) => failure('configuration', `No webhook answered ${what} at __URL__ (404: Not Found); check APP_WEBHOOK_URL`, { status: 404 })],
        ['a 422 as permanent', sendJson(422, { error: 'hash does not match', code: 'BAD' }), (what) => failure('permanent', `The webhook refused ${what} (422: hash does not match)`, { status: 422, code: 'BAD' })],
        ['a 500 as transient', send(500, '', ''), (what) => failure('transient', `The webhook failed ${what} (500)`, { status: 500 })],
        ['a 429 as throttled', send(429, '', ''), (what) => failure('throttled', `The webhook throttled ${what} (429)`, { status: 429, retryAfterMs: 1000 })],
        // A login page on a 2xx is a proxy answering: the change was not applied.
        ['a login page on a 200 as transient', send(200, 'text/html', '<html><title>Log in</title></html>'), (what) => failure('transient', `The webhook answered ${what} with 200 but an HTML page ("Log in") instead of JSON; is a login page or proxy in front of the webhook?`, { status: 200, code: 'MALFORMED_RESPONSE' })],
        ['a 301 as configuration', send(301, '', '', { location: 'https://app.example.com/hook/' }), (what) => failure('configuration', `The webhook redirected ${what} (301) to https://app.example.com/hook/; APP_WEBHOOK_URL must point straight at the receiver (a redirect would break the signature)`, { status: 301 })],
        ['no answer in time as a write that may have been applied', silence, (what) => failure('transient', `The webhook did not answer ${what} within ${TIMEOUT_MS} ms (a write may still have been applied)`, { code: 'ETIMEDOUT' })],
        ['a reset as a write that may have been applied', hangUp, (what) => failure('transient', `The connection to the webhook was reset during ${what} (a write may still have been applied)`, { code: 'ECONNRESET' })],
      ])('fails on %s', async (_label, answer, want) => {
        server.queue(answer);
        const expected = want(`POST ${resource} (user 42)`);
        expect(view(await caught(call(dir)))).toStrictEqual({ ...expected, message: expected.message.replace('__URL__', url) });
        expect(sent()).toStrictEqual([body]);
      });

      it('stops at an abort, as a shutdown', async () => {
        const abort = new AbortController();
        server.queue(() => abort.abort());
        expect(view(await caught(call(dir, abort.signal)))).toStrictEqual(failure('transient', `POST ${resource} (user 42) to the webhook was aborted (shutdown)`, { code: 'ABORTED' }));
      });
    });
  });
});
