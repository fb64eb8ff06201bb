// Reply → taxonomy mapping, the UPN rule and the $batch writer, for the shapes and timings
// the emulator cannot easily produce on demand.
import { Redis } from 'ioredis';
import { ConfigurationError, TransientError, errorKind } from '../../../shared/errors.js';
import { RequestBudget } from '../../../workers/runtime/request-budget.js';
import { WriteBatcher, type BatchItem } from '../../../workers/entra/batcher.js';
import { withQuery } from '../../../workers/entra/client.js';
import { rolesOf } from '../../../workers/entra/credentials.js';
import { errorFromReply, errorFromTransport, retryAfterMs, type RawReply } from '../../../workers/entra/errors.js';
import { defaultUserPrincipalName, mailNicknameFor, sameValue } from '../../../workers/entra/mapping.js';
import { randomPassword } from '../../../workers/runtime/passwords.js';
import { PASSWORD_PERMISSION } from '../../../workers/entra/permissions.js';
import { REDIS_URL, deletePrefix, uniquePrefix } from '../../helpers/redis.js';

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

describe('WriteBatcher', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
    prefix = uniquePrefix('entra-batcher');
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });
  const budget = () => new RequestBudget(redis, `${prefix}:budget:${Math.random()}`, { perSecond: 10_000 });
  const ok = (status = 204): RawReply => ({ status, headers: {}, text: '', contentType: '', json: undefined, malformed: false });
  const item = (n: number): BatchItem => ({ method: 'PATCH', url: `/users/${n}`, body: { n } });

  it('coalesces concurrent writes into batches of at most 20 and answers each caller with its own item', async () => {
    const sent: number[] = [];
    const batcher = new WriteBatcher(async (items) => {
      sent.push(items.length);
      return items.map((it) => ok(200 + Number(it.url.split('/')[2]) % 2));
    }, budget(), { lingerMs: 20 });
    const replies = await Promise.all(Array.from({ length: 45 }, (_, i) => batcher.submit(item(i))));
    expect(replies.map((r) => r.status)).toEqual(Array.from({ length: 45 }, (_, i) => 200 + (i % 2)));
    expect(sent.reduce((a, b) => a + b, 0)).toBe(45);
    expect(Math.max(...sent)).toBe(20);
    expect(sent.length).toBeLessThanOrEqual(4);
    batcher.close();
  });

  it('retries a throttled item after its own Retry-After, a bounded number of times', async () => {
    const at: Record<string, number[]> = {};
    const started = Date.now();
    const batcher = new WriteBatcher(async (items) => items.map((it) => {
      (at[it.url] ??= []).push(Date.now() - started);
      // Item 1 is throttled twice for 0.15 s, item 2 once for 0.05 s, item 3 always.
      const n = at[it.url]!.length;
      if (it.url === '/users/1' && n <= 2) return { ...ok(429), headers: { 'Retry-After': '0.15' } };
      if (it.url === '/users/2' && n <= 1) return { ...ok(429), headers: { 'Retry-After': '0.05' } };
      if (it.url === '/users/3') return { ...ok(429), headers: { 'Retry-After': '0.01' } };
      return ok();
    }), budget(), { lingerMs: 1, throttleRetries: 3 });
    const [one, two, three] = await Promise.all([1, 2, 3].map((n) => batcher.submit(item(n))));
    expect([one!.status, two!.status, three!.status]).toEqual([204, 204, 429]);
    expect(at['/users/1']).toHaveLength(3);
    expect(at['/users/1']![1]! - at['/users/1']![0]!).toBeGreaterThanOrEqual(140);
    expect(at['/users/2']![1]! - at['/users/2']![0]!).toBeGreaterThanOrEqual(45);
    expect(at['/users/2']![1]! - at['/users/2']![0]!).toBeLessThan(140);
    expect(at['/users/3']).toHaveLength(4);
    batcher.close();
  });

  it('sends an idempotent item again after a failure that may have applied it; anything else goes back to its caller', async () => {
    const sends: Record<string, number> = {};
    let batches = 0;
    const batcher = new WriteBatcher(async (items) => {
      for (const it of items) sends[`${it.method} ${it.url}`] = (sends[`${it.method} ${it.url}`] ?? 0) + 1;
      // The first whole `$batch` times out (its items may have landed); later ones answer per item.
      if (++batches === 1) throw new TransientError('Graph did not answer POST /$batch within 200 ms', { code: 'ETIMEDOUT' });
      return items.map((it) => {
        const n = sends[`${it.method} ${it.url}`]!;
        // /users/4 answers 500 every time; /users/5 answers 502 once; the rest succeed.
        if (it.url === '/users/4' || (it.url === '/users/5' && n === 2)) return { ...ok(it.url === '/users/4' ? 500 : 502) };
        return ok(it.method === 'POST' ? 201 : 204);
      });
    }, budget(), { lingerMs: 5, resendRetries: 3, resendRetryBaseMs: 2 });
    const create: BatchItem = { method: 'POST', url: '/users', body: {} };
    const restore: BatchItem = { method: 'POST', url: '/directory/deletedItems/1/restore' };
    const replies = await Promise.allSettled([
      batcher.submit(item(1), { idempotent: true }),
      batcher.submit(create, { idempotent: true }),
      batcher.submit(restore),
      batcher.submit(item(4), { idempotent: true }),
      batcher.submit(item(5), { idempotent: true }),
    ]);
    expect(replies.map((r) => (r.status === 'fulfilled' ? r.value.status : (r.reason as Error).message))).toEqual([
      204, 201, 'Graph did not answer POST /$batch within 200 ms', 500, 204,
    ]);
    // A repeat of a restore that landed would fail: it went back after its one send. The
    // always-failing item stopped after resendRetries; /users/5 needed one more send.
    expect(sends).toEqual({ 'PATCH /users/1': 2, 'POST /users': 2, 'POST /directory/deletedItems/1/restore': 1, 'PATCH /users/4': 4, 'PATCH /users/5': 3 });
    batcher.close();
  });

  it('does not send an item again when the whole $batch was refused for good', async () => {
    let sent = 0;
    const batcher = new WriteBatcher(async () => {
      sent++;
      throw new ConfigurationError('Graph refused the token');
    }, budget(), { lingerMs: 1, resendRetryBaseMs: 1 });
    await expect(batcher.submit(item(1), { idempotent: true })).rejects.toThrow('Graph refused the token');
    expect(sent).toBe(1);
    batcher.close();
  });

  it('rejects a caller whose signal aborts before its item is sent, without holding back the others', async () => {
    let sent = 0;
    const batcher = new WriteBatcher(async (items) => {
      sent += items.length;
      return items.map(() => ok());
    }, budget(), { lingerMs: 30 });
    const abort = new AbortController();
    const gone = batcher.submit(item(1), { signal: abort.signal });
    const kept = batcher.submit(item(2));
    abort.abort(new Error('shutdown'));
    await expect(gone).rejects.toThrow('shutdown');
    await expect(kept).resolves.toMatchObject({ status: 204 });
    expect(sent).toBe(1);
    batcher.close();
  });
});
