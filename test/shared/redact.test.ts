import { REDACTED, isSecretKey, redactText, redactValue } from '../../shared/redact.js';
import { capturingLogger } from '../helpers/logs.js';

/**
 * Every key name the redaction is meant to cover, one per spelling family of the key
 * pattern in shared/redact.ts: passwords, secrets, tokens, Authorization headers, API keys,
 * cookies, client assertions, credentials, private keys, and the fields of a password
 * envelope (shared/crypto.ts: iv, tag, ct).
 */
const SECRET_KEYS = [
  'password', 'Password', 'userPassword', 'new_password', 'passwd', 'dbPasswd', 'pass', 'smtpPass', 'pwd', 'PWD',
  'secret', 'clientSecret', 'client_secret', 'SECRET_KEY', 'webhookSecretValue',
  'token', 'access_token', 'refreshToken', 'id_token', 'x-csrf-token',
  'authorization', 'Authorization', 'proxy-authorization', 'authorisation',
  'apiKey', 'api_key', 'api-key', 'APIKEY', 'x-api-key',
  'cookie', 'Cookie', 'set-cookie',
  'assertion', 'client_assertion', 'clientAssertion',
  'credential', 'credentials', 'clientCredential',
  'privateKey', 'private_key', 'private-key', 'PRIVATEKEY', 'signingPrivateKey',
  'iv', 'tag', 'ct', 'IV',
] as const;

/** Look-alikes that must stay readable. */
const PLAIN_KEYS = ['username', 'email', 'active', 'tags', 'ctx', 'ivory', 'stage', 'passport', 'keyId', 'kid', 'v', 'publicKey', 'description'] as const;

const secretFor = (key: string) => `s3cr3t-value-of-${key.replace(/[^A-Za-z0-9]/g, '')}`;

describe('redaction', () => {
  it.each(SECRET_KEYS)('treats "%s" as a secret key', (key) => {
    expect(isSecretKey(key)).toBe(true);
    const secret = secretFor(key);
    expect(redactValue({ [key]: secret, nested: [{ deeper: { [key]: secret } }] })).toEqual({ [key]: REDACTED, nested: [{ deeper: { [key]: REDACTED } }] });
  });

  it.each(PLAIN_KEYS)('leaves "%s" readable', (key) => {
    expect(isSecretKey(key)).toBe(false);
    expect(redactValue({ [key]: 'visible-value' })).toEqual({ [key]: 'visible-value' });
  });

  it('keeps every secret key out of the logs, at any depth, in bindings and in fields', () => {
    const { logger, lines } = capturingLogger();
    for (const key of SECRET_KEYS) {
      const secret = secretFor(key);
      logger.child({ [key]: `${secret}-binding` }).info({ [key]: secret, req: { headers: { [key]: `${secret}-header` } }, list: [{ [key]: `${secret}-item` }] }, `logged ${key}`);
    }
    expect(lines).toHaveLength(SECRET_KEYS.length);
    SECRET_KEYS.forEach((key, i) => {
      const line = lines[i]!;
      expect(line).not.toContain(secretFor(key));
      expect(JSON.parse(line)).toMatchObject({ msg: `logged ${key}`, [key]: REDACTED, req: { headers: { [key]: REDACTED } }, list: [{ [key]: REDACTED }] });
    });
  });

  it('keeps a whole password envelope out of the logs', () => {
    const { logger, lines } = capturingLogger();
    const envelope = { v: 1, kid: 'k-1', iv: 'aXYtYnl0ZXMtaGVyZQ==', tag: 'dGFnLWJ5dGVzLWhlcmU=', ct: 'Y2lwaGVydGV4dC1oZXJl' };
    logger.info({ job: { data: { password: envelope } } }, 'job');
    expect(JSON.parse(lines[0]!)).toMatchObject({ job: { data: { password: REDACTED } } });
    logger.info({ envelope }, 'envelope');
    expect(JSON.parse(lines[1]!)).toMatchObject({ envelope: { v: 1, kid: 'k-1', iv: REDACTED, tag: REDACTED, ct: REDACTED } });
    for (const value of [envelope.iv, envelope.tag, envelope.ct]) expect(lines.join('')).not.toContain(value);
  });

  /** Every `name=value` / `"name": "value"` shape the free-text pattern covers. */
  const TEXT_KEYS = ['pass', 'password', 'passwd', 'PASSWORD', 'secret', 'client_secret', 'token', 'access_token', 'client_assertion', 'refresh_token', 'clientSecret'] as const;

  it.each(TEXT_KEYS)('scrubs %s=… pairs from free text, in every quoting', (key) => {
    const secret = secretFor(key);
    for (const text of [
      `failed: ${key}=${secret}&next=1`,
      `failed: ${key}: ${secret}, then`,
      `{"${key}":"${secret}","ok":true}`,
      `{'${key}': '${secret}'}`,
      `${key} = ${secret}`,
    ]) {
      const out = redactText(text);
      expect(out).not.toContain(secret);
      expect(out).toContain(REDACTED);
      expect(out).toContain(key);
    }
  });

  it('scrubs Authorization schemes, JWTs and URL credentials from free text, leaving the rest', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const cases: Array<[string, string]> = [
      ['Authorization: Bearer abc.DEF-123_~+/=', `Authorization: Bearer ${REDACTED}`],
      ['header basic aWRzeW5jOnNlY3JldA== sent', `header basic ${REDACTED} sent`],
      [`token in body ${jwt} end`, `token in body ${REDACTED} end`],
      ['GET https://app:hunter2@crowd.local/rest', `GET https://app:${REDACTED}@crowd.local/rest`],
      ['redis://default:p%40ss@127.0.0.1:6379/0', `redis://default:${REDACTED}@127.0.0.1:6379/0`],
      ['user alice@example.com has no password set', 'user alice@example.com has no password set'],
    ];
    for (const [input, expected] of cases) expect(redactText(input)).toBe(expected);
  });
});

describe('redaction of values and text shapes', () => {
  it('passes null, numbers and booleans through, at the top and nested', () => {
    expect(redactValue(null)).toBeNull();
    expect(redactValue(5)).toBe(5);
    expect(redactValue({ a: null, n: 5, b: true, u: undefined })).toStrictEqual({ a: null, n: 5, b: true, u: undefined });
  });

  it('cuts cycles', () => {
    const loop: Record<string, unknown> = { name: 'x' };
    loop.self = loop;
    expect(redactValue(loop)).toEqual({ name: 'x', self: '[Circular]' });
  });

  it('summarises buffers by size', () => {
    expect(redactValue({ body: Buffer.from('abc') })).toEqual({ body: '[Buffer 3 bytes]' });
  });

  it('turns errors into type, scrubbed message and scrubbed stack', () => {
    const error = new TypeError('call failed with Bearer abc.def');
    const out = redactValue(error) as { type: string; message: string; stack: string };
    expect(out.type).toBe('TypeError');
    expect(out.message).toBe(`call failed with Bearer ${REDACTED}`);
    expect(out.stack).toContain(`TypeError: call failed with Bearer ${REDACTED}`);
    expect(out.stack).not.toContain('abc.def');
    const bare = new Error('no stack');
    delete bare.stack;
    expect(redactValue(bare)).toStrictEqual({ type: 'Error', message: 'no stack', stack: undefined });
  });

  it('leaves an absent, null or empty secret as it is, so "not set" stays visible', () => {
    expect(redactValue({ password: undefined, token: null, secret: '' })).toStrictEqual({ password: undefined, token: null, secret: '' });
    expect(redactValue({ password: 0 })).toEqual({ password: REDACTED });
  });

  it('scrubs each secret shape from free text', () => {
    expect(redactText('Authorization: Basic dXNlcjpwYXNz')).toBe(`Authorization: Basic ${REDACTED}`);
    expect(redactText('auth basic x')).toBe(`auth basic ${REDACTED}`);
    expect(redactText('bearer abc-123')).toBe(`bearer ${REDACTED}`);
    expect(redactText('jwt eyJhbGciOi.eyJzdWIi.sig here')).toBe(`jwt ${REDACTED} here`);
    expect(redactText('redis://user:hunter2@host:6379/0')).toBe(`redis://user:${REDACTED}@host:6379/0`);
    expect(redactText('password=hunter2&user=a')).toBe(`password=${REDACTED}&user=a`);
    expect(redactText('{"client_secret": "abc", "x": 1}')).toBe(`{"client_secret": "${REDACTED}", "x": 1}`);
    expect(redactText('passwd: abc, token=xyz access_token=q')).toBe(`passwd: ${REDACTED}, token=${REDACTED} access_token=${REDACTED}`);
    expect(redactText('nothing secret here')).toBe('nothing secret here');
  });
});
