// The exact wording and fields of Graph errors: operators act on these messages (and the
// runtime on kind, status, code and delays), so each branch is pinned in full, including the
// bodies, headers and transport failures that do not look like Graph's usual envelope.
import { errorKind, type SyncErrorKind } from '../../../shared/errors.js';
import {
  describeCall,
  detailOf,
  errorFromReply,
  errorFromTransport,
  graphErrorBody,
  header,
  malformedSuccess,
  retryAfterMs,
  type GraphCall,
  type PermissionView,
  type RawReply,
} from '../../../workers/entra/errors.js';
import { PASSWORD_PERMISSION } from '../../../workers/entra/permissions.js';

const call: GraphCall = { method: 'PATCH', path: '/users/0b1c', subject: 'alice@contoso.com', permission: 'User.ReadWrite.All' };
const what = 'PATCH /users/0b1c alice@contoso.com';
const reply = (status: number, body: unknown, headers: Record<string, string> = {}, contentType = 'application/json'): RawReply => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { status, headers, text, contentType, json: typeof body === 'string' ? undefined : body, malformed: false };
};
const graphError = (code: string, message: string, details?: unknown[]) => ({
  error: { code, message, ...(details && { details }), innerError: { date: '2026-01-01T00:00:00', 'request-id': 'r-1', 'client-request-id': 'c-1' } },
});
const roles = (...r: string[]): PermissionView => ({ roles: () => new Set(r) });
const WRITE = '(a write may still have been applied)';

describe('Graph error details', () => {
  it('names the call, with its subject only when there is one', () => {
    expect(describeCall(call)).toBe(what);
    expect(describeCall({ method: 'GET', path: '/organization' })).toBe('GET /organization');
  });

  it('reads only well-formed parts of the error envelope', () => {
    const cases: [unknown, ReturnType<typeof graphErrorBody>][] = [
      [null, undefined],
      [{}, undefined],
      [{ error: null }, undefined],
      [{ error: 'Forbidden' }, undefined],
      [{ error: { message: 'no code' } }, undefined],
      [{ error: { code: 403, message: 'numeric code' } }, undefined],
      [{ error: { code: 'BadRequest' } }, { code: 'BadRequest', message: '', details: [] }],
      [{ error: { code: 'BadRequest', message: { text: 'x' }, details: 'none' } }, { code: 'BadRequest', message: '', details: [] }],
      [
        { error: { code: 'BadRequest', message: 'm', details: [{ code: 'A', target: 'mail' }, null, 'B', { target: 'x' }, { code: 7 }, { code: 'C' }] } },
        { code: 'BadRequest', message: 'm', details: [{ code: 'A', target: 'mail' }, { code: 'C' }] },
      ],
      // The inner error (request ids, dates) is for Microsoft support, not for the taxonomy.
      [graphError('Request_BadRequest', 'Invalid value.'), { code: 'Request_BadRequest', message: 'Invalid value.', details: [] }],
    ];
    for (const [json, expected] of cases) expect([json, graphErrorBody(json)]).toEqual([json, expected]);
  });

  it('prefers the exact header name and falls back to any casing', () => {
    // Batch items can carry both spellings; the exact one is Graph's own.
    expect(header({ 'retry-after': '9', 'Retry-After': '2' }, 'Retry-After')).toBe('2');
    expect(header({ 'Content-Type': 'application/json', 'RETRY-AFTER': '3' }, 'Retry-After')).toBe('3');
    expect(header({ 'Content-Type': 'application/json' }, 'Retry-After')).toBeUndefined();
  });

  it('parses Retry-After seconds and dates, and ignores anything else', () => {
    const cases: [string, number][] = [
      ['12', 12_000],
      [' 2 ', 2000],
      ['0.0001', 1],
      ['x5', 1234],
      ['5x', 1234],
      ['soon', 1234],
      ['', 1234],
      [new Date(Date.now() - 60_000).toUTCString(), 0],
    ];
    for (const [value, ms] of cases) expect([value, retryAfterMs({ 'Retry-After': value }, 1234)]).toEqual([value, ms]);
    // An HTTP date has whole seconds, so five seconds ahead reads as just over four.
    const ahead = retryAfterMs({ 'retry-after': new Date(Date.now() + 5000).toUTCString() });
    expect(ahead).toBeGreaterThan(3000);
    expect(ahead).toBeLessThanOrEqual(5000);
  });

  it('quotes the error code, the other detail codes once each, and the message', () => {
    const details = [{ code: 'Request_BadRequest' }, { code: 'ObjectConflict' }, { code: 'InvalidValue' }];
    expect(detailOf(reply(400, graphError('Request_BadRequest', 'Property mail is invalid.', details))))
      .toBe('Request_BadRequest (ObjectConflict, InvalidValue) — Property mail is invalid.');
    expect(detailOf(reply(400, graphError('Request_BadRequest', 'Same code.', [{ code: 'Request_BadRequest' }]))))
      .toBe('Request_BadRequest — Same code.');
    // A body that claimed JSON and did not parse is quoted, never read as an envelope.
    expect(detailOf({ ...reply(400, graphError('X', 'y')), text: '{"error":', malformed: true }))
      .toBe('400 application/json: "{"error":"');
  });

  const html = (title: string) => `<html><title>${title}</title></html>`;
  const serviceError = graphError('ServiceUnavailable', 'Service unavailable');
  const replyCases: [string, RawReply, SyncErrorKind, string, Record<string, unknown>][] = [
    ['429 without body or header', reply(429, '', {}, ''), 'throttled', `Graph throttled ${what} (429)`, { status: 429, code: undefined, retryAfterMs: 1000 }],
    ['503 with Retry-After in any casing', reply(503, serviceError, { 'RETRY-AFTER': '7' }), 'throttled', `Graph throttled ${what} (503 ServiceUnavailable)`, { status: 503, code: 'ServiceUnavailable', retryAfterMs: 7000 }],
    ['500 with Retry-After', reply(500, graphError('InternalServerError', 'Oops'), { 'Retry-After': '4' }), 'transient', `Graph failed ${what}: InternalServerError — Oops ${WRITE}`, { status: 500, code: 'InternalServerError', nextRetryDelayMs: 4000 }],
    ['502 without Retry-After', reply(502, html('502 Bad Gateway'), {}, 'text/html'), 'transient', `Graph failed ${what}: 502 HTML page: "502 Bad Gateway" ${WRITE}`, { status: 502, code: undefined, nextRetryDelayMs: undefined }],
    ['408', reply(408, '', {}, ''), 'transient', `Graph failed ${what}: 408 no content type: "(empty body)" ${WRITE}`, { status: 408, code: undefined }],
    ['500 with a cut-off body', { ...reply(500, '{"error":{"code":"Internal', {}), malformed: true }, 'transient', `Graph failed ${what}: 500 application/json: "{"error":{"code":"Internal" ${WRITE}`, { status: 500, code: undefined }],
    // Only 503 pairs Retry-After with throttling; on a 4xx it changes nothing.
    ['400 with Retry-After', reply(400, graphError('Request_BadRequest', 'Invalid value.'), { 'Retry-After': '5' }), 'permanent', `Graph refused ${what}: Request_BadRequest — Invalid value.`, { status: 400, code: 'Request_BadRequest' }],
    ['400 HTML page', reply(400, html('Bad Request'), {}, 'text/html'), 'permanent', `Graph refused ${what}: 400 HTML page: "Bad Request"`, { status: 400, code: undefined }],
    ['404 from Graph', reply(404, graphError('Request_ResourceNotFound', "Resource '0b1c' does not exist.")), 'permanent', `Graph refused ${what}: Request_ResourceNotFound — Resource '0b1c' does not exist.`, { status: 404, code: 'Request_ResourceNotFound' }],
    ['404 not from Graph', reply(404, html('Not Found'), {}, 'text/html'), 'configuration', `No Graph resource answered ${what} (404 HTML page: "Not Found"); check GRAPH_BASE_URL (e.g. https://graph.microsoft.com/)`, { status: 404, code: undefined }],
    ['300 with a lower-case location', reply(300, '', { location: 'https://graph.example/v1.0/' }, ''), 'configuration', `Graph redirected ${what} (300) to https://graph.example/v1.0/; GRAPH_BASE_URL should point straight at Microsoft Graph`, { status: 300 }],
    ['307 without Location', reply(307, '', {}, ''), 'configuration', `Graph redirected ${what} (307) to nowhere; GRAPH_BASE_URL should point straight at Microsoft Graph`, { status: 307 }],
    // A success the caller did not expect (e.g. 204 where a body was due) fails the job, not the target.
    ['unexpected 204', reply(204, '', {}, ''), 'permanent', `Graph refused ${what}: 204 no content type: "(empty body)"`, { status: 204, code: undefined }],
    [
      '401',
      reply(401, graphError('InvalidAuthenticationToken', 'Access token has expired or is not yet valid.')),
      'configuration',
      `Graph rejected the access token on ${what} (InvalidAuthenticationToken — Access token has expired or is not yet valid.); check ENTRA_TENANT_ID, ENTRA_CLIENT_ID and that GRAPH_BASE_URL and ENTRA_AUTHORITY_HOST belong to the same cloud`,
      { status: 401, code: 'InvalidAuthenticationToken' },
    ],
  ];
  it.each(replyCases)('maps %s', (_name, r, kind, message, fields) => {
    const err = errorFromReply(call, r);
    expect([errorKind(err), err.message]).toEqual([kind, message]);
    expect(err).toMatchObject(fields);
  });

  const denied = reply(403, graphError('Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'));
  const said = 'Authorization_RequestDenied — Insufficient privileges to complete the operation';
  const grant = `Graph refused ${what}: ${said}; grant the application permission User.ReadWrite.All (admin consent) to ENTRA_CLIENT_ID`;
  const forbiddenCases: [string, GraphCall, RawReply, PermissionView | undefined, SyncErrorKind, string][] = [
    ['a missing permission', call, denied, roles('User.Read.All'), 'configuration', grant],
    ['no permission view', call, denied, undefined, 'configuration', grant],
    // A token whose roles cannot be read proves nothing held, so the permission is named.
    ['unreadable roles', call, denied, { roles: () => undefined }, 'configuration', grant],
    [
      'a call naming no permission',
      { method: 'GET', path: '/users' },
      reply(403, graphError('Authorization_RequestDenied', 'Insufficient privileges. Required: User.Read.All. ')),
      roles(),
      'configuration',
      'Graph refused GET /users: Authorization_RequestDenied — Insufficient privileges. Required: User.Read.All; check the application permissions of ENTRA_CLIENT_ID',
    ],
    ['an HTML page', call, reply(403, html('Forbidden'), {}, 'text/html'), roles(), 'configuration', `Graph refused ${what}: 403 HTML page: "Forbidden"; grant the application permission User.ReadWrite.All (admin consent) to ENTRA_CLIENT_ID`],
    [
      'a permission the app holds',
      call,
      denied,
      roles('Directory.ReadWrite.All'),
      'permanent',
      `Graph refused ${what} although the app holds User.ReadWrite.All: ${said}. The object likely needs a higher directory role (an administrator user, a role-assignable group)`,
    ],
    [
      'a password write',
      { ...call, permission: PASSWORD_PERMISSION },
      denied,
      roles(),
      'permanent',
      `Graph refused ${what}: ${said}. Setting passwords app-only needs the application permission User-PasswordProfile.ReadWrite.All (admin-consented) and the User Administrator directory role assigned to the app (Privileged Authentication Administrator for admin users); grant them and replay the failed password job. Other updates of this user are not affected.`,
    ],
  ];
  it.each(forbiddenCases)('maps 403 with %s', (_name, c, r, view, kind, message) => {
    const err = errorFromReply(c, r, view);
    expect([errorKind(err), err.message]).toEqual([kind, message]);
    expect(err).toMatchObject({ status: 403, code: r.json === undefined ? undefined : 'Authorization_RequestDenied' });
  });

  it('tells a proxy page from a broken or oddly shaped 2xx body', () => {
    const page = malformedSuccess(call, reply(200, html('Sign in'), {}, 'text/html; charset=utf-8'));
    expect([errorKind(page), page.message]).toEqual([
      'configuration',
      `Graph answered ${what} with 200 and an HTML page (text/html; charset=utf-8) instead of JSON: a proxy answered instead of Microsoft Graph; is a proxy or captive portal in front of it? GRAPH_BASE_URL should point straight at Microsoft Graph`,
    ]);
    const shape = malformedSuccess(call, reply(200, { value: 1 }), 'no "value" array');
    expect([errorKind(shape), shape.message, shape.code]).toEqual(['transient', `Graph answered ${what} with 200 but no "value" array ${WRITE}`, 'MALFORMED_RESPONSE']);
  });

  it('words transport failures the shared rules leave to Graph', () => {
    const ctx = { timeoutMs: 100, baseUrl: 'https://graph.microsoft.com/', timedOut: false, aborted: false };
    const reset = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    const cases: [unknown, typeof ctx, string, string | undefined][] = [
      [reset, ctx, `The connection to Graph failed during ${what}: ECONNRESET fetch failed ${WRITE}`, 'ECONNRESET'],
      // Only the first line: later ones are a stack or a dump of the request.
      [new Error('socket hang up\n    at TLSSocket.onHangUp'), ctx, `The connection to Graph failed during ${what}: error socket hang up ${WRITE}`, undefined],
      ['boom', ctx, `The connection to Graph failed during ${what}: error boom ${WRITE}`, undefined],
      // A shutdown abort says so, whatever the socket reported.
      [reset, { ...ctx, aborted: true }, `${what} to Graph was aborted (shutdown)`, 'ABORTED'],
    ];
    for (const [err, context, message, code] of cases) {
      const e = errorFromTransport(call, err, context);
      expect([errorKind(e), e.message, e.code]).toEqual(['transient', message, code]);
    }
  });
});
