// The webhook's HTTP client against a scripted receiver: the request line and headers it sends
// (signed over exactly that request line and body), how it builds paths and queries under
// APP_WEBHOOK_URL, how it reads a reply, which replies it hands back and which it turns into
// errors of the shared taxonomy, what happens when no reply comes, and its connections (kept
// alive, reused last-freed first, dropped by close()). Messages are asserted in full; no
// assertion prints the secret or a MAC.
import { mkdtemp, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { errorKind, type SyncError } from '../../../shared/errors.js';
import { issueServerCertificate, loadOrCreateAuthority } from '../../../emulators/entra/certificates.js';
import { WebhookClient, type WebhookRequest } from '../../../workers/app/webhook/client.js';
import type { RawReply, WebhookCall } from '../../../workers/app/webhook/errors.js';
import { HEADERS, REPLAY_WINDOW_MS } from '../../../workers/app/webhook/protocol.js';
import { verifyRequest } from '../../../workers/app/webhook/signature.js';
import { SECRET, cutOff, hangUp, json, send, sendJson, silence, startBrokenReceiver, type BrokenReceiver, type SeenRequest } from './webhook-broken-receiver.js';

const TIMEOUT_MS = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const list: WebhookRequest = { method: 'GET', resource: '/users', segments: ['users'], query: { limit: 2 } };
const getUser: WebhookRequest = { method: 'GET', resource: '/users/{id}', userId: '7', segments: ['users', '7'] };
const roles: WebhookRequest = { method: 'POST', resource: 'user.roles', userId: '7', json: { type: 'user.roles', id: '7', roles: ['editor'] } };

/** The thrown value of a call that must fail. */
async function caught(call: Promise<unknown>): Promise<SyncError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e as SyncError,
  );
  if (!err) throw new Error('expected the call to fail');
  return err;
}

// Everything a runtime decision or an operator depends on, in one comparable shape.
const view = (err: SyncError) => ({
  kind: errorKind(err),
  message: err.message,
  status: err.status,
  code: err.code,
  retryAfterMs: (err as { retryAfterMs?: number }).retryAfterMs,
  nextRetryDelayMs: (err as { nextRetryDelayMs?: number }).nextRetryDelayMs,
  cause: err.cause,
});
const failure = (kind: string, message: string, more: Partial<ReturnType<typeof view>> = {}) => ({
  kind,
  message,
  status: undefined,
  code: undefined,
  retryAfterMs: undefined,
  nextRetryDelayMs: undefined,
  cause: undefined,
  ...more,
});

/**
 * A request's headers with the signing headers replaced by what they were checked to be, so a
 * failing comparison shows which one is wrong without printing a MAC.
 */
function headerView(req: SeenRequest, secret = SECRET) {
  const { 'x-idsync-signature': signature, 'x-idsync-delivery': delivery, 'x-idsync-timestamp': timestamp, ...rest } = req.headers;
  const verdict = verifyRequest({ secret, method: req.method, path: req.url, headers: req.headers, body: req.body });
  return {
    ...rest,
    'x-idsync-signature': typeof signature === 'string' && /^v1=[0-9a-f]{64}$/.test(signature) ? 'v1=<64 hex digits>' : 'not one v1 entry',
    'x-idsync-delivery': typeof delivery === 'string' && UUID.test(delivery) ? '<uuid>' : delivery,
    'x-idsync-timestamp': Math.abs(Number(timestamp) - Date.now() / 1000) <= 5 ? '<now>' : timestamp,
    verified: verdict.ok,
  };
}

const sent = (server: BrokenReceiver) => server.requests.map((r) => ({ method: r.method, url: r.url, body: r.body }));

describe('WebhookClient', () => {
  let server: BrokenReceiver;
  let client: WebhookClient;
  let host: string;
  const clients: WebhookClient[] = [];
  /** A client of its own (closed after the test). */
  const newClient = (url = server.url, options: { secret?: string; timeoutMs?: number } = {}) => {
    const c = new WebhookClient({ url, secret: options.secret ?? SECRET, timeoutMs: options.timeoutMs ?? TIMEOUT_MS });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await startBrokenReceiver({ holdIdleConnections: true });
    host = new URL(server.url).host;
  });
  beforeEach(() => {
    server.clear();
    server.answer(send(599, 'text/plain', 'unscripted request'));
    client = newClient();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => server.close());

  describe('protocol constants', () => {
    it('names the three signing headers and a 300 s replay window', () => {
      expect(HEADERS).toStrictEqual({ timestamp: 'X-Idsync-Timestamp', signature: 'X-Idsync-Signature', delivery: 'X-Idsync-Delivery' });
      expect(REPLAY_WINDOW_MS).toBe(300_000);
    });
  });

  describe('construction', () => {
    it.each([
      ['an address that does not parse', 'not a url'],
      ['a relative address', '/idsync'],
      ['an FTP address', 'ftp://app.example.com/idsync'],
      ['a file address', 'file:///var/www/idsync'],
      ['a scheme that only ends in http', 'xhttp://app.example.com/idsync'],
      ['a scheme that only starts with https', 'https2://app.example.com/idsync'],
    ])('refuses %s as a configuration error', (_, url) => {
      expect(() => new WebhookClient({ url, secret: SECRET, timeoutMs: 1 })).toThrow(
        expect.objectContaining({ name: 'ConfigurationError', message: 'APP_WEBHOOK_URL must be an http:// or https:// URL', code: undefined, status: undefined }),
      );
    });

    it('refuses an empty secret, after the address', () => {
      expect(() => new WebhookClient({ url: server.url, secret: '', timeoutMs: 1 })).toThrow(
        expect.objectContaining({ name: 'ConfigurationError', message: 'APP_WEBHOOK_SECRET must not be empty' }),
      );
      expect(() => new WebhookClient({ url: 'ftp://x/', secret: '', timeoutMs: 1 })).toThrow('APP_WEBHOOK_URL must be an http:// or https:// URL');
    });

    it('shows its address without credentials, query or fragment', () => {
      expect(newClient('HTTPS://u:p@App.Example.com:8443/idsync/in?token=abc#top').endpoint).toBe('https://app.example.com:8443/idsync/in');
      expect(newClient('http://app.example.com').endpoint).toBe('http://app.example.com/');
      expect(client.endpoint).toBe(server.url);
    });
  });

  describe('the request', () => {
    it('sends a GET below the address with its query, no body, and signs it', async () => {
      server.queue(sendJson(200, {}));
      await client.send({ ...list, query: { cursor: 'c2', limit: 2 } });
      expect(sent(server)).toStrictEqual([{ method: 'GET', url: '/hook/users?cursor=c2&limit=2', body: '' }]);
      expect(headerView(server.requests[0]!)).toStrictEqual({
        host,
        'user-agent': 'idsync',
        accept: 'application/json',
        'content-type': 'application/json',
        'accept-encoding': 'gzip, deflate, br',
        connection: 'keep-alive',
        'x-idsync-signature': 'v1=<64 hex digits>',
        'x-idsync-delivery': '<uuid>',
        'x-idsync-timestamp': '<now>',
        verified: true,
      });
    });

    it('sends a POST to the address itself with the JSON body it signed', async () => {
      server.queue(sendJson(200, {}));
      await client.send({ method: 'POST', resource: 'user.apply', json: { type: 'user.apply', values: { firstName: 'Zoë' }, source: 'crowd' } });
      const body = '{"type":"user.apply","values":{"firstName":"Zoë"},"source":"crowd"}';
      expect(sent(server)).toStrictEqual([{ method: 'POST', url: '/hook', body }]);
      expect(headerView(server.requests[0]!)).toStrictEqual({
        host,
        'user-agent': 'idsync',
        accept: 'application/json',
        'content-type': 'application/json',
        // Bytes, not characters: the ë is two.
        'content-length': String(body.length + 1),
        'accept-encoding': 'gzip, deflate, br',
        connection: 'keep-alive',
        'x-idsync-signature': 'v1=<64 hex digits>',
        'x-idsync-delivery': '<uuid>',
        'x-idsync-timestamp': '<now>',
        verified: true,
      });
    });

    it('sends and signs an empty body for a POST without JSON', async () => {
      server.queue(sendJson(200, {}));
      await client.send({ method: 'POST', resource: 'user.apply' });
      expect(sent(server)).toStrictEqual([{ method: 'POST', url: '/hook', body: '' }]);
      expect(headerView(server.requests[0]!)).toMatchObject({ 'content-length': '0', verified: true });
    });

    it('sends a GET given JSON without a body, signed over the empty body it sent', async () => {
      server.queue(sendJson(200, {}));
      await client.send({ ...list, json: { ignored: true } });
      expect(sent(server)).toStrictEqual([{ method: 'GET', url: '/hook/users?limit=2', body: '' }]);
      expect(headerView(server.requests[0]!).verified).toBe(true);
    });

    it('signs with its own secret only', async () => {
      server.queue(sendJson(200, {}));
      await client.send(list);
      expect(headerView(server.requests[0]!, 'another-secret-entirely').verified).toBe(false);
    });

    it('gives every request a new delivery id', async () => {
      server.queue(sendJson(200, {}), sendJson(200, {}));
      await client.send(roles);
      await client.send(roles);
      const [first, second] = server.requests.map((r) => r.headers['x-idsync-delivery']);
      expect(first === second).toBe(false);
    });

    it('passes credentials in the address on as basic authentication', async () => {
      server.queue(sendJson(200, {}));
      await newClient(server.url.replace('http://', 'http://app:p%40ss@')).send(list);
      expect(server.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('app:p@ss').toString('base64')}`);
      expect(headerView(server.requests[0]!).verified).toBe(true);
    });

    it.each<[string, string, WebhookRequest, string]>([
      ['one segment per id, percent-encoded', '/hook', { ...getUser, segments: ['users', 'ou=x/y z?&#%ü'] }, '/hook/users/ou%3Dx%2Fy%20z%3F%26%23%25%C3%BC'],
      ['a dot inside an id', '/hook', { ...getUser, segments: ['users', 'a.b', '...'] }, '/hook/users/a.b/...'],
      ['the trailing slashes of the address once', '/hook//', list, '/hook/users?limit=2'],
      ['an address at the root', '', list, '/users?limit=2'],
      ['the root itself', '/', { method: 'POST', resource: 'user.apply' }, '/'],
      ['the address’s own query first', '/hook?token=abc&q=idsync', { ...list, query: { cursor: 'c', limit: 5 } }, '/hook/users?token=abc&q=idsync&cursor=c&limit=5'],
      ['a parameter of the address replaced in place', '/hook?limit=9&token=abc', list, '/hook/users?limit=2&token=abc'],
      ['no parameter that is undefined', '/hook', { ...list, query: { cursor: undefined, limit: 0 } }, '/hook/users?limit=0'],
      ['parameter values form-encoded', '/hook', { ...list, query: { cursor: 'a+b/c= d&e' } }, '/hook/users?cursor=a%2Bb%2Fc%3D+d%26e'],
      ['no fragment', '/hook#top', list, '/hook/users?limit=2'],
    ])('builds the path with %s, and signs it as sent', async (_, path, request, url) => {
      server.queue(sendJson(200, {}));
      await newClient(`http://${host}${path}`).send(request);
      expect(sent(server)).toStrictEqual([{ method: request.method, url, body: '' }]);
      expect(headerView(server.requests[0]!).verified).toBe(true);
    });

    it.each(['.', '..'])('refuses the id "%s", which a URL would resolve away, without sending anything', async (id) => {
      const err = await caught(client.send({ ...getUser, userId: id, segments: ['users', id] }));
      expect(view(err)).toStrictEqual(failure('permanent', `The id "${id}" cannot be sent in a webhook URL path`, { code: 'INVALID_ID' }));
      expect(server.requests).toStrictEqual([]);
    });
  });

  describe('the reply', () => {
    // A reply as handed back, without the headers Node adds on its own.
    const read = (r: RawReply) => ({ ...r, headers: { 'x-extra': r.headers['x-extra'] } });

    it.each<[string, ReturnType<typeof send>, Omit<RawReply, 'headers'>]>([
      ['a JSON body, its type in lower case', send(200, 'Application/JSON; Charset=UTF-8', '{"a":[1]}', { 'x-extra': 'yes' }), { status: 200, text: '{"a":[1]}', contentType: 'application/json; charset=utf-8', json: { a: [1] }, malformed: false }],
      ['JSON sent as an HTML page', send(201, 'text/html', ' {"id":"1"} ', { 'x-extra': 'yes' }), { status: 201, text: ' {"id":"1"} ', contentType: 'text/html', json: { id: '1' }, malformed: false }],
      ['JSON null', send(200, 'application/json', 'null', { 'x-extra': 'yes' }), { status: 200, text: 'null', contentType: 'application/json', json: null, malformed: false }],
      ['no content', send(204, '', '', { 'x-extra': 'yes' }), { status: 204, text: '', contentType: '', json: undefined, malformed: false }],
      ['a blank body', send(299, 'application/json', ' \n\t', { 'x-extra': 'yes' }), { status: 299, text: ' \n\t', contentType: 'application/json', json: undefined, malformed: false }],
      ['a body that is not JSON', send(200, 'text/plain', 'OK', { 'x-extra': 'yes' }), { status: 200, text: 'OK', contentType: 'text/plain', json: undefined, malformed: true }],
      ['cut-off JSON', send(200, 'application/json', '{"users":[', { 'x-extra': 'yes' }), { status: 200, text: '{"users":[', contentType: 'application/json', json: undefined, malformed: true }],
    ])('hands back a 2xx with %s', async (_, answer, reply) => {
      server.queue(answer);
      expect(read(await client.send(list))).toStrictEqual({ ...reply, headers: { 'x-extra': 'yes' } });
    });

    it('hands back a JSON 404 about an unknown user when asked to', async () => {
      server.queue(sendJson(404, { error: 'unknown user' }), send(404, 'application/json', 'null'));
      await expect(client.send({ ...roles, acceptUnknownUser: true })).resolves.toMatchObject({ status: 404, json: { error: 'unknown user' }, malformed: false });
      await expect(client.send({ ...roles, acceptUnknownUser: true })).resolves.toMatchObject({ status: 404, json: null });
    });

    const notFound = (detail: string) =>
      failure('configuration', `No webhook answered POST user.roles (user 7) at ${server.url} (${detail}); check APP_WEBHOOK_URL`, { status: 404 });

    it.each<[string, ReturnType<typeof send>, string]>([
      ['an empty body', send(404, 'application/json', ''), '404'],
      ['a body that is not JSON', send(404, 'application/json', '{"error":'), '404: {"error":'],
      ['an HTML page', send(404, 'text/html', '<html><title>Not Found</title></html>'), '404: Not Found'],
    ])('takes a 404 with %s as nothing at the address, even when unknown users are accepted', async (_, answer, detail) => {
      server.queue(answer);
      expect(view(await caught(client.send({ ...roles, acceptUnknownUser: true })))).toStrictEqual(notFound(detail));
    });

    it('accepts only a 404 as an unknown user', async () => {
      server.queue(sendJson(410, { error: 'gone' }), sendJson(400, { error: 'bad' }));
      expect(view(await caught(client.send({ ...roles, acceptUnknownUser: true })))).toStrictEqual(failure('permanent', 'The webhook refused POST user.roles (user 7) (410: gone)', { status: 410 }));
      expect(view(await caught(client.send({ ...roles, acceptUnknownUser: true })))).toStrictEqual(failure('permanent', 'The webhook refused POST user.roles (user 7) (400: bad)', { status: 400 }));
    });

    it('takes a JSON 404 as a missing user when not asked to accept it', async () => {
      server.queue(sendJson(404, { error: 'unknown user' }));
      expect(view(await caught(client.send(roles)))).toStrictEqual(
        failure('permanent', 'The webhook has no user 7 for POST user.roles (user 7) (404: unknown user)', { status: 404, code: 'USER_NOT_FOUND' }),
      );
    });

    it.each<[string, ReturnType<typeof send>, WebhookRequest, ReturnType<typeof failure>]>([
      [
        '429 with Retry-After in seconds',
        sendJson(429, { error: 'slow down', code: 'RATE' }, { 'retry-after': '3' }),
        list,
        failure('throttled', 'The webhook throttled GET /users (429)', { status: 429, code: 'RATE', retryAfterMs: 3000 }),
      ],
      ['503 with Retry-After', send(503, '', '', { 'retry-after': '2' }), list, failure('throttled', 'The webhook throttled GET /users (503)', { status: 503, retryAfterMs: 2000 })],
      ['503 without Retry-After', send(503, 'text/plain', 'Service Unavailable'), list, failure('transient', 'The webhook failed GET /users (503: Service Unavailable)', { status: 503 })],
      [
        '500 with Retry-After',
        sendJson(500, { error: 'database down' }, { 'retry-after': '4' }),
        roles,
        failure('transient', 'The webhook failed POST user.roles (user 7) (500: database down)', { status: 500, nextRetryDelayMs: 4000 }),
      ],
      [
        '401 quoting the secret and a MAC, scrubbed',
        sendJson(401, { error: `expected ${SECRET} v1=${'ab'.repeat(32)}` }),
        roles,
        failure(
          'configuration',
          'The webhook at __URL__ rejected the signature of POST user.roles (user 7) (401: expected [secret] v1=[hex]); check that APP_WEBHOOK_SECRET is the receiver\'s secret and that both clocks are within 300 s',
          { status: 401 },
        ),
      ],
      [
        '403 from a proxy',
        send(403, 'text/html', '<title>Access denied</title>'),
        list,
        failure(
          'configuration',
          'The webhook at __URL__, or something in front of it, refused GET /users (403: Access denied); check APP_WEBHOOK_URL and APP_WEBHOOK_SECRET, and any login or firewall in front of the application',
          { status: 403 },
        ),
      ],
      [
        '302 to a login page, not followed',
        send(302, '', '', { location: '/login?token=x' }),
        roles,
        failure('configuration', 'The webhook redirected POST user.roles (user 7) (302) to __ORIGIN__/login; APP_WEBHOOK_URL must point straight at the receiver (a redirect would break the signature)', { status: 302 }),
      ],
      [
        '307 to the same address, not followed',
        send(307, '', '', { location: '/hook' }),
        list,
        failure('configuration', 'The webhook redirected GET /users (307) to __URL__; APP_WEBHOOK_URL must point straight at the receiver (a redirect would break the signature)', { status: 307 }),
      ],
      ['405', send(405, '', ''), roles, failure('configuration', 'No webhook answered POST user.roles (user 7) at __URL__ (405); check APP_WEBHOOK_URL', { status: 405 })],
      ['422 with a code', sendJson(422, { error: 'bad hash', code: 'HASH' }), roles, failure('permanent', 'The webhook refused POST user.roles (user 7) (422: bad hash)', { status: 422, code: 'HASH' })],
      ['408', send(408, '', ''), getUser, failure('transient', 'The webhook failed GET /users/{id} (user 7) (408)', { status: 408 })],
    ])('maps %s, in one request', async (_, answer, request, want) => {
      server.queue(answer, sendJson(200, {}));
      const origin = new URL(server.url).origin;
      const message = want.message.replace('__URL__', server.url).replace('__ORIGIN__', origin);
      expect(view(await caught(client.send(request)))).toStrictEqual({ ...want, message });
      // Neither retried nor redirected: the next request is the test's own.
      expect(server.requests).toHaveLength(1);
    });

    it('shows its address without credentials or query in messages', async () => {
      server.queue(send(405, '', ''));
      const err = await caught(newClient(server.url.replace('http://', 'http://app:pw@') + '?token=abc').send(list));
      expect(err.message).toBe(`No webhook answered GET /users at ${server.url} (405); check APP_WEBHOOK_URL`);
    });
  });

  describe('no reply', () => {
    it.each<[string, WebhookRequest, string]>([
      ['a read', getUser, `The webhook did not answer GET /users/{id} (user 7) within ${TIMEOUT_MS} ms`],
      ['a write, which may have been applied', roles, `The webhook did not answer POST user.roles (user 7) within ${TIMEOUT_MS} ms (a write may still have been applied)`],
    ])('takes the deadline on %s as transient', async (_, request, message) => {
      server.queue(silence);
      expect(view(await caught(client.send(request)))).toStrictEqual(failure('transient', message, { code: 'ETIMEDOUT' }));
    });

    it('gives up at the deadline it was given', async () => {
      // Measured, not slept: the client's own timer ends the request, before twice its deadline
      // (a second of deadline leaves a loaded machine most of a second of slack).
      server.queue(silence);
      const started = Date.now();
      await caught(newClient(server.url, { timeoutMs: 1000 }).send(list));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(990);
      expect(elapsed).toBeLessThan(1900);
    });

    it('counts the deadline from connect to last byte', async () => {
      // Headers arrive at once, the body never: the deadline still ends the request.
      server.queue((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).write('{"users":['));
      expect(view(await caught(client.send(list)))).toStrictEqual(failure('transient', `The webhook did not answer GET /users within ${TIMEOUT_MS} ms`, { code: 'ETIMEDOUT' }));
    });

    it.each<[string, WebhookRequest, string]>([
      ['a read', list, 'The connection to the webhook was reset during GET /users'],
      ['a write', roles, 'The connection to the webhook was reset during POST user.roles (user 7) (a write may still have been applied)'],
    ])('takes a reset during %s as transient', async (_, request, message) => {
      server.queue(hangUp);
      expect(view(await caught(client.send(request)))).toStrictEqual(failure('transient', message, { code: 'ECONNRESET' }));
    });

    it('takes a reply cut off mid-body as a reset', async () => {
      server.queue(cutOff(200, 'application/json', '{"users":['));
      expect(view(await caught(client.send(roles)))).toStrictEqual(
        failure('transient', 'The connection to the webhook was reset during POST user.roles (user 7) (a write may still have been applied)', { code: 'ECONNRESET' }),
      );
    });

    it('takes a refused connection as transient, naming the address', async () => {
      const gone = await startBrokenReceiver();
      const url = gone.url;
      await gone.close();
      expect(view(await caught(newClient(`${url}?token=abc`).send(list)))).toStrictEqual(
        failure('transient', `Cannot reach the webhook at ${url} for GET /users: ECONNREFUSED`, { code: 'ECONNREFUSED' }),
      );
    });

    it('reports an abort while waiting as a shutdown', async () => {
      const abort = new AbortController();
      // Aborted once the receiver has the request, so it was sent and left unanswered.
      server.queue(() => abort.abort());
      expect(view(await caught(client.send({ ...roles, abortSignal: abort.signal })))).toStrictEqual(
        failure('transient', 'POST user.roles (user 7) to the webhook was aborted (shutdown)', { code: 'ABORTED' }),
      );
      expect(server.requests).toHaveLength(1);
    });

    it('sends nothing when aborted before it starts', async () => {
      const abort = new AbortController();
      abort.abort();
      expect(view(await caught(client.send({ ...list, abortSignal: abort.signal })))).toStrictEqual(failure('transient', 'GET /users to the webhook was aborted (shutdown)', { code: 'ABORTED' }));
      expect(server.requests).toStrictEqual([]);
    });

    it('answers as usual under a signal that does not fire', async () => {
      server.queue(sendJson(200, { ok: true }));
      await expect(client.send({ ...list, abortSignal: new AbortController().signal })).resolves.toMatchObject({ status: 200, json: { ok: true } });
    });
  });

  describe('connections', () => {
    it('keeps one connection alive across requests, and close() drops it', async () => {
      server.queue(sendJson(200, {}), sendJson(200, {}));
      await client.send(list);
      await client.send(roles);
      const [first, second] = server.requests;
      expect(second!.port).toBe(first!.port);
      expect(server.openSockets).toBe(1);
      client.close();
      await server.connectionsClosed();
      expect(server.openSockets).toBe(0);
    }, 3000);

    it('reuses the connection freed last', async () => {
      const held = new Map<string, ServerResponse>();
      let bothArrived!: () => void;
      const arrived = new Promise<void>((resolve) => (bothArrived = resolve));
      server.answer((req, res) => {
        held.set(req.url, res);
        if (held.size === 2) bothArrived();
      });
      const a = client.send({ method: 'GET', resource: '/a', segments: ['a'] });
      const b = client.send({ method: 'GET', resource: '/b', segments: ['b'] });
      await arrived;
      json(held.get('/hook/b')!, 200, {});
      await b;
      json(held.get('/hook/a')!, 200, {});
      await a;
      server.answer(sendJson(200, {}));
      await client.send(list);
      const port = (url: string) => server.requests.find((r) => r.url === url)!.port;
      expect(port('/hook/a') === port('/hook/b')).toBe(false);
      expect(server.requests.at(-1)!.port).toBe(port('/hook/a'));
    });

    describe('over HTTPS', () => {
      let tls: BrokenReceiver;
      let untrusted: BrokenReceiver;
      let otherCa: string;
      beforeAll(async () => {
        const cert = await issueServerCertificate(await loadOrCreateAuthority('.idsync/entra'));
        tls = await startBrokenReceiver({ tls: { cert: cert.certificatePem, key: cert.privateKeyPem }, holdIdleConnections: true });
        // A certificate from an authority the trust store does not know.
        otherCa = await mkdtemp(join(tmpdir(), 'webhook-ca-'));
        const stranger = await issueServerCertificate(await loadOrCreateAuthority(otherCa));
        untrusted = await startBrokenReceiver({ tls: { cert: stranger.certificatePem, key: stranger.privateKeyPem } });
      });
      afterAll(async () => {
        await tls.close();
        await untrusted.close();
        await rm(otherCa, { recursive: true, force: true });
      });

      it('signs, keeps its connection alive, and close() drops it', async () => {
        const c = newClient(tls.url);
        tls.queue(sendJson(200, { ok: 1 }), sendJson(200, { ok: 2 }));
        await expect(c.send(list)).resolves.toMatchObject({ json: { ok: 1 } });
        await expect(c.send(roles)).resolves.toMatchObject({ json: { ok: 2 } });
        expect(tls.requests.map((r) => [r.url, r.port, headerView(r).verified])).toStrictEqual([
          ['/hook/users?limit=2', tls.requests[0]!.port, true],
          ['/hook', tls.requests[0]!.port, true],
        ]);
        c.close();
        await tls.connectionsClosed();
        expect(tls.openSockets).toBe(0);
      }, 3000);

      it('takes a certificate it cannot trust as a configuration error', async () => {
        const err = await caught(newClient(untrusted.url).send(roles));
        expect(view(err)).toStrictEqual(
          failure(
            'configuration',
            `Cannot reach the webhook at ${untrusted.url} for POST user.roles (user 7): SELF_SIGNED_CERT_IN_CHAIN; check APP_WEBHOOK_URL and the TLS trust store (NODE_EXTRA_CA_CERTS)`,
            { code: 'SELF_SIGNED_CERT_IN_CHAIN' },
          ),
        );
        expect(untrusted.requests).toStrictEqual([]);
      });
    });
  });

  describe('parse', () => {
    const call: WebhookCall = { method: 'GET', resource: '/users/{id}', userId: '7' };
    const schema = z.object({ id: z.union([z.string(), z.number()]).transform(String), name: z.string() });
    const reply = (over: Partial<RawReply>): RawReply => ({ status: 200, headers: {}, text: '', contentType: 'application/json', json: undefined, malformed: false, ...over });
    const answered = (rest: string) => failure('transient', `The webhook answered GET /users/{id} (user 7) with 200 but ${rest}`, { status: 200, code: 'MALFORMED_RESPONSE' });

    it('returns what the schema makes of the JSON', () => {
      expect(client.parse(call, reply({ text: '{"id":7,"name":"a","x":1}', json: { id: 7, name: 'a', x: 1 } }), schema)).toStrictEqual({ id: '7', name: 'a' });
    });

    it.each<[string, Partial<RawReply>, string]>([
      ['an empty body', {}, 'an empty body'],
      ['cut-off JSON', { text: '{"id":', malformed: true }, 'JSON that does not parse (6 bytes, cut off?)'],
      ['an HTML page', { text: '<html><title>Sign in</title></html>', contentType: 'text/html', malformed: true }, 'an HTML page ("Sign in") instead of JSON; is a login page or proxy in front of the webhook?'],
      ['JSON of another shape, naming where', { text: '{"id":7,"name":5}', json: { id: 7, name: 5 } }, 'a JSON body of an unexpected shape (name: Invalid input: expected string, received number)'],
      ['JSON null', { text: 'null', json: null }, 'a JSON body of an unexpected shape ((root): Invalid input: expected object, received null)'],
    ])('takes %s as transient', (_, over, rest) => {
      let err: unknown;
      try {
        client.parse(call, reply(over), schema);
      } catch (e) {
        err = e;
      }
      expect(view(err as SyncError)).toStrictEqual(answered(rest));
    });
  });
});
