// The Graph client against a scripted Graph: the exact request each call sends (URL, token,
// headers, `$batch` body), and what each reply shape becomes — the reply handed back, or the error
// of the shared taxonomy thrown. A stub credential and an unlimited budget keep Entra and Redis
// out of it, so a request here is one round trip to a local server.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken } from '@azure/identity';
import { jest } from '@jest/globals';
import { ConfigurationError, PermanentError, TransientError, type SyncError } from '../../../shared/errors.js';
import { GraphClient, withQuery, type GraphClientOptions } from '../../../workers/entra/client.js';
import { AppCredential, TokenFailure } from '../../../workers/entra/credentials.js';
import { remoteCalls } from '../../../workers/runtime/process-metrics.js';
import type { RequestBudget } from '../../../workers/runtime/request-budget.js';
import { issueServerCertificate, loadOrCreateAuthority } from '../../../emulators/entra/certificates.js';
import { ScriptedHttps, cutOff, json, reset, silence, text, type Answer } from './scripted-https.js';

/** Hands out tok-1, then tok-2 after a renewal, and so on; records every use. */
class StubCredential extends AppCredential {
  asked = 0;
  renewals = 0;
  held: ReadonlySet<string> | undefined = undefined;
  /** Thrown by getToken instead of a token; `null` returns no token at all. */
  failure: unknown = undefined;

  constructor() {
    super({ tenantId: 't', clientId: 'c', clientSecret: 's', clientCertificatePath: undefined, authorityHost: 'https://127.0.0.1:1', timeoutMs: 1000 });
  }

  override async getToken(): Promise<AccessToken> {
    this.asked++;
    if (this.failure === null) return null as unknown as AccessToken;
    if (this.failure !== undefined) throw this.failure;
    return { token: `tok-${this.renewals + 1}`, expiresOnTimestamp: Date.now() + 3_600_000 };
  }

  override roles(): ReadonlySet<string> | undefined {
    return this.held;
  }

  override renew(): void {
    this.renewals++;
  }
}

/** Lets every write through at once, and records what was taken. */
class FreeBudget {
  readonly taken: { cost: number | undefined; signal: AbortSignal | undefined }[] = [];
  async take(cost?: number, signal?: AbortSignal): Promise<void> {
    this.taken.push({ cost, signal });
    signal?.throwIfAborted();
  }
}

const USER = '0b1c2d3e-0000-4000-8000-000000000001';
const envelope = (code: string, message: string) => ({ error: { code, message, innerError: { 'request-id': 'r-1' } } });

async function failureOf(promise: Promise<unknown>): Promise<SyncError> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: SyncError) => e,
  );
}

/** [class, message, code, status] of an error of the taxonomy. */
const shape = (e: SyncError) => [e.constructor.name, e.message, e.code, e.status];

describe('withQuery', () => {
  it('leaves the path alone without query values', () => {
    expect(withQuery('/users', undefined)).toBe('/users');
    expect(withQuery('/users', {})).toBe('/users');
    expect(withQuery('/users', { $filter: undefined })).toBe('/users');
  });

  it('percent-encodes each value but keeps commas, and skips undefined ones', () => {
    expect(withQuery('/users', { $select: 'id,displayName,mail', $filter: "mail eq 'a&b+c@x.com'", $top: 999, $count: true, $skip: undefined })).toBe(
      "/users?$select=id,displayName,mail&$filter=mail%20eq%20'a%26b%2Bc%40x.com'&$top=999&$count=true",
    );
  });

  it('appends to a query the path already has', () => {
    expect(withQuery('/users?$top=5', { $select: 'id' })).toBe('/users?$top=5&$select=id');
    expect(withQuery('/users?$top=5', {})).toBe('/users?$top=5');
  });
});

describe('GraphClient', () => {
  let graph: ScriptedHttps;
  let credential: StubCredential;
  let budget: FreeBudget;
  let client: GraphClient;
  let calls: jest.SpiedFunction<typeof remoteCalls.inc>;
  const clients: GraphClient[] = [];

  beforeAll(async () => {
    graph = await ScriptedHttps.start();
  });
  afterAll(() => graph.close());

  const make = (over: Partial<GraphClientOptions> = {}): GraphClient => {
    const made = new GraphClient({
      graphBaseUrl: `${graph.origin}/`,
      credential,
      timeoutMs: 2000,
      budget: budget as unknown as RequestBudget,
      batch: { lingerMs: 0, resendRetryBaseMs: 1 },
      retry: { resendRetryBaseMs: 1 },
      ...over,
    });
    clients.push(made);
    return made;
  };

  beforeEach(() => {
    credential = new StubCredential();
    budget = new FreeBudget();
    client = make();
    calls = jest.spyOn(remoteCalls, 'inc');
  });
  afterEach(() => {
    calls.mockRestore();
    for (const c of clients.splice(0)) c.close();
    graph.clear();
  });

  /** The metric labels of each round trip, in order. */
  const counted = () => calls.mock.calls.map(([labels]) => labels);
  const seen = () => graph.requests.map((r) => `${r.method} ${r.url} ${r.headers.authorization ?? '-'}`);

  /** Headers Node adds to every scripted reply. */
  const TRANSPORT = { connection: 'keep-alive', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked' };

  describe('construction', () => {
    it('ends the base URL with a slash', () => {
      expect(make({ graphBaseUrl: graph.origin }).baseUrl).toBe(`${graph.origin}/`);
      expect(make({ graphBaseUrl: `${graph.origin}/` }).baseUrl).toBe(`${graph.origin}/`);
      expect(make({ graphBaseUrl: `${graph.origin}/graph` }).baseUrl).toBe(`${graph.origin}/graph/`);
    });

    it('sends requests under the base URL\'s path', async () => {
      graph.answer(json(200, { id: 'o' }));
      await make({ graphBaseUrl: `${graph.origin}/graph` }).get('/organization');
      expect(seen()).toEqual(['GET /graph/v1.0/organization Bearer tok-1']);
    });

    it('reports the token\'s roles and renews the token on request', () => {
      expect(client.roles()).toBeUndefined();
      credential.held = new Set(['User.ReadWrite.All']);
      expect(client.roles()).toBe(credential.held);
      client.renewToken();
      expect(credential.renewals).toBe(1);
    });
  });

  describe('reads', () => {
    it('sends a GET with the encoded query and the caller\'s headers, and hands back the reply whole', async () => {
      const body = { value: [{ id: USER }] };
      graph.answer(json(200, body, { 'request-id': 'r-9' }));
      const reply = await client.get('/users', {
        query: { $select: 'id,mail', $filter: "mail eq 'a b@x.com'", $count: true, $top: undefined },
        headers: { ConsistencyLevel: 'eventual' },
        subject: 'alice',
        permission: 'User.Read.All',
      });
      const text = JSON.stringify(body);
      const headers = { 'content-type': 'application/json', 'request-id': 'r-9', ...TRANSPORT };
      expect(reply).toEqual({
        status: 200,
        json: body,
        error: undefined,
        headers,
        call: { method: 'GET', path: '/users', subject: 'alice', permission: 'User.Read.All' },
        raw: { status: 200, headers, text, contentType: 'application/json', json: body, malformed: false },
      });
      expect(graph.requests).toHaveLength(1);
      expect(graph.requests[0]).toMatchObject({
        method: 'GET',
        url: '/v1.0/users?$select=id,mail&$filter=mail%20eq%20%27a%20b%40x.com%27&$count=true',
        body: '',
        headers: { authorization: 'Bearer tok-1', consistencylevel: 'eventual' },
      });
      expect(counted()).toEqual([{ target: 'entra', method: 'GET', route: '/users', status: '200' }]);
    });

    it('follows an absolute link on the Graph host as it is, naming its version-relative path', async () => {
      graph.answer(json(200, { value: [] }));
      const link = `${graph.origin}/v1.0/users/delta?$deltatoken=abc%3D`;
      const reply = await client.get(link, { query: { $select: 'id' } });
      expect(reply.call).toEqual({ method: 'GET', path: '/users/delta', subject: undefined, permission: undefined });
      expect(seen()).toEqual(['GET /v1.0/users/delta?$deltatoken=abc%3D Bearer tok-1']);
      expect(counted()).toEqual([{ target: 'entra', method: 'GET', route: '/users/delta', status: '200' }]);
    });

    it('refuses a link to another origin without sending the token anywhere', async () => {
      const port = new URL(graph.origin).port;
      const cases: [string, string][] = [
        [`https://localhost:${port}/v1.0/users?$skiptoken=x`, `https://localhost:${port}`],
        [`HTTPS://LOCALHOST:${port}/v1.0/users`, `https://localhost:${port}`],
        [`https://127.0.0.1:1/v1.0/users`, 'https://127.0.0.1:1'],
        [`http://127.0.0.1:${port}/v1.0/users`, `http://127.0.0.1:${port}`],
      ];
      for (const [link, origin] of cases) {
        const err = await failureOf(client.get(link));
        expect(err).toBeInstanceOf(PermanentError);
        expect([link, ...shape(err)]).toEqual([
          link,
          'PermanentError',
          `Graph returned a link to ${origin}, not ${graph.origin}; idsync sends its token only to GRAPH_BASE_URL`,
          'FOREIGN_LINK',
          undefined,
        ]);
      }
      expect([graph.requests, credential.asked, counted()]).toEqual([[], 0, []]);
    });

    it('takes a relative path with a URL inside it as relative', async () => {
      // (graph-client itself mistakes any path holding "https://" for an absolute URL.)
      graph.answer(json(200, { value: [] }));
      const reply = await client.get("/applications?$filter=web/homePageUrl eq 'ftp://x'");
      expect(reply.call.path).toBe("/applications?$filter=web/homePageUrl eq 'ftp://x'");
      expect(graph.requests).toHaveLength(1);
    });

    it('renews a rejected token once and sends the request again', async () => {
      graph.answer(json(401, envelope('InvalidAuthenticationToken', 'Access token has expired.')), json(200, { id: 'o' }));
      const reply = await client.get('/organization');
      expect(reply.status).toBe(200);
      expect(seen()).toEqual(['GET /v1.0/organization Bearer tok-1', 'GET /v1.0/organization Bearer tok-2']);
      expect(credential.renewals).toBe(1);
      expect(counted()).toEqual([
        { target: 'entra', method: 'GET', route: '/organization', status: '401' },
        { target: 'entra', method: 'GET', route: '/organization', status: '200' },
      ]);
    });

    it('fails on a second rejected token without renewing again', async () => {
      const rejected = json(401, envelope('InvalidAuthenticationToken', 'Access token validation failure.'));
      graph.answer(rejected, rejected, json(200, { id: 'o' }));
      const err = await failureOf(client.get('/organization', { once: true }));
      expect(shape(err)).toEqual([
        'ConfigurationError',
        'Graph rejected the access token on GET /organization (InvalidAuthenticationToken — Access token validation failure.); check ENTRA_TENANT_ID, ENTRA_CLIENT_ID and that GRAPH_BASE_URL and ENTRA_AUTHORITY_HOST belong to the same cloud',
        'InvalidAuthenticationToken',
        401,
      ]);
      expect([graph.requests.length, credential.renewals]).toEqual([2, 1]);
    });

    it('hands back a failure the caller accepts, with Graph\'s error envelope', async () => {
      const body = { error: { code: 'Request_ResourceNotFound', message: 'Resource does not exist.', details: [{ code: 'x', target: 'id' }] } };
      graph.answer(json(404, body));
      const reply = await client.get(`/users/${USER}`, { accept: [400, 404], subject: 'alice' });
      const text = JSON.stringify(body);
      const headers = { 'content-type': 'application/json', ...TRANSPORT };
      expect(reply).toEqual({
        status: 404,
        json: body,
        error: { code: 'Request_ResourceNotFound', message: 'Resource does not exist.', details: [{ code: 'x', target: 'id' }] },
        headers,
        call: { method: 'GET', path: `/users/${USER}`, subject: 'alice', permission: undefined },
        raw: { status: 404, headers, text, contentType: 'application/json', json: body, malformed: false },
      });
      expect(counted()).toEqual([{ target: 'entra', method: 'GET', route: '/users/{id}', status: '404' }]);
    });

    it('reads no envelope from an accepted failure whose JSON does not parse', async () => {
      graph.answer(text(404, 'application/json', '{"error":{"code":"x"'));
      const reply = await client.get('/users/x', { accept: [404] });
      expect([reply.status, reply.error, reply.raw.malformed]).toEqual([404, undefined, true]);
    });

    it('throws a failure the caller did not accept', async () => {
      graph.answer(json(404, envelope('Request_ResourceNotFound', 'Resource does not exist.')));
      const err = await failureOf(client.get(`/users/${USER}`, { accept: [400], subject: 'alice' }));
      expect(shape(err)).toEqual(['PermanentError', `Graph refused GET /users/${USER} alice: Request_ResourceNotFound — Resource does not exist.`, 'Request_ResourceNotFound', 404]);
    });

    it('takes any 2xx with JSON, and a 204 without a body', async () => {
      graph.answer(json(299, { ok: true }), text(204, undefined, ''));
      expect((await client.get('/a')).json).toEqual({ ok: true });
      const empty = await client.get('/b');
      expect([empty.status, empty.json, empty.error, empty.raw.text]).toEqual([204, undefined, undefined, '']);
    });

    it('calls a 2xx without the promised JSON malformed', async () => {
      const cases: [Answer, SyncError][] = [
        [text(200, 'application/json', ''), new TransientError('Graph answered GET /users with 200 but an empty body')],
        [text(200, undefined, ''), new TransientError('Graph answered GET /users with 200 but an empty body')],
        [text(200, 'text/plain', 'hello'), new TransientError('Graph answered GET /users with 200 but an unexpected text/plain body')],
        [text(201, 'application/json', '{"value":'), new TransientError('Graph answered GET /users with 201 but JSON that does not parse (9 bytes, cut off?)')],
        [
          text(200, 'text/html', '<html><title>Sign in</title></html>'),
          new ConfigurationError(
            'Graph answered GET /users with 200 and an HTML page (text/html) instead of JSON: a proxy answered instead of Microsoft Graph; is a proxy or captive portal in front of it? GRAPH_BASE_URL should point straight at Microsoft Graph',
          ),
        ],
      ];
      for (const [answer, expected] of cases) {
        graph.answer(answer);
        const err = await failureOf(client.get('/users', { once: true }));
        expect(shape(err)).toEqual([expected.constructor.name, expected.message, 'MALFORMED_RESPONSE', Number(/with (\d+)/.exec(expected.message)![1])]);
      }
    });

    it('calls a 3xx a wrong base URL', async () => {
      // A 300 without Location is the one redirect status fetch hands back instead of following.
      graph.answer(text(300, 'text/plain', 'choose'));
      const err = await failureOf(client.get('/users', { once: true }));
      expect(shape(err)).toEqual([
        'ConfigurationError',
        'Graph redirected GET /users (300) to nowhere; GRAPH_BASE_URL should point straight at Microsoft Graph',
        undefined,
        300,
      ]);
    });

    // fetch follows redirects unless told not to: a base URL that redirected was followed
    // silently, with the token, instead of failing as a wrong GRAPH_BASE_URL.
    it('calls a 302 with a Location a wrong base URL instead of following it', async () => {
      graph.answer(text(302, 'text/plain', 'moved', { location: '/elsewhere/users' }));
      const err = await failureOf(client.get('/users', { once: true }));
      expect(shape(err)).toEqual([
        'ConfigurationError',
        'Graph redirected GET /users (302) to /elsewhere/users; GRAPH_BASE_URL should point straight at Microsoft Graph',
        undefined,
        302,
      ]);
      expect(graph.requests).toHaveLength(1);
    });

    it('remembers a permission Graph found missing, and only then', async () => {
      const forbidden = json(403, envelope('Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'));
      graph.answer(forbidden);
      const err = await failureOf(client.get('/users', { permission: 'User.Read.All', once: true }));
      expect(shape(err)).toEqual([
        'ConfigurationError',
        'Graph refused GET /users: Authorization_RequestDenied — Insufficient privileges to complete the operation; grant the application permission User.Read.All (admin consent) to ENTRA_CLIENT_ID',
        'Authorization_RequestDenied',
        403,
      ]);
      expect([...client.missingPermissions]).toEqual(['User.Read.All']);

      // Refused although the app holds it: the object, not the app, is the problem.
      const other = make();
      credential.held = new Set(['Group.ReadWrite.All']);
      graph.answer(forbidden);
      expect(await failureOf(other.get('/groups', { permission: 'Group.ReadWrite.All', once: true }))).toBeInstanceOf(PermanentError);
      // No permission named, or another status.
      graph.answer(forbidden, json(401, envelope('InvalidAuthenticationToken', 'x')), json(401, envelope('InvalidAuthenticationToken', 'x')));
      expect(await failureOf(other.get('/groups', { once: true }))).toBeInstanceOf(ConfigurationError);
      expect(await failureOf(other.get('/groups', { permission: 'Group.Read.All', once: true }))).toBeInstanceOf(ConfigurationError);
      expect(other.missingPermissions.size).toBe(0);
    });

    it('turns an accepted failure into its error on request, remembering the permission', async () => {
      graph.answer(json(403, envelope('Authorization_RequestDenied', 'Insufficient privileges.')));
      const reply = await client.get('/users', { accept: [403], permission: 'User.Read.All' });
      expect(client.missingPermissions.size).toBe(0);
      const err = client.refusal(reply);
      expect(shape(err)).toEqual([
        'ConfigurationError',
        'Graph refused GET /users: Authorization_RequestDenied — Insufficient privileges; grant the application permission User.Read.All (admin consent) to ENTRA_CLIENT_ID',
        'Authorization_RequestDenied',
        403,
      ]);
      expect([...client.missingPermissions]).toEqual(['User.Read.All']);
    });
  });

  describe('binary reads', () => {
    it('hands back the bytes of a photo', async () => {
      const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]);
      graph.answer(text(200, 'image/jpeg', jpeg));
      const reply = await client.getBytes(`/users/${USER}/photo/$value`, { subject: 'alice' });
      const headers = { 'content-type': 'image/jpeg', ...TRANSPORT };
      expect(reply).toEqual({
        status: 200,
        json: undefined,
        error: undefined,
        headers,
        call: { method: 'GET', path: `/users/${USER}/photo/$value`, subject: 'alice', permission: undefined },
        raw: { status: 200, headers, text: '', contentType: 'image/jpeg', json: undefined, malformed: false, bytes: jpeg },
        bytes: jpeg,
      });
      expect(seen()).toEqual([`GET /v1.0/users/${USER}/photo/$value Bearer tok-1`]);
    });

    it('expects no JSON of a binary read', async () => {
      graph.answer(text(200, 'text/html', '<html></html>'), text(200, 'application/json', ''));
      const html = await client.getBytes('/p');
      expect([html.status, html.bytes?.toString()]).toEqual([200, '<html></html>']);
      const empty = await client.getBytes('/p');
      expect([empty.status, empty.json, empty.bytes]).toEqual([200, undefined, undefined]);
    });

    it('hands back an accepted failure without bytes', async () => {
      graph.answer(json(404, envelope('ImageNotFound', 'Exception of type ImageNotFoundException was thrown.')));
      const reply = await client.getBytes('/users/x/photo/$value', { accept: [404] });
      expect([reply.status, reply.bytes, reply.error]).toEqual([404, undefined, { code: 'ImageNotFound', message: 'Exception of type ImageNotFoundException was thrown.', details: [] }]);
    });

    it('sends a binary read again after a transient failure, unless told not to', async () => {
      graph.answer(text(502, 'text/plain', 'bad gateway'), text(200, 'image/png', 'PNG'));
      expect((await client.getBytes('/p')).bytes?.toString()).toBe('PNG');
      graph.answer(text(502, 'text/plain', 'bad gateway'));
      expect(shape(await failureOf(client.getBytes('/p', { once: true })))).toEqual([
        'TransientError',
        'Graph failed GET /p: 502 text/plain: "bad gateway"',
        undefined,
        502,
      ]);
      expect(graph.requests).toHaveLength(3);
    });
  });

  describe('retries of reads', () => {
    it('sends a read again in place after a refusal or a transient failure', async () => {
      graph.answer(text(503, 'text/plain', 'busy'), text(500, 'text/plain', 'oops'), json(200, { id: 'o' }));
      expect((await client.get('/organization')).json).toEqual({ id: 'o' });
      expect(graph.requests).toHaveLength(3);
    });

    it('sends a read once when told so', async () => {
      graph.answer(text(503, 'text/plain', 'busy'));
      const err = await failureOf(client.get('/organization', { once: true }));
      expect(shape(err)).toEqual(['TransientError', 'Graph failed GET /organization: 503 text/plain: "busy"', undefined, 503]);
      expect(graph.requests).toHaveLength(1);
    });

    it('takes the retry settings of the client', async () => {
      const strict = make({ retry: { resendRetries: 0, refusedRetries: 0 } });
      graph.answer(text(503, 'text/plain', 'busy'));
      expect(await failureOf(strict.get('/organization'))).toBeInstanceOf(TransientError);
      expect(graph.requests).toHaveLength(1);
    });

    it('stops waiting to retry when the caller aborts', async () => {
      // Graph asks for 5 s; the caller shuts down as soon as the refusal is counted.
      const controller = new AbortController();
      calls.mockImplementation((labels) => {
        if ((labels as { status?: string } | undefined)?.status === '503') controller.abort();
      });
      graph.answer(json(503, envelope('ServiceUnavailable', 'Busy.'), { 'retry-after': '5' }));
      const started = Date.now();
      const err = await failureOf(client.get('/organization', { abortSignal: controller.signal }));
      expect(shape(err)).toEqual(['ThrottledError', 'Graph throttled GET /organization (503 ServiceUnavailable)', 'ServiceUnavailable', 503]);
      expect(Date.now() - started).toBeLessThan(4000);
      expect(graph.requests).toHaveLength(1);
    });
  });

  describe('requests without a reply', () => {
    it('gives up after the timeout', async () => {
      const quick = make({ timeoutMs: 150 });
      graph.answer(silence);
      const err = await failureOf(quick.get('/users', { once: true }));
      expect(shape(err)).toEqual(['TransientError', 'Graph did not answer GET /users within 150 ms', 'ETIMEDOUT', undefined]);
      expect(counted()).toEqual([{ target: 'entra', method: 'GET', route: '/users', status: 'error' }]);
    });

    it('keeps the timeout when the caller passes a signal', async () => {
      const quick = make({ timeoutMs: 150 });
      graph.answer(silence);
      const err = await failureOf(quick.get('/users', { once: true, abortSignal: new AbortController().signal }));
      expect([err.code, err.message]).toEqual(['ETIMEDOUT', 'Graph did not answer GET /users within 150 ms']);
    });

    it('stops a request in flight when the caller aborts, without retrying it', async () => {
      const patient = make({ timeoutMs: 10_000 });
      const controller = new AbortController();
      graph.answer(() => controller.abort());
      const started = Date.now();
      const err = await failureOf(patient.get('/users', { abortSignal: controller.signal }));
      expect(shape(err)).toEqual(['TransientError', 'GET /users to Graph was aborted (shutdown)', 'ABORTED', undefined]);
      // At once, not when the client's own timeout fires.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(graph.requests).toHaveLength(1);
    });

    it('sends nothing, and asks for no token, once the caller has aborted', async () => {
      const err = await failureOf(client.get('/users', { abortSignal: AbortSignal.abort() }));
      expect(shape(err)).toEqual(['TransientError', 'GET /users to Graph was aborted (shutdown)', 'ABORTED', undefined]);
      expect([graph.requests.length, credential.asked]).toEqual([0, 0]);
      expect(counted()).toEqual([{ target: 'entra', method: 'GET', route: '/users', status: 'error' }]);
    });

    it('names an unreachable Graph and its address', async () => {
      const gone = await ScriptedHttps.start();
      await gone.close();
      const err = await failureOf(make({ graphBaseUrl: gone.origin }).get('/users', { once: true }));
      expect(shape(err)).toEqual(['TransientError', `Cannot reach Graph at ${gone.origin}/ for GET /users: ECONNREFUSED`, 'ECONNREFUSED', undefined]);
    });

    it('calls a certificate the trust store refuses a configuration error', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'idsync-ca-'));
      const stranger = await issueServerCertificate(await loadOrCreateAuthority(dir));
      const untrusted = await ScriptedHttps.start({ cert: stranger.certificatePem, key: stranger.privateKeyPem });
      try {
        const err = await failureOf(make({ graphBaseUrl: untrusted.origin }).get('/users', { once: true }));
        expect(shape(err)).toEqual([
          'ConfigurationError',
          `Cannot reach Graph at ${untrusted.origin}/ for GET /users: SELF_SIGNED_CERT_IN_CHAIN; check GRAPH_BASE_URL and the TLS trust store (NODE_EXTRA_CA_CERTS)`,
          'SELF_SIGNED_CERT_IN_CHAIN',
          undefined,
        ]);
      } finally {
        await untrusted.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('words a dropped connection with its system error', async () => {
      graph.answer(reset);
      const err = await failureOf(client.get('/users', { once: true }));
      expect(err).toBeInstanceOf(TransientError);
      // fetch's TypeError comes from outside the test's realm, so it is quoted by String().
      expect(err.message).toMatch(/^The connection to Graph failed during GET \/users: (UND_ERR_SOCKET|ECONNRESET) (TypeError: )?fetch failed$/);
      expect(err.code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET)$/);
    });

    it('words a body cut off mid-way', async () => {
      graph.answer(cutOff(200, 'application/json', '{"value":['));
      const err = await failureOf(client.get('/users', { once: true }));
      expect(err).toBeInstanceOf(TransientError);
      expect(err.message).toMatch(/^The connection to Graph failed during GET \/users: /);
      expect(counted()).toEqual([{ target: 'entra', method: 'GET', route: '/users', status: 'error' }]);
    });

    it('throws the classified token failure itself', async () => {
      const refused = new ConfigurationError('Entra rejected the credentials of app c', { code: 'invalid_client' });
      credential.failure = new TokenFailure(refused);
      await expect(client.get('/users')).rejects.toBe(refused);
      expect(graph.requests).toHaveLength(0);
    });

    it('calls a failure inside graph-client transient', async () => {
      credential.failure = null;
      const err = await failureOf(client.get('/users', { once: true }));
      expect(shape(err)).toEqual(['TransientError', 'graph-client failed GET /users: Cannot retrieve accessToken from the Token Credential object', undefined, undefined]);
    });

    it('words a failure graph-client wrapped by its cause', async () => {
      // graph-client turns a plain error into a GraphError whose code is the error's name.
      credential.failure = new Error('vault sealed\nsecond line');
      const err = await failureOf(client.get('/users', { once: true }));
      expect(shape(err)).toEqual(['TransientError', 'The connection to Graph failed during GET /users: Error vault sealed', 'Error', undefined]);
    });
  });

  describe('writes', () => {
    /** The `$batch` answer with these items. */
    const batch = (...responses: unknown[]): Answer => json(200, { responses });
    const requestsOf = (i: number) => (JSON.parse(graph.requests[i]!.body) as { requests: unknown[] }).requests;

    it('sends a write as one `$batch` item with its body, headers and query', async () => {
      graph.answer(batch({ id: '1', status: 204, headers: {} }));
      const reply = await client.write('PATCH', `/users/${USER}`, {
        json: { displayName: 'Alice' },
        headers: { 'If-Match': '*' },
        query: { $select: 'id,displayName' },
        subject: 'alice',
        permission: 'User.ReadWrite.All',
      });
      expect(reply).toEqual({
        status: 204,
        json: undefined,
        error: undefined,
        headers: {},
        call: { method: 'PATCH', path: `/users/${USER}`, subject: 'alice', permission: 'User.ReadWrite.All' },
        raw: { status: 204, headers: {}, text: '', contentType: '', json: undefined, malformed: false },
      });
      expect(graph.requests).toHaveLength(1);
      expect(graph.requests[0]).toMatchObject({ method: 'POST', url: '/v1.0/$batch', headers: { authorization: 'Bearer tok-1', 'content-type': 'application/json' } });
      expect(requestsOf(0)).toEqual([
        {
          id: '1',
          method: 'PATCH',
          url: `/users/${USER}?$select=id,displayName`,
          headers: { 'Content-Type': 'application/json', 'If-Match': '*' },
          body: { displayName: 'Alice' },
        },
      ]);
      expect(budget.taken).toEqual([{ cost: 1, signal: undefined }]);
      expect(counted()).toEqual([{ target: 'entra', method: 'POST', route: '/$batch', status: '200' }]);
    });

    it('sends headers only when there are any, and a JSON type only with a body', async () => {
      graph.answer(batch({ id: '1', status: 204 }, { id: '2', status: 204 }, { id: '3', status: 204 }));
      await Promise.all([
        client.write('DELETE', `/groups/g1/members/${USER}/$ref`),
        client.write('DELETE', '/users/u2', { headers: { 'If-Match': 'W/"1"' } }),
        client.write('POST', '/groups/g1/members/$ref', { json: { '@odata.id': 'x' }, accept: [204] }),
      ]);
      expect(requestsOf(0)).toEqual([
        { id: '1', method: 'DELETE', url: `/groups/g1/members/${USER}/$ref` },
        { id: '2', method: 'DELETE', url: '/users/u2', headers: { 'If-Match': 'W/"1"' } },
        { id: '3', method: 'POST', url: '/groups/g1/members/$ref', headers: { 'Content-Type': 'application/json' }, body: { '@odata.id': 'x' } },
      ]);
    });

    it('answers each caller with its own item, matched by id', async () => {
      graph.answer(batch({ id: 2, status: 201, body: { id: 'b' } }, null, 'junk', { id: '1', status: 201, body: { id: 'a' } }));
      const [a, b] = await Promise.all([client.write('POST', '/users', { json: { n: 'a' } }), client.write('POST', '/users', { json: { n: 'b' } })]);
      expect([a.json, b.json]).toEqual([{ id: 'a' }, { id: 'b' }]);
      expect(graph.requests).toHaveLength(1);
    });

    it('takes the batch settings of the client', async () => {
      const single = make({ batch: { maxItems: 1, lingerMs: 0 } });
      graph.otherwise(batch({ id: '1', status: 204 }));
      await Promise.all([single.write('DELETE', '/users/a'), single.write('DELETE', '/users/b')]);
      expect(graph.requests.map((_, i) => requestsOf(i).length)).toEqual([1, 1]);
    });

    it('reads an item\'s headers, type and body as Graph sent them', async () => {
      graph.answer(
        batch({
          id: '1',
          status: 201,
          headers: { 'Content-Type': 'Application/JSON; odata.metadata=minimal', Location: '/users/u9', 'Retry-After': 7 },
          body: { id: 'u9' },
        }),
      );
      const reply = await client.write('POST', '/users', { json: {} });
      const headers = { 'Content-Type': 'Application/JSON; odata.metadata=minimal', Location: '/users/u9', 'Retry-After': '7' };
      expect(reply.raw).toEqual({ status: 201, headers, text: '{"id":"u9"}', contentType: 'application/json; odata.metadata=minimal', json: { id: 'u9' }, malformed: false });
      expect([reply.headers, reply.json]).toEqual([headers, { id: 'u9' }]);
    });

    it('parses an item body sent as a string by its type', async () => {
      graph.answer(
        batch(
          { id: '1', status: 200, headers: { 'content-type': 'application/json' }, body: '{"id":"s"}' },
          { id: '2', status: 200, headers: 'not headers', body: 'plain words' },
          { id: '3', status: 200, headers: null, body: null },
          { id: '4', status: 200, headers: { 'Content-Type': 'application/json' }, body: '{"id":' },
        ),
      );
      const replies = await Promise.all(['a', 'b', 'c', 'd'].map((u) => client.write('PATCH', `/users/${u}`, { json: {} })));
      expect(replies.map((r) => r.raw)).toEqual([
        { status: 200, headers: { 'content-type': 'application/json' }, text: '{"id":"s"}', contentType: 'application/json', json: { id: 's' }, malformed: false },
        { status: 200, headers: {}, text: 'plain words', contentType: '', json: undefined, malformed: false },
        { status: 200, headers: {}, text: '', contentType: '', json: undefined, malformed: false },
        { status: 200, headers: { 'Content-Type': 'application/json' }, text: '{"id":', contentType: 'application/json', json: undefined, malformed: true },
      ]);
    });

    it('expects JSON of a create, except a 204', async () => {
      graph.answer(
        batch({ id: '1', status: 201, body: null }),
        batch({ id: '1', status: 201, headers: { 'Content-Type': 'application/json' }, body: '{"id":' }),
        batch({ id: '1', status: 204 }),
      );
      expect(shape(await failureOf(client.write('POST', '/users', { json: {}, subject: 'alice' })))).toEqual([
        'TransientError',
        'Graph answered POST /users alice with 201 but an empty body (a write may still have been applied)',
        'MALFORMED_RESPONSE',
        201,
      ]);
      expect(shape(await failureOf(client.write('POST', '/users', { json: {}, subject: 'alice' })))).toEqual([
        'TransientError',
        'Graph answered POST /users alice with 201 but JSON that does not parse (6 bytes, cut off?) (a write may still have been applied)',
        'MALFORMED_RESPONSE',
        201,
      ]);
      expect((await client.write('POST', '/groups/g/members/$ref', { json: {} })).status).toBe(204);
    });

    it('stands in a 502 for an item the `$batch` reply left out', async () => {
      const text = 'the $batch response had no entry for this item';
      graph.answer(batch({ id: '9', status: 201, body: {} }, { id: '1', status: '201', body: {} }));
      const reply = await client.write('POST', '/users', { json: {}, accept: [502] });
      expect(reply).toEqual({
        status: 502,
        json: undefined,
        error: undefined,
        headers: {},
        call: { method: 'POST', path: '/users', subject: undefined, permission: undefined },
        raw: { status: 502, headers: {}, text, contentType: 'text/plain', json: undefined, malformed: false },
      });
      graph.answer(batch());
      expect(shape(await failureOf(client.write('POST', '/users', { json: {}, subject: 'bob' })))).toEqual([
        'TransientError',
        `Graph failed POST /users bob: 502 text/plain: "${text}" (a write may still have been applied)`,
        undefined,
        502,
      ]);
    });

    it('calls a `$batch` reply without responses malformed, naming the batch', async () => {
      for (const body of [{}, { responses: { id: '1' } }]) {
        graph.answer(json(200, body));
        expect(shape(await failureOf(client.write('POST', '/users', { json: {} })))).toEqual([
          'TransientError',
          'Graph answered POST /$batch (1 item) with 200 but a body without "responses" (a write may still have been applied)',
          'MALFORMED_RESPONSE',
          200,
        ]);
      }
      graph.answer(text(200, 'application/json', ''));
      expect((await failureOf(client.write('POST', '/users', { json: {} }))).message).toBe(
        'Graph answered POST /$batch (1 item) with 200 but an empty body (a write may still have been applied)',
      );
    });

    it('counts the items of a refused `$batch` in its name', async () => {
      graph.answer(json(400, envelope('BadRequest', 'Invalid batch payload.')), json(400, envelope('BadRequest', 'Invalid batch payload.')));
      expect((await failureOf(client.write('POST', '/users', { json: {} }))).message).toBe('Graph refused POST /$batch (1 item): BadRequest — Invalid batch payload.');
      const both = await Promise.all([failureOf(client.write('POST', '/users', { json: {} })), failureOf(client.write('POST', '/users', { json: {} }))]);
      expect(both.map((e) => e.message)).toEqual(['Graph refused POST /$batch (2 items): BadRequest — Invalid batch payload.', 'Graph refused POST /$batch (2 items): BadRequest — Invalid batch payload.']);
    });

    it('renews a rejected token for a `$batch` too', async () => {
      graph.answer(json(401, envelope('InvalidAuthenticationToken', 'expired')), batch({ id: '1', status: 204 }));
      expect((await client.write('DELETE', '/users/u1')).status).toBe(204);
      expect(seen()).toEqual(['POST /v1.0/$batch Bearer tok-1', 'POST /v1.0/$batch Bearer tok-2']);
    });

    it('sends an idempotent item again after an ambiguous failure, and a plain create never', async () => {
      const failed = { id: '1', status: 500, headers: { 'Content-Type': 'application/json' }, body: envelope('InternalServerError', 'Boom.') };
      graph.answer(batch(failed), batch({ id: '1', status: 204 }));
      expect((await client.write('PATCH', '/users/a', { json: {} })).status).toBe(204);
      graph.answer(batch(failed), batch({ id: '1', status: 204 }));
      expect((await client.write('DELETE', '/users/a')).status).toBe(204);
      graph.answer(batch(failed), batch({ id: '1', status: 201, body: { id: 'n' } }));
      expect((await client.write('POST', '/groups/g/members/$ref', { json: {}, idempotent: true })).status).toBe(201);
      expect(graph.requests).toHaveLength(6);

      graph.answer(batch(failed));
      expect(shape(await failureOf(client.write('POST', '/users', { json: {}, subject: 'alice', idempotent: false })))).toEqual([
        'TransientError',
        'Graph failed POST /users alice: InternalServerError — Boom. (a write may still have been applied)',
        'InternalServerError',
        500,
      ]);
      graph.answer(batch(failed));
      expect(await failureOf(client.write('POST', '/users', { json: {} }))).toBeInstanceOf(TransientError);
      expect(graph.requests).toHaveLength(8);
    });

    it('hands back an accepted item failure with its envelope', async () => {
      graph.answer(batch({ id: '1', status: 404, headers: { 'Content-Type': 'application/json' }, body: envelope('Request_ResourceNotFound', 'Gone.') }));
      const reply = await client.write('DELETE', '/users/a', { accept: [404] });
      expect([reply.status, reply.error]).toEqual([404, { code: 'Request_ResourceNotFound', message: 'Gone.', details: [] }]);
    });

    it('passes the caller\'s signal to the write budget', async () => {
      const aborted = AbortSignal.abort(new Error('shutting down'));
      await expect(client.write('DELETE', '/users/a', { abortSignal: aborted })).rejects.toThrow('shutting down');
      expect(budget.taken).toEqual([{ cost: 1, signal: aborted }]);
      expect(graph.requests).toHaveLength(0);
    });

    it('rejects writes not yet sent when closed', async () => {
      const lingering = make({ batch: { lingerMs: 10_000 } });
      const pending = lingering.write('DELETE', '/users/a');
      lingering.close();
      await expect(pending).rejects.toThrow('the Entra connector was closed');
      expect(graph.requests).toHaveLength(0);
    });
  });
});
