// Exact wording and edge cases of the webhook error mapping, without a receiver. Operators read
// these messages in the failed set and in quarantine reasons, and a receiver's own words are
// quoted only after scrubbing, so each message is asserted in full.
import { errorKind, type SyncError } from '../../../shared/errors.js';
import { TLS_CODES } from '../../../workers/runtime/http-failures.js';
import {
  describeCall,
  errorFromReply,
  errorFromTransport,
  malformedSuccess,
  retryAfterMs,
  safeEndpoint,
  type RawReply,
  type WebhookCall,
} from '../../../workers/app/webhook/errors.js';

const SECRET = 'sh4red-Secret';
const ENDPOINT = 'https://app.example.com/idsync';
const ctx = { endpoint: ENDPOINT, secret: SECRET, timeoutMs: 250 };
const transportCtx = { ...ctx, aborted: false };

const apply: WebhookCall = { method: 'POST', resource: 'user.apply', userId: '42' };
const list: WebhookCall = { method: 'GET', resource: '/users' };
const getUser: WebhookCall = { method: 'GET', resource: '/users/{id}', userId: '7' };

/** A reply as the client hands it over: JSON parsed when the type says JSON and it parses. */
function reply(status: number, text = '', contentType = 'application/json', headers: RawReply['headers'] = {}): RawReply {
  let json: unknown;
  try {
    json = contentType.includes('json') && text.trim() !== '' ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status, headers, text, contentType, json, malformed: false };
}
const jsonReply = (status: number, body: unknown, headers: RawReply['headers'] = {}) => reply(status, JSON.stringify(body), 'application/json', headers);

// Everything a runtime decision or an operator depends on, in one comparable shape.
const view = (err: SyncError) => ({
  kind: errorKind(err),
  name: err.name,
  message: err.message,
  status: err.status,
  code: err.code,
  retryAfterMs: (err as { retryAfterMs?: number }).retryAfterMs,
  nextRetryDelayMs: (err as { nextRetryDelayMs?: number }).nextRetryDelayMs,
  cause: err.cause,
});
const NAMES = { transient: 'TransientError', throttled: 'ThrottledError', permanent: 'PermanentError', configuration: 'ConfigurationError' } as const;
const expected = (kind: keyof typeof NAMES, message: string, more: Partial<ReturnType<typeof view>> = {}) => ({
  kind,
  name: NAMES[kind],
  message,
  status: undefined,
  code: undefined,
  retryAfterMs: undefined,
  nextRetryDelayMs: undefined,
  cause: undefined,
  ...more,
});

describe('describeCall', () => {
  it('names the user only when the call is about one', () => {
    expect(describeCall(apply)).toBe('POST user.apply (user 42)');
    expect(describeCall(list)).toBe('GET /users');
    expect(describeCall({ ...list, userId: undefined })).toBe('GET /users');
    // An empty id is still an id the call was about.
    expect(describeCall({ ...list, userId: '' })).toBe('GET /users (user )');
  });
});

describe('safeEndpoint', () => {
  it('drops credentials, query and fragment, keeping port and path', () => {
    expect(safeEndpoint('https://user:pa55@app.example.com:8443/hook/in?token=abc#frag')).toBe('https://app.example.com:8443/hook/in');
    expect(safeEndpoint(new URL('http://app.example.com'))).toBe('http://app.example.com/');
  });
});

describe('retryAfterMs', () => {
  it.each<[string, RawReply['headers'], number]>([
    ['whole seconds', { 'retry-after': '12' }, 12_000],
    ['fractional seconds', { 'retry-after': '1.25' }, 1250],
    ['a fraction of a millisecond, rounded up', { 'retry-after': '0.0001' }, 1],
    ['zero seconds', { 'retry-after': '0' }, 0],
    // A bare number with blanks parses as a date in V8, so the blanks must go first.
    ['surrounding blanks', { 'retry-after': '  2 ' }, 2000],
    ['the first of repeated headers', { 'retry-after': ['3', '9'] }, 3000],
    ['no header', {}, 1000],
    ['an empty value', { 'retry-after': '' }, 1000],
    ['only blanks', { 'retry-after': '   ' }, 1000],
    ['an empty list', { 'retry-after': [] }, 1000],
    ['a unit suffix', { 'retry-after': '5s' }, 1000],
    ['a word before the number', { 'retry-after': 'abc5' }, 1000],
    ['a trailing dot', { 'retry-after': '5.' }, 0],
    ['garbage', { 'retry-after': 'soon' }, 1000],
  ])('reads %s', (_, headers, ms) => {
    expect(retryAfterMs(headers)).toBe(ms);
  });

  it('falls back to the given default when nothing is readable', () => {
    expect(retryAfterMs({}, 250)).toBe(250);
    expect(retryAfterMs({ 'retry-after': 'soon' }, 250)).toBe(250);
    expect(retryAfterMs({ 'retry-after': '7' }, 250)).toBe(7000);
  });

  it('counts down to an HTTP date, and not below zero once it has passed', () => {
    // toUTCString drops the milliseconds, so the wait is between 9 and 10 s less the test's own time.
    const wait = retryAfterMs({ 'retry-after': new Date(Date.now() + 10_000).toUTCString() });
    expect(wait).toBeGreaterThan(8000);
    expect(wait).toBeLessThanOrEqual(10_000);
    expect(retryAfterMs({ 'retry-after': new Date(Date.now() - 60_000).toUTCString() })).toBe(0);
  });
});

describe('errorFromReply', () => {
  const signatureHint = "check that APP_WEBHOOK_SECRET is the receiver's secret and that both clocks are within 300 s";
  const forbiddenHint = 'check APP_WEBHOOK_URL and APP_WEBHOOK_SECRET, and any login or firewall in front of the application';
  const redirectHint = 'APP_WEBHOOK_URL must point straight at the receiver (a redirect would break the signature)';

  it.each<[string, WebhookCall, RawReply, ReturnType<typeof expected>]>([
    ['429 without a hint', list, reply(429), expected('throttled', 'The webhook throttled GET /users (429)', { status: 429, retryAfterMs: 1000 })],
    [
      '429 with Retry-After and a code, not quoting the text',
      apply,
      jsonReply(429, { error: 'slow down', code: 'RATE_LIMITED' }, { 'retry-after': '3' }),
      expected('throttled', 'The webhook throttled POST user.apply (user 42) (429)', { status: 429, code: 'RATE_LIMITED', retryAfterMs: 3000 }),
    ],
    // A 503 is only an application-wide slow-down when it says how long to wait.
    [
      '503 with Retry-After',
      list,
      reply(503, 'Service Unavailable', 'text/plain', { 'retry-after': '2' }),
      expected('throttled', 'The webhook throttled GET /users (503)', { status: 503, retryAfterMs: 2000 }),
    ],
    [
      '503 with an empty Retry-After',
      list,
      reply(503, '', 'text/plain', { 'retry-after': '' }),
      expected('throttled', 'The webhook throttled GET /users (503)', { status: 503, retryAfterMs: 1000 }),
    ],
    [
      '503 without Retry-After',
      list,
      reply(503, 'Service Unavailable', 'text/plain'),
      expected('transient', 'The webhook failed GET /users (503: Service Unavailable)', { status: 503 }),
    ],
    [
      '401 with the receiver’s words',
      apply,
      jsonReply(401, { error: 'bad signature', code: 'BAD_SIGNATURE' }),
      expected('configuration', `The webhook at ${ENDPOINT} rejected the signature of POST user.apply (user 42) (401: bad signature); ${signatureHint}`, {
        status: 401,
        code: 'BAD_SIGNATURE',
      }),
    ],
    [
      '401 without a body',
      list,
      reply(401, '', ''),
      expected('configuration', `The webhook at ${ENDPOINT} rejected the signature of GET /users (401); ${signatureHint}`, { status: 401 }),
    ],
    [
      '403 from a proxy page',
      list,
      reply(403, '<html><head><title>Forbidden</title></head><body>nope</body></html>', 'text/html'),
      expected('configuration', `The webhook at ${ENDPOINT}, or something in front of it, refused GET /users (403: Forbidden); ${forbiddenHint}`, { status: 403 }),
    ],
    [
      '300 to a relative address, without its query',
      list,
      reply(300, '', '', { location: '/elsewhere?token=x' }),
      expected('configuration', `The webhook redirected GET /users (300) to https://app.example.com/elsewhere; ${redirectHint}`, { status: 300 }),
    ],
    [
      '302 to another host, without its credentials',
      apply,
      reply(302, '', '', { location: 'https://u:p@login.example.net/sso?next=%2F#x' }),
      expected('configuration', `The webhook redirected POST user.apply (user 42) (302) to https://login.example.net/sso; ${redirectHint}`, { status: 302 }),
    ],
    [
      '399 without Location',
      list,
      reply(399, '', ''),
      expected('configuration', `The webhook redirected GET /users (399) to nowhere; ${redirectHint}`, { status: 399 }),
    ],
    [
      '307 with repeated Location headers',
      list,
      reply(307, '', '', { location: ['/a', '/b'] }),
      expected('configuration', `The webhook redirected GET /users (307) to nowhere; ${redirectHint}`, { status: 307 }),
    ],
    [
      '301 to an address that does not parse',
      list,
      reply(301, '', '', { location: 'http://[::1' }),
      expected('configuration', `The webhook redirected GET /users (301) to nowhere; ${redirectHint}`, { status: 301 }),
    ],
    [
      'a JSON 404 about a user',
      apply,
      jsonReply(404, { error: 'no such user' }),
      expected('permanent', 'The webhook has no user 42 for POST user.apply (user 42) (404: no such user)', { status: 404, code: 'USER_NOT_FOUND' }),
    ],
    [
      'a JSON 404 about a user, with its own code',
      getUser,
      jsonReply(404, { error: 'deleted', code: 'GONE' }),
      expected('permanent', 'The webhook has no user 7 for GET /users/{id} (user 7) (404: deleted)', { status: 404, code: 'GONE' }),
    ],
    [
      'an empty JSON 404 about a user',
      getUser,
      jsonReply(404, {}),
      expected('permanent', 'The webhook has no user 7 for GET /users/{id} (user 7) (404)', { status: 404, code: 'USER_NOT_FOUND' }),
    ],
    [
      'an HTML 404 about a user',
      getUser,
      reply(404, '<html><title>Not Found</title></html>', 'text/html'),
      expected('configuration', `No webhook answered GET /users/{id} (user 7) at ${ENDPOINT} (404: Not Found); check APP_WEBHOOK_URL`, { status: 404 }),
    ],
    [
      'a JSON 404 about no user',
      list,
      jsonReply(404, { error: 'no route' }),
      expected('configuration', `No webhook answered GET /users at ${ENDPOINT} (404: no route); check APP_WEBHOOK_URL`, { status: 404 }),
    ],
    [
      '405',
      apply,
      jsonReply(405, { error: 'method not allowed' }),
      expected('configuration', `No webhook answered POST user.apply (user 42) at ${ENDPOINT} (405: method not allowed); check APP_WEBHOOK_URL`, { status: 405 }),
    ],
    ['406', apply, reply(406), expected('permanent', 'The webhook refused POST user.apply (user 42) (406)', { status: 406 })],
    ['407', list, reply(407), expected('permanent', 'The webhook refused GET /users (407)', { status: 407 })],
    ['408', list, reply(408), expected('transient', 'The webhook failed GET /users (408)', { status: 408 })],
    ['409', list, reply(409), expected('permanent', 'The webhook refused GET /users (409)', { status: 409 })],
    ['424', list, reply(424), expected('permanent', 'The webhook refused GET /users (424)', { status: 424 })],
    ['425', list, reply(425), expected('transient', 'The webhook failed GET /users (425)', { status: 425 })],
    ['426', list, reply(426), expected('permanent', 'The webhook refused GET /users (426)', { status: 426 })],
    ['499', list, reply(499), expected('permanent', 'The webhook refused GET /users (499)', { status: 499 })],
    ['500', list, reply(500), expected('transient', 'The webhook failed GET /users (500)', { status: 500 })],
    [
      '500 with Retry-After and a code',
      apply,
      jsonReply(500, { error: 'database down', code: 'DB' }, { 'retry-after': '4' }),
      expected('transient', 'The webhook failed POST user.apply (user 42) (500: database down)', { status: 500, code: 'DB', nextRetryDelayMs: 4000 }),
    ],
    ['599', list, reply(599), expected('transient', 'The webhook failed GET /users (599)', { status: 599 })],
    [
      '400 with the receiver’s words and code',
      apply,
      jsonReply(400, { error: 'email is invalid', code: 'INVALID_EMAIL' }),
      expected('permanent', 'The webhook refused POST user.apply (user 42) (400: email is invalid)', { status: 400, code: 'INVALID_EMAIL' }),
    ],
    [
      '422',
      apply,
      jsonReply(422, { error: 'username taken' }),
      expected('permanent', 'The webhook refused POST user.apply (user 42) (422: username taken)', { status: 422 }),
    ],
    // Not a status a caller hands over, but nothing in the mapping makes it a redirect.
    ['299', list, reply(299), expected('permanent', 'The webhook refused GET /users (299)', { status: 299 })],
  ])('maps %s', (_, call, r, want) => {
    expect(view(errorFromReply(call, r, ctx))).toStrictEqual(want);
  });

  describe('quoting the receiver', () => {
    // 400 quotes whatever detail the receiver gave: `The webhook refused GET /users (<detail>)`.
    const refusal = (r: RawReply, secret = SECRET) => {
      const err = errorFromReply(list, r, { ...ctx, secret });
      return { detail: /^The webhook refused GET \/users \((.*)\)$/s.exec(err.message)?.[1], code: err.code };
    };

    it.each<[string, RawReply, string]>([
      ['the error text of its JSON', jsonReply(400, { error: 'bad value' }), '400: bad value'],
      ['nothing for an error that is not a string', jsonReply(400, { error: 5 }), '400'],
      ['nothing for JSON null', jsonReply(400, null), '400'],
      ['nothing for a JSON list', jsonReply(400, ['bad']), '400'],
      ['nothing for JSON without an error', jsonReply(400, { message: 'bad' }), '400'],
      ['a plain body', reply(400, 'plain   words\nhere', 'text/plain'), '400: plain words here'],
      ['nothing for a blank body', reply(400, '  \n ', 'text/plain'), '400'],
      ['the title of a page', reply(400, '<html><title>Bad Request</title><p>long story</p></html>', 'text/html'), '400: Bad Request'],
      ['a cut-off JSON body as text', { ...reply(400, '{"error":"cut', 'application/json'), malformed: true }, '400: {"error":"cut'],
      ['one line, without blanks around', jsonReply(400, { error: '  line one\n\tline  two  ' }), '400: line one line two'],
      ['the secret as a placeholder, everywhere', jsonReply(400, { error: `expected ${SECRET}, not ${SECRET}x` }), '400: expected [secret], not [secret]x'],
      ['the secret in a plain body', reply(400, `secret=${SECRET}`, 'text/plain'), '400: secret=[secret]'],
      ['a MAC as a placeholder', jsonReply(400, { error: `expected v1=${'ab12'.repeat(16)}` }), '400: expected v1=[hex]'],
      ['a MAC in upper case', jsonReply(400, { error: `got ${'AB12'.repeat(10)}!` }), '400: got [hex]!'],
      ['32 hex digits as a placeholder', jsonReply(400, { error: `x ${'f'.repeat(32)} y` }), '400: x [hex] y'],
      ['31 hex digits as they are', jsonReply(400, { error: `x ${'f'.repeat(31)} y` }), `400: x ${'f'.repeat(31)} y`],
      ['200 characters in full', jsonReply(400, { error: 'w'.repeat(200) }), `400: ${'w'.repeat(200)}`],
      ['201 characters cut to 200', jsonReply(400, { error: 'w'.repeat(201) }), `400: ${'w'.repeat(199)}…`],
      ['a long plain body cut to 200', reply(400, 'p'.repeat(300), 'text/plain'), `400: ${'p'.repeat(199)}…`],
    ])('quotes %s', (_, r, detail) => {
      expect(refusal(r).detail).toBe(detail);
    });

    it('leaves the text alone when there is no secret to hide', () => {
      expect(refusal(jsonReply(400, { error: 'plain text' }), '')).toEqual({ detail: '400: plain text', code: undefined });
    });

    it.each<[string, unknown, string | undefined]>([
      ['a code as it is', { code: 'INVALID_EMAIL' }, 'INVALID_EMAIL'],
      ['no code when absent', { error: 'x' }, undefined],
      ['no code when empty', { code: '' }, undefined],
      ['a code on one line', { code: '  A \n B ' }, 'A B'],
      ['the secret in a code as a placeholder', { code: `K_${SECRET}` }, 'K_[secret]'],
      ['a MAC in a code as a placeholder', { code: 'c'.repeat(40) }, '[hex]'],
      ['64 characters of a code', { code: 'Z'.repeat(64) }, 'Z'.repeat(64)],
      ['a longer code cut to 64', { code: 'Z'.repeat(65) }, 'Z'.repeat(64)],
      ['a very long code cut to 64', { code: 'Z'.repeat(300) }, 'Z'.repeat(64)],
    ])('reads %s', (_, body, code) => {
      expect(refusal(jsonReply(400, body)).code).toBe(code);
    });

    it('takes a code with no error text', () => {
      expect(refusal(jsonReply(400, { code: 'ONLY_CODE' }))).toEqual({ detail: '400', code: 'ONLY_CODE' });
    });
  });
});

describe('malformedSuccess', () => {
  const answered = (rest: string, status = 200) => expected('transient', `The webhook answered GET /users with ${status} but ${rest}`, { status, code: 'MALFORMED_RESPONSE' });
  const html = (title: string) => `an HTML page ("${title}") instead of JSON; is a login page or proxy in front of the webhook?`;

  it.each<[string, RawReply, string | undefined, ReturnType<typeof expected>]>([
    ['a login page', reply(200, '<html><title>Sign in</title></html>', 'text/html; charset=utf-8'), undefined, answered(html('Sign in'))],
    ['a page without a content type', reply(200, '  <!DOCTYPE html><h1>Portal</h1>', ''), undefined, answered(html('Portal'))],
    ['a page with a long title', reply(200, `<title>${'t'.repeat(100)}</title>`, 'text/html'), undefined, answered(html(`${'t'.repeat(79)}…`))],
    ['a page even when cut off', { ...reply(200, '<html><title>Sign', 'text/html'), malformed: true }, undefined, answered(html('Sign'))],
    ['cut-off JSON', { ...reply(200, '{"users":[', 'application/json'), malformed: true }, undefined, answered('JSON that does not parse (10 bytes, cut off?)')],
    ['cut-off JSON, counting bytes', { ...reply(200, '{"n":"é', 'application/json'), malformed: true }, 'ignored', answered('JSON that does not parse (8 bytes, cut off?)')],
    ['an empty body', reply(201, '', 'application/json'), undefined, answered('an empty body', 201)],
    ['a blank body, whatever the problem', reply(200, ' \n', 'application/json'), 'a body without "users"', answered('an empty body')],
    ['a wrong shape', reply(200, '{}', 'application/json'), 'a body without "users"', answered('a body without "users"')],
    ['a wrong shape labelled text/html (as PHP labels it) by its shape, not as a page', { ...reply(200, '{}', 'text/html; charset=UTF-8'), json: {} }, 'a body without "users"', answered('a body without "users"')],
    ['another content type', reply(200, 'ok', 'text/plain'), undefined, answered('an unexpected text/plain body')],
    ['no content type', reply(200, 'ok', ''), undefined, answered('an unexpected untyped body')],
  ])('maps %s', (_, r, problem, want) => {
    expect(view(malformedSuccess(list, r, problem))).toStrictEqual(want);
  });
});

describe('errorFromTransport', () => {
  const fail = (message: string, props: Record<string, unknown> = {}) => Object.assign(new Error(message), props);
  const timeout = expected('transient', 'The webhook did not answer POST user.apply (user 42) within 250 ms (a write may still have been applied)', { code: 'ETIMEDOUT' });
  const reset = (code: string) => expected('transient', 'The connection to the webhook was reset during POST user.apply (user 42) (a write may still have been applied)', { code });
  const config = (code: string) =>
    expected('configuration', `Cannot reach the webhook at ${ENDPOINT} for POST user.apply (user 42): ${code}; check APP_WEBHOOK_URL and the TLS trust store (NODE_EXTRA_CA_CERTS)`, { code });
  const unreachable = (code: string) => expected('transient', `Cannot reach the webhook at ${ENDPOINT} for POST user.apply (user 42): ${code}`, { code });
  const failed = (name: string) => expected('transient', `Request POST user.apply (user 42) to the webhook failed: ${name}`);

  it.each<[string, unknown, ReturnType<typeof expected>]>([
    ['the client deadline without a code', fail('Timeout awaiting request', { name: 'TimeoutError' }), timeout],
    ['the client deadline over a reset', fail('Timeout', { name: 'TimeoutError', code: 'ECONNRESET' }), timeout],
    ['ETIMEDOUT', fail('connect ETIMEDOUT', { code: 'ETIMEDOUT' }), timeout],
    // undici reports the system error as the cause of a TypeError.
    ['a wrapped ETIMEDOUT', new TypeError('fetch failed', { cause: { code: 'ETIMEDOUT' } }), timeout],
    ...[...TLS_CODES].map((code): [string, unknown, ReturnType<typeof expected>] => [code, fail('tls', { code }), config(code)]),
    ['an unparsable APP_WEBHOOK_URL', fail('Invalid URL', { code: 'ERR_INVALID_URL' }), config('ERR_INVALID_URL')],
    ['ECONNRESET', fail('read ECONNRESET', { code: 'ECONNRESET' }), reset('ECONNRESET')],
    ['EPIPE', fail('write EPIPE', { code: 'EPIPE' }), reset('EPIPE')],
    ['ECONNABORTED', fail('aborted', { code: 'ECONNABORTED' }), reset('ECONNABORTED')],
    ['a refused connection', fail('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), unreachable('ECONNREFUSED')],
    ['an unknown host', fail('getaddrinfo ENOTFOUND', { code: 'ENOTFOUND' }), unreachable('ENOTFOUND')],
    ['any other code', fail('write EPROTO', { code: 'EPROTO' }), unreachable('EPROTO')],
    ['an error without a code', new RangeError('bad header'), failed('RangeError')],
    ['an error without a name', fail('x', { name: '' }), failed('error')],
    ['a name that is not a string', { name: 42 }, failed('42')],
    ['a thrown string', 'socket hang up', failed('error')],
    ['undefined', undefined, failed('error')],
    ['null', null, failed('error')],
  ])('maps %s, without the cause', (_, err, want) => {
    expect(view(errorFromTransport(apply, err, transportCtx))).toStrictEqual(want);
  });

  it('reports an abort as a shutdown whatever the failure', () => {
    const want = expected('transient', 'GET /users to the webhook was aborted (shutdown)', { code: 'ABORTED' });
    for (const err of [fail('read ECONNRESET', { code: 'ECONNRESET' }), fail('Timeout', { name: 'TimeoutError' }), undefined]) {
      expect(view(errorFromTransport(list, err, { ...transportCtx, aborted: true }))).toStrictEqual(want);
    }
  });
});
