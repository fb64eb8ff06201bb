// Exact wording and edge cases of the Crowd error mapping. Operators read these messages in
// the failed set and in quarantine reasons, so each one is asserted in full.
import { ConfigurationError, PermanentError, TransientError } from '../../../shared/errors.js';
import {
  describeCall,
  errorEntity,
  errorFromReply,
  errorFromTransport,
  isEmailChangeRefusal,
  malformedSuccess,
  retryAfterMs,
  type CrowdCall,
  type RawReply,
} from '../../../workers/crowd/errors.js';
import { expected, reply, view } from './replies.js';

const alice: CrowdCall = { method: 'PUT', resource: 'user', subject: 'alice' };
const search: CrowdCall = { method: 'GET', resource: 'search' };
const ctx = { applicationName: 'idsync', baseUrl: 'https://crowd.example.com/crowd/' };
const transportCtx = { timeoutMs: 100, baseUrl: ctx.baseUrl, aborted: false };
const EMAIL_REFUSAL = 'External applications are not allowed to change user emails';

const entity = (reason: string, message: string) => JSON.stringify({ reason, message });


describe('describeCall', () => {
  it('names the subject only when there is one', () => {
    expect(describeCall(alice)).toBe('PUT /user alice');
    expect(describeCall(search)).toBe('GET /search');
    expect(describeCall({ ...search, subject: undefined })).toBe('GET /search');
  });
});

describe('errorEntity', () => {
  it.each<[string, unknown, unknown]>([
    ['null', null, undefined],
    ['a string', 'APPLICATION_PERMISSION_DENIED', undefined],
    ['a number', 42, undefined],
    ['no reason', { message: 'm' }, undefined],
    ['a non-string reason', { reason: 7, message: 'm' }, undefined],
    ['a non-string message', { reason: 'INVALID_USER', message: 3 }, { reason: 'INVALID_USER', message: '' }],
    ['no message', { reason: 'INVALID_USER' }, { reason: 'INVALID_USER', message: '' }],
    ['extra fields', { reason: 'INVALID_USER', message: 'm', stack: 'x' }, { reason: 'INVALID_USER', message: 'm' }],
  ])('reads %s', (_, json, entityOut) => {
    expect(errorEntity(json)).toStrictEqual(entityOut);
  });
});

describe('retryAfterMs', () => {
  it.each<[string, RawReply['headers'], number]>([
    ['whole seconds', { 'retry-after': '12' }, 12_000],
    ['fractional seconds, rounded up', { 'retry-after': '1.5' }, 1500],
    ['two decimals', { 'retry-after': '1.25' }, 1250],
    ['surrounding blanks', { 'retry-after': '  2 ' }, 2000],
    ['the first of repeated headers', { 'retry-after': ['3', '9'] }, 3000],
    ['zero seconds', { 'retry-after': '0' }, 0],
    // Neither seconds nor a date: the rate-limit interval, then the default, decide.
    ['a unit suffix', { 'retry-after': '5s' }, 1000],
    ['a word before the number', { 'retry-after': 'abc5' }, 1000],
    ['garbage, with an interval', { 'retry-after': 'soon', 'x-ratelimit-interval-seconds': '3' }, 3000],
    ['an empty value', { 'retry-after': '', 'x-ratelimit-interval-seconds': '2' }, 2000],
    ['a fractional interval', { 'x-ratelimit-interval-seconds': '0.25' }, 250],
    ['a zero interval', { 'x-ratelimit-interval-seconds': '0' }, 1000],
    ['a negative interval', { 'x-ratelimit-interval-seconds': '-5' }, 1000],
    ['a garbage interval', { 'x-ratelimit-interval-seconds': 'fast' }, 1000],
    ['an infinite interval', { 'x-ratelimit-interval-seconds': 'Infinity' }, 1000],
  ])('reads %s', (_, headers, ms) => {
    expect(retryAfterMs(headers)).toBe(ms);
  });

  it('falls back to the given default', () => {
    expect(retryAfterMs({ 'x-ratelimit-interval-seconds': '0' }, 250)).toBe(250);
  });

  it('counts down to an HTTP date, and not below zero once it has passed', () => {
    // toUTCString drops the milliseconds, so the wait is between 4 and 5 s less the test's own time.
    const future = new Date(Date.now() + 5000).toUTCString();
    const wait = retryAfterMs({ 'retry-after': future });
    expect(wait).toBeGreaterThan(3000);
    expect(wait).toBeLessThanOrEqual(5000);
    expect(retryAfterMs({ 'retry-after': new Date(Date.now() - 60_000).toUTCString() })).toBe(0);
  });
});

describe('errorFromReply', () => {
  const RESOLVE_EMAIL = '(Crowd blocks e-mail changes by applications unless the server runs with -Dcrowd.email.change.by.external.apps=true)';
  it.each<[string, CrowdCall, RawReply, ReturnType<typeof expected>]>([
    ['429 without a hint', search, reply(429, '', 'text/plain'), expected('throttled', 'Crowd throttled GET /search (429)', { status: 429, retryAfterMs: 1000 })],
    [
      '429 with Retry-After and an ErrorEntity',
      alice,
      reply(429, entity('RATE_LIMITED', 'slow down'), 'application/json', { 'retry-after': '3' }),
      expected('throttled', 'Crowd throttled PUT /user alice (429)', { status: 429, code: 'RATE_LIMITED', retryAfterMs: 3000 }),
    ],
    // A 503 is only an application-wide slow-down when it says how long to wait.
    [
      '503 without Retry-After',
      alice,
      reply(503, 'Service Unavailable', 'text/plain'),
      expected('transient', 'Crowd failed PUT /user alice: 503 text/plain: "Service Unavailable"', { status: 503 }),
    ],
    [
      '500 with Retry-After',
      alice,
      reply(500, entity('OPERATION_FAILED', 'boom'), 'application/json', { 'retry-after': '4' }),
      expected('transient', 'Crowd failed PUT /user alice: OPERATION_FAILED — boom', { status: 500, code: 'OPERATION_FAILED', nextRetryDelayMs: 4000 }),
    ],
    [
      '500 without a body',
      search,
      reply(500, '', ''),
      expected('transient', 'Crowd failed GET /search: 500 no content type: "(empty body)"', { status: 500 }),
    ],
    [
      '401',
      search,
      reply(401, 'Application failed to authenticate', 'text/plain'),
      expected(
        'configuration',
        'Crowd rejected the application credentials of "idsync" on GET /search (401 Application failed to authenticate); check CROWD_APP_NAME and CROWD_APP_PASSWORD (an application, not a user login)',
        { status: 401 },
      ),
    ],
    [
      '403 from a firewall',
      alice,
      reply(403, 'Access denied', 'text/plain'),
      expected(
        'configuration',
        `Crowd, or a proxy or firewall in front of it, refused PUT /user alice with a 403 text/plain: "Access denied"; check the application's remote addresses in Crowd and any firewall between idsync and Crowd`,
        { status: 403 },
      ),
    ],
    [
      '403 refusing an e-mail change',
      alice,
      reply(403, entity('APPLICATION_PERMISSION_DENIED', EMAIL_REFUSAL)),
      expected('permanent', `Crowd refused PUT /user alice: APPLICATION_PERMISSION_DENIED — ${EMAIL_REFUSAL} ${RESOLVE_EMAIL}`, {
        status: 403,
        code: 'APPLICATION_PERMISSION_DENIED',
      }),
    ],
    // The server switch is only the fix when Crowd refused with a 403.
    [
      '400 mentioning e-mail changes',
      alice,
      reply(400, entity('INVALID_USER', EMAIL_REFUSAL)),
      expected('permanent', `Crowd refused PUT /user alice: INVALID_USER — ${EMAIL_REFUSAL}`, { status: 400, code: 'INVALID_USER' }),
    ],
    [
      '404 ErrorEntity',
      { method: 'GET', resource: 'user', subject: 'bob' },
      reply(404, entity('USER_NOT_FOUND', 'User <bob> does not exist')),
      expected('permanent', 'Crowd refused GET /user bob: USER_NOT_FOUND — User <bob> does not exist', { status: 404, code: 'USER_NOT_FOUND' }),
    ],
    [
      '404 from something else',
      search,
      reply(404, '<html><title>404 Not Found</title></html>', 'text/html'),
      expected(
        'configuration',
        'No Crowd REST resource answered GET /search at https://crowd.example.com/crowd/ (404 HTML page: "404 Not Found"); check CROWD_URL (it includes the context path, e.g. https://crowd.example.com/crowd/)',
        { status: 404 },
      ),
    ],
    [
      '300',
      search,
      reply(300, '', '', { location: 'https://crowd.example.com/other/' }),
      expected(
        'configuration',
        'Crowd redirected GET /search (300) to https://crowd.example.com/other/; CROWD_URL should point straight at Crowd (is an SSO proxy in front of it?)',
        { status: 300 },
      ),
    ],
    [
      '307 without Location',
      alice,
      reply(307, '', ''),
      expected('configuration', 'Crowd redirected PUT /user alice (307) to nowhere; CROWD_URL should point straight at Crowd (is an SSO proxy in front of it?)', {
        status: 307,
      }),
    ],
    [
      'JSON null',
      alice,
      reply(400, 'null'),
      expected('permanent', 'Crowd refused PUT /user alice: 400 application/json: "null"', { status: 400 }),
    ],
    [
      'JSON without a reason',
      alice,
      reply(409, '{"message":"conflict"}'),
      expected('permanent', 'Crowd refused PUT /user alice: 409 application/json: "{"message":"conflict"}"', { status: 409 }),
    ],
  ])('maps %s', (_, call, r, want) => {
    expect(view(errorFromReply(call, r, ctx))).toStrictEqual(want);
  });
});

describe('isEmailChangeRefusal', () => {
  const refusal = (name: string, code: string | undefined, message: string) => Object.assign(new Error(message), { name, code });
  it.each<[string, unknown, boolean]>([
    ['accepts the mapped 403', errorFromReply(alice, reply(403, entity('APPLICATION_PERMISSION_DENIED', EMAIL_REFUSAL)), ctx), true],
    ['accepts any letter case', new PermanentError('NOT ALLOWED TO CHANGE USER EMAILS', { code: 'APPLICATION_PERMISSION_DENIED' }), true],
    ['rejects another kind', new ConfigurationError(EMAIL_REFUSAL, { code: 'APPLICATION_PERMISSION_DENIED' }), false],
    ['rejects another code', refusal('PermanentError', 'INVALID_USER', EMAIL_REFUSAL), false],
    ['rejects no code', refusal('PermanentError', undefined, EMAIL_REFUSAL), false],
    ['rejects another refusal', new PermanentError("Cannot update user 'alice' because directory 'LDAP' does not allow updates.", { code: 'APPLICATION_PERMISSION_DENIED' }), false],
    ['rejects null', null, false],
    ['rejects undefined', undefined, false],
    ['rejects a bare string', EMAIL_REFUSAL, false],
  ])('%s', (_, err, want) => {
    expect(isEmailChangeRefusal(err)).toBe(want);
  });
});

describe('malformedSuccess', () => {
  it.each<[string, RawReply, string | undefined, ReturnType<typeof expected>]>([
    [
      'an SSO login page',
      reply(200, '<html><title>Log in</title></html>', 'text/html'),
      undefined,
      expected(
        'configuration',
        'Crowd answered GET /search with 200 and an HTML page (text/html) instead of JSON: a proxy answered instead of Crowd; is an SSO or login proxy in front of it? CROWD_URL should point straight at Crowd',
        { status: 200, code: 'MALFORMED_RESPONSE' },
      ),
    ],
    [
      'cut-off JSON',
      { ...reply(200, '{"users":['), malformed: true },
      undefined,
      expected('transient', 'Crowd answered GET /search with 200 but JSON that does not parse (10 bytes, cut off?)', {
        status: 200,
        code: 'MALFORMED_RESPONSE',
      }),
    ],
    [
      'a wrong shape',
      reply(200, '{}'),
      'no "users" array',
      expected('transient', 'Crowd answered GET /search with 200 but no "users" array', { status: 200, code: 'MALFORMED_RESPONSE' }),
    ],
  ])('maps %s', (_, r, problem, want) => {
    expect(view(malformedSuccess(search, r, problem))).toStrictEqual(want);
  });
});

describe('errorFromTransport', () => {
  const fail = (message: string, props: Record<string, unknown> = {}) => Object.assign(new Error(message), props);
  const reset = (code: string) => expected('transient', 'The connection to Crowd was reset during PUT /user alice (a write may still have been applied)', { code });
  it.each<[string, unknown, ReturnType<typeof expected>]>([
    ['ECONNRESET', fail('read ECONNRESET', { code: 'ECONNRESET' }), reset('ECONNRESET')],
    ['EPIPE', fail('write EPIPE', { code: 'EPIPE' }), reset('EPIPE')],
    ['ECONNABORTED', fail('aborted', { code: 'ECONNABORTED' }), reset('ECONNABORTED')],
    // undici reports the system error as the cause of a TypeError.
    ['a wrapped reset', new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }), reset('ECONNRESET')],
    [
      'the client deadline without a code',
      fail('Timeout awaiting request', { name: 'TimeoutError' }),
      expected('transient', 'Crowd did not answer PUT /user alice within 100 ms (a write may still have been applied)', { code: 'ETIMEDOUT' }),
    ],
    [
      'ETIMEDOUT',
      fail('connect ETIMEDOUT', { code: 'ETIMEDOUT' }),
      expected('transient', 'Crowd did not answer PUT /user alice within 100 ms (a write may still have been applied)', { code: 'ETIMEDOUT' }),
    ],
    [
      'an unparsable CROWD_URL',
      fail('Invalid URL', { code: 'ERR_INVALID_URL' }),
      expected(
        'configuration',
        'Cannot reach Crowd at https://crowd.example.com/crowd/ for PUT /user alice: ERR_INVALID_URL; check CROWD_URL and the TLS trust store (NODE_EXTRA_CA_CERTS)',
        { code: 'ERR_INVALID_URL' },
      ),
    ],
    [
      'a refused connection',
      fail('connect ECONNREFUSED', { code: 'ECONNREFUSED' }),
      expected('transient', 'Cannot reach Crowd at https://crowd.example.com/crowd/ for PUT /user alice: ECONNREFUSED', { code: 'ECONNREFUSED' }),
    ],
    [
      'an unknown code, first line only',
      fail('write EPROTO\n    at TLSWrap.onStreamRead', { code: 'EPROTO' }),
      expected('transient', 'Request PUT /user alice to Crowd failed: EPROTO write EPROTO', { code: 'EPROTO' }),
    ],
    ['an unknown code without a message', fail('', { code: 'EPROTO' }), expected('transient', 'Request PUT /user alice to Crowd failed: EPROTO', { code: 'EPROTO' })],
    ['an error without a code', new RangeError('bad header'), expected('transient', 'Request PUT /user alice to Crowd failed: RangeError bad header')],
    ['a thrown string', 'socket hang up', expected('transient', 'Request PUT /user alice to Crowd failed: error socket hang up')],
    ['undefined', undefined, expected('transient', 'Request PUT /user alice to Crowd failed: error undefined')],
    ['null', null, expected('transient', 'Request PUT /user alice to Crowd failed: error null')],
  ])('maps %s', (_, err, want) => {
    expect(view(errorFromTransport(alice, err, transportCtx))).toStrictEqual(want);
  });

  it('reports an abort as a shutdown whatever the cause, keeping the cause', () => {
    const cause = fail('read ECONNRESET', { code: 'ECONNRESET' });
    const err = errorFromTransport(search, cause, { ...transportCtx, aborted: true });
    expect(err).toBeInstanceOf(TransientError);
    expect(view(err)).toStrictEqual(expected('transient', 'GET /search to Crowd was aborted (shutdown)', { code: 'ABORTED' }));
    expect(err.cause).toBe(cause);
  });
});
