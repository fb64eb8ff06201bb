// Reply → taxonomy mapping for the shapes the emulator cannot easily produce on demand.
import { errorKind } from '../../../shared/errors.js';
import { normalizeBaseUrl } from '../../../workers/crowd/client.js';
import { errorFromReply, errorFromTransport, retryAfterMs, type RawReply } from '../../../workers/crowd/errors.js';
import { cqlDate } from '../../../workers/crowd/pull.js';
import { randomPassword } from '../../../workers/runtime/passwords.js';
import { reply } from './replies.js';

const call = { method: 'PUT', resource: 'user', subject: 'alice' };
const ctx = { applicationName: 'idsync', baseUrl: 'https://crowd.example.com/crowd/' };

describe('Crowd error mapping', () => {
  it('maps each dialect of failure to the taxonomy with a readable message', () => {
    const cases: [RawReply, string, RegExp][] = [
      [reply(400, '{"reason":"INVALID_USER","message":"User name may not contain leading or trailing whitespace"}', 'application/json'), 'permanent', /^Crowd refused PUT \/user alice: INVALID_USER — User name may not/],
      [reply(401, 'Application failed to authenticate', 'text/plain'), 'configuration', /credentials of "idsync"/],
      [reply(403, '<html><head><title>HTTP Status 403 – Forbidden</title></head></html>', 'text/html'), 'configuration', /HTML page: "HTTP Status 403 – Forbidden"/],
      [reply(403, '{"reason":"APPLICATION_PERMISSION_DENIED","message":"Cannot update user \'alice\' because directory \'LDAP\' does not allow updates."}', 'application/json'), 'permanent', /does not allow updates/],
      [reply(404, '<html><title>404 Not Found</title></html>', 'text/html'), 'configuration', /check CROWD_URL/],
      [reply(302, '', '', { location: 'https://sso.example.com/login' }), 'configuration', /redirected PUT \/user alice \(302\) to https:\/\/sso\.example\.com\/login/],
      [reply(500, '{"reason":"OPERATION_FAILED","message":"boom"}', 'application/json'), 'transient', /Crowd failed PUT \/user alice: OPERATION_FAILED — boom/],
      [reply(502, '<html><head><title>502 Bad Gateway</title></head></html>', 'text/html'), 'transient', /502 HTML page: "502 Bad Gateway"/],
      [reply(503, '', 'text/plain', { 'retry-after': '7' }), 'throttled', /throttled/],
      [reply(400, 'Unexpected character', 'text/plain'), 'permanent', /400 text\/plain: "Unexpected character"/],
    ];
    for (const [r, kind, message] of cases) {
      const err = errorFromReply(call, r, ctx);
      expect([r.status, errorKind(err)]).toEqual([r.status, kind]);
      expect(err.message).toMatch(message);
    }
  });

  it('reads Retry-After as seconds or a date, else X-RateLimit-Interval-Seconds, else a default', () => {
    expect(retryAfterMs({ 'retry-after': '2' })).toBe(2000);
    const at = new Date(Date.now() + 5000).toUTCString();
    expect(retryAfterMs({ 'retry-after': at })).toBeGreaterThan(3000);
    expect(retryAfterMs({ 'x-ratelimit-interval-seconds': '3' })).toBe(3000);
    expect(retryAfterMs({})).toBe(1000);
  });

  it('maps transport failures: timeouts and resets are transient, TLS trust is configuration', () => {
    expect(errorKind(errorFromTransport(call, Object.assign(new Error('t'), { name: 'TimeoutError', code: 'ETIMEDOUT' }), { ...ctx, timeoutMs: 100, aborted: false }))).toBe('transient');
    expect(errorKind(errorFromTransport(call, Object.assign(new Error('r'), { code: 'ECONNRESET' }), { ...ctx, timeoutMs: 100, aborted: false }))).toBe('transient');
    const tls = errorFromTransport(call, Object.assign(new Error('x'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), { ...ctx, timeoutMs: 100, aborted: false });
    expect([errorKind(tls), tls.message]).toEqual(['configuration', expect.stringMatching(/NODE_EXTRA_CA_CERTS/)]);
  });

  it('normalises the base URL and formats CQL dates', () => {
    expect(normalizeBaseUrl('https://u:p@crowd.example.com/crowd')).toBe('https://crowd.example.com/crowd/');
    expect(normalizeBaseUrl('https://crowd.example.com/crowd/rest/usermanagement/1/')).toBe('https://crowd.example.com/crowd/');
    expect(cqlDate(new Date('2024-05-01T10:00:00.123Z'))).toBe('2024-05-01T10:00:00.123+0000');
  });

  it('generates strong random passwords with every character class', () => {
    const a = randomPassword();
    expect(a).toHaveLength(32);
    expect(a).toMatch(/[A-Z]/);
    expect(a).toMatch(/[a-z]/);
    expect(a).toMatch(/[0-9]/);
    expect(a).toMatch(/[^A-Za-z0-9]/);
    expect(randomPassword()).not.toBe(a);
  });
});
