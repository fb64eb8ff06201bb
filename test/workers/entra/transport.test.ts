// graph-client as idsync assembles it: what each request carries (token, telemetry, body), that
// the token goes only to the configured host, that nothing is re-sent behind the client's back,
// and how a response is read into the RawReply every classification starts from.
import { GraphClientError, ResponseType } from '@microsoft/microsoft-graph-client';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { GRAPH_SCOPE } from '../../../workers/entra/credentials.js';
import { TransportFailure, createSdkClient, parseJson, readReply } from '../../../workers/entra/transport.js';
import { ScriptedHttps, json, text } from './scripted-https.js';

/** A credential that hands out one token and records how it was asked. */
class FixedToken implements TokenCredential {
  readonly asked: unknown[][] = [];
  async getToken(...args: unknown[]): Promise<AccessToken> {
    this.asked.push(args);
    return { token: 'tok-1', expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

const SDK_HEADERS = { authorization: 'Bearer tok-1', sdkversion: 'graph-js/3.0.7 (featureUsage=4)' };

describe('parseJson', () => {
  it('parses bodies typed as JSON, or untyped ones that look like JSON', () => {
    const cases: [string, string, ReturnType<typeof parseJson>][] = [
      ['{"a":1}', 'application/json', { json: { a: 1 }, malformed: false }],
      ['[1,2]', 'application/json; charset=utf-8', { json: [1, 2], malformed: false }],
      ['null', 'application/problem+json', { json: null, malformed: false }],
      ['{"a":1}', '', { json: { a: 1 }, malformed: false }],
      [' \n[3]', '', { json: [3], malformed: false }],
      // Only a leading brace or bracket makes an untyped body JSON.
      ['x{"a":1}', '', { json: undefined, malformed: false }],
      ['"a"', '', { json: undefined, malformed: false }],
      // A type that is not JSON wins over the look of the body.
      ['{"a":1}', 'text/plain', { json: undefined, malformed: false }],
      ['{"a":1}', 'text/html', { json: undefined, malformed: false }],
    ];
    for (const [body, type, expected] of cases) expect([body, type, parseJson(body, type)]).toEqual([body, type, expected]);
  });

  it('takes an empty JSON body as no body, not as a broken one', () => {
    expect(parseJson('', 'application/json')).toEqual({ json: undefined, malformed: false });
    expect(parseJson('  \r\n', 'application/json')).toEqual({ json: undefined, malformed: false });
  });

  it('flags JSON that does not parse', () => {
    expect(parseJson('{"a":', 'application/json')).toEqual({ json: undefined, malformed: true });
    expect(parseJson('[1,', '')).toEqual({ json: undefined, malformed: true });
    expect(parseJson('not json', 'application/json')).toEqual({ json: undefined, malformed: true });
  });
});

describe('readReply', () => {
  it('keeps status and every header, and lowercases the content type', async () => {
    const response = new Response('{"id":"u1"}', { status: 201, headers: { 'Content-Type': 'Application/JSON; Charset=UTF-8', 'Request-Id': 'r-1', Location: '/users/u1' } });
    const reply = await readReply(response, false);
    expect(reply).toEqual({
      status: 201,
      headers: { 'content-type': 'Application/JSON; Charset=UTF-8', 'request-id': 'r-1', location: '/users/u1' },
      text: '{"id":"u1"}',
      contentType: 'application/json; charset=utf-8',
      json: { id: 'u1' },
      malformed: false,
    });
    expect('bytes' in reply).toBe(false);
  });

  it('reads an untyped body as text and parses it when it looks like JSON', async () => {
    expect(await readReply(new Response(Buffer.from('{"a":1}'), { status: 200 }), false)).toEqual({
      status: 200,
      headers: {},
      text: '{"a":1}',
      contentType: '',
      json: { a: 1 },
      malformed: false,
    });
  });

  it('flags a cut-off JSON body', async () => {
    expect(await readReply(new Response('{"value":[', { status: 200, headers: { 'content-type': 'application/json' } }), false)).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json' },
      text: '{"value":[',
      contentType: 'application/json',
      json: undefined,
      malformed: true,
    });
  });

  it('keeps a successful binary body as bytes', async () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x7b]);
    const reply = await readReply(new Response(jpeg, { status: 200, headers: { 'content-type': 'image/jpeg' } }), true);
    expect(reply).toEqual({ status: 200, headers: { 'content-type': 'image/jpeg' }, text: '', contentType: 'image/jpeg', json: undefined, malformed: false, bytes: jpeg });
    expect(Buffer.isBuffer(reply.bytes)).toBe(true);
  });

  it('keeps bytes of any 2xx and of an untyped body', async () => {
    const bytes = Buffer.from('{"looks":"like json"}');
    expect((await readReply(new Response(bytes, { status: 299 }), true)).bytes).toEqual(bytes);
  });

  it('reads a binary request answered with JSON or with a failure as text', async () => {
    // No photo: Graph answers 404 with its JSON envelope, which the caller classifies.
    const notFound = await readReply(new Response('{"error":{"code":"ImageNotFound"}}', { status: 404, headers: { 'content-type': 'application/json' } }), true);
    expect(notFound).toEqual({
      status: 404,
      headers: { 'content-type': 'application/json' },
      text: '{"error":{"code":"ImageNotFound"}}',
      contentType: 'application/json',
      json: { error: { code: 'ImageNotFound' } },
      malformed: false,
    });
    expect('bytes' in notFound).toBe(false);
    const redirected = await readReply(new Response('moved', { status: 300, headers: { 'content-type': 'image/jpeg' } }), true);
    expect(redirected).toEqual({ status: 300, headers: { 'content-type': 'image/jpeg' }, text: 'moved', contentType: 'image/jpeg', json: undefined, malformed: false });
    expect('bytes' in redirected).toBe(false);
    const typed = await readReply(new Response('{"a":1}', { status: 200, headers: { 'content-type': 'application/json' } }), true);
    expect(typed).toEqual({ status: 200, headers: { 'content-type': 'application/json' }, text: '{"a":1}', contentType: 'application/json', json: { a: 1 }, malformed: false });
    expect('bytes' in typed).toBe(false);
  });

  it('reads a non-binary request as text whatever its type', async () => {
    const reply = await readReply(new Response('GIF89a', { status: 200, headers: { 'content-type': 'image/gif' } }), false);
    expect(reply).toEqual({ status: 200, headers: { 'content-type': 'image/gif' }, text: 'GIF89a', contentType: 'image/gif', json: undefined, malformed: false });
    expect('bytes' in reply).toBe(false);
  });
});

describe('TransportFailure', () => {
  it('carries the original failure and its message through graph-client', () => {
    const cause = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
    const failure = new TransportFailure(cause);
    expect(failure).toBeInstanceOf(TransportFailure);
    expect(failure).toBeInstanceOf(GraphClientError);
    expect(failure.failure).toBe(cause);
    expect(failure.name).toBe('TransportFailure');
    expect(failure.message).toBe('fetch failed');
  });

  it('words a failure that is not an Error', () => {
    const failure = new TransportFailure('socket hang up');
    expect(failure.message).toBe('socket hang up');
    expect(failure.failure).toBe('socket hang up');
    expect(failure).toBeInstanceOf(TransportFailure);
  });
});

describe('createSdkClient', () => {
  let server: ScriptedHttps;
  beforeAll(async () => {
    server = await ScriptedHttps.start();
  });
  afterAll(() => server.close());
  afterEach(() => server.clear());

  const raw = (request: { responseType(t: ResponseType): unknown }) => request.responseType(ResponseType.RAW) as { get(): Promise<Response> };

  it('sends requests under the version with the token and the SDK telemetry', async () => {
    const credential = new FixedToken();
    server.answer(json(200, { value: [] }, { 'request-id': 'r-1' }));
    const response = (await createSdkClient(server.origin, credential).api('/users?$select=id,displayName').responseType(ResponseType.RAW).get()) as Response;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ value: [] });
    expect(credential.asked).toEqual([[[GRAPH_SCOPE], undefined]]);
    expect(server.requests).toHaveLength(1);
    const [seen] = server.requests;
    expect(seen).toMatchObject({ method: 'GET', url: '/v1.0/users?$select=id,displayName', body: '', headers: SDK_HEADERS });
    expect(seen!.headers['client-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('takes the base URL with or without a trailing slash, and under a path', async () => {
    for (const [base, url] of [
      [`${server.origin}/`, '/v1.0/organization'],
      [`${server.origin}/graph`, '/graph/v1.0/organization'],
      [`${server.origin}/graph/`, '/graph/v1.0/organization'],
    ] as const) {
      server.clear();
      server.answer(json(200, {}));
      await raw(createSdkClient(base, new FixedToken()).api('/organization')).get();
      expect([base, server.requests.map((r) => [r.url, r.headers.authorization])]).toEqual([base, [[url, 'Bearer tok-1']]]);
    }
  });

  it('sends JSON bodies and the caller\'s headers', async () => {
    server.answer(json(200, { id: 'u1' }));
    const client = createSdkClient(server.origin, new FixedToken());
    await (client.api('/users/u1').headers({ 'If-Match': '*' }).responseType(ResponseType.RAW) as { patch(b: unknown): Promise<Response> }).patch({ displayName: 'Alice' });
    expect(server.requests).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        url: '/v1.0/users/u1',
        body: '{"displayName":"Alice"}',
        headers: expect.objectContaining({ ...SDK_HEADERS, 'if-match': '*', 'content-type': 'application/json' }),
      }),
    ]);
  });

  it('sends the token only to the configured host', async () => {
    // The same server under another name: an absolute link that leaves the Graph host.
    const credential = new FixedToken();
    server.answer(json(200, {}));
    const elsewhere = `${server.origin.replace('127.0.0.1', 'localhost')}/v1.0/users`;
    const response = await raw(createSdkClient(server.origin, credential).api(elsewhere)).get();
    expect(response.status).toBe(200);
    expect(credential.asked).toEqual([]);
    const headers = server.requests[0]!.headers;
    expect([headers.authorization, headers.sdkversion, headers['client-request-id']]).toEqual([undefined, undefined, undefined]);
  });

  it('leaves throttled and failed requests to the caller instead of sending them again', async () => {
    server.answer(text(503, 'text/plain', 'busy', { 'retry-after': '0' }), text(429, 'text/plain', 'slow down', { 'retry-after': '0' }));
    const client = createSdkClient(server.origin, new FixedToken());
    const post = await (client.api('/users').responseType(ResponseType.RAW) as { post(b: unknown): Promise<Response> }).post({ a: 1 });
    expect([post.status, await post.text()]).toEqual([503, 'busy']);
    const get = await raw(client.api('/users')).get();
    expect([get.status, await get.text()]).toEqual([429, 'slow down']);
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /v1.0/users', 'GET /v1.0/users']);
  });

  it('turns a request that got no response into a TransportFailure holding the cause', async () => {
    const closed = await ScriptedHttps.start();
    const origin = closed.origin;
    await closed.close();
    const err = await raw(createSdkClient(origin, new FixedToken()).api('/users')).get().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransportFailure);
    const failure = (err as TransportFailure).failure as TypeError & { cause?: { code?: string } };
    // fetch's errors come from another realm than the test's, so the class is compared by name.
    expect(failure.name).toBe('TypeError');
    expect(failure.message).toBe('fetch failed');
    expect(failure.cause?.code).toBe('ECONNREFUSED');
    // Under jest the error is not an Error of the test's realm, so it is quoted as "TypeError: fetch failed".
    expect((err as TransportFailure).message).toMatch(/^(TypeError: )?fetch failed$/);
  });
});
