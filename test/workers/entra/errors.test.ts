// Reply → taxonomy mapping and the UPN rule, for the shapes the emulator cannot easily
// produce on demand (the $batch writer has batcher.test.ts).
import { errorKind } from '../../../shared/errors.js';
import { withQuery } from '../../../workers/entra/client.js';
import { rolesOf } from '../../../workers/entra/credentials.js';
import { errorFromReply, errorFromTransport, retryAfterMs, type RawReply } from '../../../workers/entra/errors.js';
import { defaultUserPrincipalName, mailNicknameFor, sameValue } from '../../../workers/entra/mapping.js';
import { randomPassword } from '../../../workers/runtime/passwords.js';
import { PASSWORD_PERMISSION } from '../../../workers/entra/permissions.js';

const call = { method: 'PATCH', path: '/users/0b1c', subject: 'alice@contoso.com', permission: 'User.ReadWrite.All' };
const reply = (status: number, body: unknown, headers: Record<string, string> = {}, contentType = 'application/json'): RawReply => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { status, headers, text, contentType, json: typeof body === 'string' ? undefined : body, malformed: false };
};
const graphError = (code: string, message: string, details?: unknown[]) => ({ error: { code, message, ...(details && { details }), innerError: { date: '2026-01-01T00:00:00', 'request-id': 'r' } } });
const roles = (...r: string[]) => ({ roles: () => new Set(r) });

describe('Graph error mapping', () => {
  it('maps statuses and codes to the taxonomy with a readable message', () => {
    const cases: [RawReply, string, RegExp][] = [
      [reply(429, graphError('TooManyRequests', 'Please retry again later.'), { 'Retry-After': '2.128' }), 'throttled', /^Graph throttled PATCH \/users\/0b1c alice@contoso\.com \(429 TooManyRequests\)$/],
      [reply(503, graphError('ServiceUnavailable', 'x'), { 'retry-after': '3' }), 'throttled', /throttled/],
      [reply(503, graphError('ServiceUnavailable', 'Service unavailable')), 'transient', /Graph failed PATCH \/users\/0b1c alice@contoso\.com: ServiceUnavailable — Service unavailable \(a write may still have been applied\)/],
      [reply(504, '<html><title>504 Gateway Time-out</title></html>', {}, 'text/html'), 'transient', /504 HTML page: "504 Gateway Time-out"/],
      [reply(400, graphError('Request_BadRequest', 'Another object with the same value for property userPrincipalName already exists.', [{ code: 'ObjectConflict', target: 'userPrincipalName' }])), 'permanent', /Request_BadRequest \(ObjectConflict\) — Another object/],
      [reply(400, graphError('Request_UnsupportedQuery', 'Unsupported Query.')), 'permanent', /Graph refused PATCH \/users\/0b1c alice@contoso\.com: Request_UnsupportedQuery — Unsupported Query\./],
      [reply(401, graphError('InvalidAuthenticationToken', 'Access token has expired or is not yet valid.')), 'configuration', /rejected the access token.*check ENTRA_TENANT_ID/],
      [reply(404, '<html><title>Not Found</title></html>', {}, 'text/html'), 'configuration', /check GRAPH_BASE_URL/],
      [reply(302, '', { Location: 'https://login.example.com' }, ''), 'configuration', /redirected .* to https:\/\/login\.example\.com/],
    ];
    for (const [r, kind, message] of cases) {
      const err = errorFromReply(call, r);
      expect([r.status, errorKind(err)]).toEqual([r.status, kind]);
      expect(err.message).toMatch(message);
    }
    expect(errorFromReply(call, cases[0]![0])).toMatchObject({ retryAfterMs: 2128 });
  });

  it('403: a missing permission quarantines; a per-object refusal or a password write fails only its job', () => {
    const denied = reply(403, graphError('Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'));
    const missing = errorFromReply(call, denied, roles('User.Read.All'));
    expect([errorKind(missing), missing.message]).toEqual(['configuration', expect.stringMatching(/grant the application permission User\.ReadWrite\.All \(admin consent\) to ENTRA_CLIENT_ID/)]);
    // Directory.ReadWrite.All includes User.ReadWrite.All: the object itself needs more (an admin user).
    const held = errorFromReply(call, denied, roles('Directory.ReadWrite.All'));
    expect([errorKind(held), held.message]).toEqual(['permanent', expect.stringMatching(/although the app holds User\.ReadWrite\.All.*higher directory role/)]);
    const password = errorFromReply({ ...call, permission: PASSWORD_PERMISSION }, denied, roles('User.ReadWrite.All'));
    expect([errorKind(password), password.message]).toEqual(['permanent', expect.stringMatching(/User-PasswordProfile\.ReadWrite\.All.*User Administrator directory role.*Other updates of this user are not affected/)]);
  });

  it('maps transport failures: timeouts and resets are transient, TLS trust is configuration', () => {
    const ctx = { timeoutMs: 100, baseUrl: 'https://graph.microsoft.com/', timedOut: false, aborted: false };
    const fetchFailed = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
    expect(errorFromTransport(call, new DOMException('timeout', 'TimeoutError'), { ...ctx, timedOut: true }).message).toMatch(/did not answer PATCH \/users\/0b1c alice@contoso\.com within 100 ms/);
    expect(errorKind(errorFromTransport(call, fetchFailed('ECONNRESET'), ctx))).toBe('transient');
    expect(errorKind(errorFromTransport(call, fetchFailed('ECONNREFUSED'), ctx))).toBe('transient');
    const tls = errorFromTransport(call, fetchFailed('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), ctx);
    expect([errorKind(tls), tls.message]).toEqual(['configuration', expect.stringMatching(/NODE_EXTRA_CA_CERTS/)]);
    expect(errorFromTransport(call, new Error('x'), { ...ctx, aborted: true }).message).toMatch(/aborted \(shutdown\)/);
  });

  it('reads Retry-After in seconds (with fractions) or as a date, by exact name first', () => {
    expect(retryAfterMs({ 'Retry-After': '2' })).toBe(2000);
    expect(retryAfterMs({ 'retry-after': '0.25' })).toBe(250);
    expect(retryAfterMs({ 'Retry-After': new Date(Date.now() + 5000).toUTCString() })).toBeGreaterThan(3000);
    expect(retryAfterMs({})).toBe(1000);
  });
});

describe('mapping helpers', () => {
  it('derives UPNs and mail nicknames Entra accepts', () => {
    expect(defaultUserPrincipalName('alice', 'contoso.com')).toBe('alice@contoso.com');
    expect(defaultUserPrincipalName('Zoë Ångström', 'contoso.com')).toBe('Zoe_Angstrom@contoso.com');
    expect(defaultUserPrincipalName('alice@example.com', 'contoso.com')).toBe('alice_example.com@contoso.com');
    expect(defaultUserPrincipalName('..a..b..', 'contoso.com')).toBe('a.b@contoso.com');
    expect(defaultUserPrincipalName('x'.repeat(80), 'c.com')).toBe(`${'x'.repeat(64)}@c.com`);
    expect(mailNicknameFor("o'hara#1@contoso.com")).toBe("o'hara#1");
  });

  it('compares values the way Graph stores them', () => {
    expect(sameValue('userPrincipalName', 'Alice@Contoso.com', 'alice@contoso.com')).toBe(true);
    expect(sameValue('mail', 'Alice@contoso.com', 'alice@contoso.com')).toBe(false);
    expect(sameValue('employeeHireDate', '2024-01-15T00:00:00Z', '2024-01-15')).toBe(true);
    expect(sameValue('department', null, null)).toBe(true);
    expect(sameValue('businessPhones', [], [])).toBe(true);
    expect(sameValue('department', 'Sales', null)).toBe(false);
  });

  it('encodes query values itself (graph-client sends them raw)', () => {
    expect(withQuery('/users', { $filter: "mail eq 'a+b#c&d@x.com'", $select: 'id,mail', $top: 2, skip: undefined }))
      .toBe("/users?$filter=mail%20eq%20'a%2Bb%23c%26d%40x.com'&$select=id,mail&$top=2");
  });

  it('generates strong random passwords and reads token roles', () => {
    const a = randomPassword();
    expect(a).toHaveLength(32);
    for (const re of [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/]) expect(a).toMatch(re);
    expect(randomPassword()).not.toBe(a);
    const jwt = `x.${Buffer.from(JSON.stringify({ roles: ['User.Read.All'] })).toString('base64url')}.y`;
    expect([...rolesOf(jwt)!]).toEqual(['User.Read.All']);
    expect(rolesOf('opaque')).toBeUndefined();
  });
});
