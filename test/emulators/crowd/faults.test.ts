// Fault knobs (from code and the admin endpoint) and counters. Deterministic: `...Next`
// counters or a fixed seed; no sleeps.
import { DEFAULT_CROWD_FAULTS, startCrowdEmulator } from '../../../emulators/crowd/index.js';
import { Client, useEmulator } from './helpers.js';

describe('Crowd emulator faults', () => {
  const t = useEmulator();

  it('starts with every knob at its documented default', async () => {
    const r = await fetch(`${t.em.adminUrl}/faults`);
    expect(await r.json()).toEqual(DEFAULT_CROWD_FAULTS);
  });

  it('adds latency', async () => {
    t.em.setFaults({ latencyMs: 60 });
    const start = performance.now();
    expect((await t.client.get('user?username=x')).status).toBe(404);
    expect(performance.now() - start).toBeGreaterThanOrEqual(55);
  });

  it('fails the next N requests with 500 OPERATION_FAILED, then recovers', async () => {
    t.em.setFaults({ serverErrorNext: 2 });
    const a = await t.client.get('user?username=x');
    expect(a.status).toBe(500);
    expect(a.json.reason).toBe('OPERATION_FAILED');
    expect(a.headers.get('x-embedded-crowd-version')).toBe('Crowd/5.1.6');
    expect((await t.client.get('user?username=x')).status).toBe(500);
    expect((await t.client.get('user?username=x')).status).toBe(404);
    expect(t.em.stats().serverErrors).toBe(2);
  });

  it('sends a proxy HTML page for 502/503/504 server errors', async () => {
    t.em.setFaults({ serverErrorNext: 1, serverErrorStatus: 503 });
    const r = await t.client.get('user?username=x');
    expect(r.status).toBe(503);
    expect(r.headers.get('content-type')).toBe('text/html;charset=utf-8');
    expect(r.text).toContain('503 Service Temporarily Unavailable');
    expect(r.headers.get('x-embedded-crowd-version')).toBeNull();
  });

  it('draws rate-based faults from a seeded PRNG: same seed, same failures', async () => {
    const pattern = async (): Promise<number[]> => {
      t.em.setFaults({ serverErrorRate: 0.5, seed: 42 });
      const out: number[] = [];
      for (let i = 0; i < 16; i++) out.push((await t.client.get('user?username=x')).status);
      return out;
    };
    const first = await pattern();
    expect(first).toContain(500);
    expect(first).toContain(404);
    expect(await pattern()).toEqual(first);
  });

  it('throttles with 429 and X-RateLimit-* / Retry-After headers', async () => {
    t.em.setFaults({ throttleNext: 1, throttleRetryAfterSeconds: 7 });
    const r = await t.client.get('user?username=x');
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('7');
    expect(r.headers.get('x-ratelimit-limit')).toBe('100');
    expect(r.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(r.headers.get('x-ratelimit-interval-seconds')).toBe('1');
    expect(r.headers.get('x-ratelimit-fillrate')).toBe('100');
    expect((await t.client.get('user?username=x')).status).toBe(404);
    expect(t.em.stats().throttled).toBe(1);
  });

  it('can omit Retry-After (unconfirmed on Crowd) so clients fall back to the interval', async () => {
    t.em.setFaults({ throttleNext: 1, sendRetryAfter: false });
    const r = await t.client.get('user?username=x');
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBeNull();
    expect(r.headers.get('x-ratelimit-interval-seconds')).toBe('1');
  });

  it('enforces a token bucket with a Retry-After computed from the refill rate', async () => {
    // 0.25 tokens/s: the bucket cannot refill a whole token during the test.
    t.em.setFaults({ rateLimitPerSecond: 0.25, rateLimitBurst: 2 });
    const a = await t.client.get('user?username=x');
    expect(a.status).toBe(404);
    expect(a.headers.get('x-ratelimit-limit')).toBe('2');
    expect(a.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(a.headers.get('x-ratelimit-fillrate')).toBe('0.25');
    const b = await t.client.get('user?username=x');
    expect(b.headers.get('x-ratelimit-remaining')).toBe('0');
    const c = await t.client.get('user?username=x');
    expect(c.status).toBe(429);
    expect(c.headers.get('retry-after')).toBe('4');
    expect(c.headers.get('x-embedded-crowd-version')).toBe('Crowd/5.1.6');
    expect(t.em.stats().throttled).toBe(1);
    // Unauthenticated requests are refused before the limiter and do not consume tokens.
    expect((await t.client.get('user?username=x', { auth: null })).status).toBe(401);
    t.em.setFaults({ rateLimitPerSecond: 0 });
    expect((await t.client.get('user?username=x')).status).toBe(404);
  });

  it('lets a fast bucket pass a burst and refuse the excess', async () => {
    t.em.setFaults({ rateLimitPerSecond: 0.01, rateLimitBurst: 5 });
    const statuses = await Promise.all(Array.from({ length: 8 }, () => t.client.get('user?username=x').then((r) => r.status)));
    expect(statuses.filter((s) => s === 404)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
  });

  it('serves a WAF-style HTML 403', async () => {
    t.em.setFaults({ html403Next: 1 });
    const r = await t.client.get('user?username=x');
    expect(r.status).toBe(403);
    expect(r.headers.get('content-type')).toBe('text/html');
    expect(r.text).toContain('<h1>403 Forbidden</h1>');
    expect(r.json).toBeUndefined();
    expect(t.em.stats().html403).toBe(1);
  });

  it('resets the connection', async () => {
    t.em.setFaults({ resetNext: 1 });
    await expect(t.client.get('user?username=x')).rejects.toThrow();
    expect((await t.client.get('user?username=x')).status).toBe(404);
    expect(t.em.stats().resets).toBe(1);
  });

  it('sends malformed bodies: HTML with 200, HTML with 500, truncated JSON', async () => {
    await t.client.createUser('mal');
    t.em.setFaults({ malformedNext: 1, malformedKind: 'html200' });
    const login = await t.client.get('user?username=mal');
    expect(login.status).toBe(200);
    expect(login.headers.get('content-type')).toBe('text/html;charset=utf-8');
    expect(login.json).toBeUndefined();

    t.em.setFaults({ malformedNext: 1, malformedKind: 'html500' });
    const tomcat = await t.client.get('user?username=mal');
    expect(tomcat.status).toBe(500);
    expect(tomcat.text).toContain('HTTP Status 500');

    t.em.setFaults({ malformedNext: 1, malformedKind: 'truncated' });
    const cut = await t.client.get('user?username=mal');
    expect(cut.status).toBe(200);
    expect(cut.headers.get('content-type')).toBe('application/json');
    expect(cut.text.startsWith('{"expand":"attributes"')).toBe(true);
    expect(() => JSON.parse(cut.text)).toThrow();
    expect(t.em.stats().malformed).toBe(3);
  });

  it('applies the write before failing with failAfterApply (lost reply)', async () => {
    t.em.setFaults({ serverErrorNext: 1, failAfterApply: true });
    expect((await t.client.createUser('lost')).status).toBe(500);
    expect((await t.client.get('user?username=lost')).status).toBe(200);
    t.em.setFaults({ resetNext: 1 });
    await expect(t.client.createUser('lost2')).rejects.toThrow();
    expect((await t.client.get('user?username=lost2')).status).toBe(200);
  });

  it('without failAfterApply a failed write did not happen', async () => {
    t.em.setFaults({ serverErrorNext: 1 });
    expect((await t.client.createUser('never')).status).toBe(500);
    expect((await t.client.get('user?username=never')).status).toBe(404);
  });

  it('restricts injected faults to methods and routes', async () => {
    t.em.setFaults({ serverErrorNext: 1, onlyMethods: ['post'], onlyRoutes: ['user/group/direct'] });
    await t.client.createUser('fil');
    await t.client.createGroup('g');
    expect((await t.client.get('user/group/direct?username=fil')).status).toBe(200);
    expect((await t.client.post('user/group/direct?username=fil', { name: 'g' })).status).toBe(500);
    expect((await t.client.post('user/group/direct?username=fil', { name: 'g' })).status).toBe(201);
  });

  it('can switch JSON lists to the 6.x singular keys', async () => {
    t.em.seed([{ name: 'sing', groups: ['g'] }]);
    t.em.setFaults({ singularListKeys: true });
    expect(Object.keys((await t.client.get('search?entity-type=user')).json)).toEqual(['expand', 'user']);
    expect(Object.keys((await t.client.get('user/group/direct?username=sing')).json)).toEqual(['expand', 'group']);
    expect(Object.keys((await t.client.get('user/attribute?username=sing')).json)).toEqual(['link', 'attribute']);
  });

  it('rejects invalid knobs from code', () => {
    expect(() => t.em.setFaults({ serverErrorRate: 2 })).toThrow(/serverErrorRate/);
    expect(() => t.em.setFaults({ bogus: 1 } as never)).toThrow(/bogus/);
  });

  it('counts requests per method and route kind, and statuses', async () => {
    await t.client.createUser('cnt');
    await t.client.get('user?username=cnt');
    await t.client.get('user?username=cnt');
    await t.client.get('search?entity-type=user');
    await t.client.get('no/such/thing');
    const s = t.em.stats();
    expect(s.requests).toBe(5);
    expect(s.byRoute).toEqual({ 'POST user': 1, 'GET user': 2, 'GET search': 1, 'GET unknown': 1 });
    expect(s.byStatus).toEqual({ '200': 3, '201': 1, '404': 1 });
    expect(s.users).toBe(1);
  });
});

describe('Crowd emulator admin endpoint', () => {
  const t = useEmulator();
  const admin = (path: string, method = 'GET', body?: unknown) =>
    fetch(`${t.em.adminUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const adminJson = async (path: string, method = 'GET', body?: unknown): Promise<any> => (await admin(path, method, body)).json();

  it('reports connection info', async () => {
    expect(await adminJson('/')).toEqual({ ...t.em.info, adminUrl: t.em.adminUrl });
  });

  it('sets, shows and clears knobs over HTTP', async () => {
    const r = await admin('/faults', 'POST', { throttleNext: 1 });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { throttleNext: number }).throttleNext).toBe(1);
    expect((await t.client.get('user?username=x')).status).toBe(429);
    await admin('/faults', 'POST', { serverErrorNext: 5 });
    expect((await adminJson('/faults', 'DELETE')).serverErrorNext).toBe(0);
    expect((await t.client.get('user?username=x')).status).toBe(404);
  });

  it('answers 400 for invalid knobs', async () => {
    const r = await admin('/faults', 'POST', { throttleRate: -1 });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/throttleRate/);
    expect((await admin('/faults', 'POST', { nope: true })).status).toBe(400);
  });

  it('seeds users and groups over HTTP', async () => {
    const r = await admin('/seed', 'POST', {
      users: [{ name: 'Zed', email: 'zed@example.com', password: 'pw', groups: ['crew'], externalId: 'fixed-id' }],
      groups: [{ name: 'leads', users: ['zed'] }],
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ users: 1, groups: 2 });
    const u = await t.client.get('user?username=zed');
    expect(u.json.key).toBe('32769:fixed-id');
    expect(u.json['display-name']).toBe('Zed');
    expect(await t.client.names('user/group/direct?username=zed')).toEqual(['crew', 'leads']);
    expect((await t.client.post('authentication?username=zed', { value: 'pw' })).status).toBe(200);
    expect((await admin('/seed', 'POST', { users: [{ email: 'no-name' }] })).status).toBe(400);
    expect((await admin('/seed', 'POST', { groups: [{ name: 'g', users: ['ghost'] }] })).status).toBe(400);
  });

  it('resets data, knobs and counters', async () => {
    t.em.seed([{ name: 'gone' }]);
    t.em.setFaults({ latencyMs: 5 });
    await t.client.get('user?username=gone');
    expect((await admin('/reset', 'POST')).status).toBe(204);
    const stats = await adminJson('/stats');
    expect(stats).toMatchObject({ requests: 0, users: 0, groups: 0 });
    expect((await adminJson('/faults')).latencyMs).toBe(0);
    expect((await t.client.get('user?username=gone')).status).toBe(404);
  });

  it('serves and zeroes counters, and does not count itself', async () => {
    await t.client.get('user?username=x');
    await admin('/faults');
    expect((await adminJson('/stats')).requests).toBe(1);
    expect((await adminJson('/stats', 'DELETE')).requests).toBe(0);
  });

  it('is not subject to faults or auth', async () => {
    t.em.setFaults({ serverErrorRate: 1, latencyMs: 10_000 });
    expect((await admin('/stats')).status).toBe(200);
    t.em.setFaults({ serverErrorRate: 0, latencyMs: 0 });
  });

  it('404s unknown admin routes', async () => {
    expect((await admin('/nope')).status).toBe(404);
  });
});

describe('Crowd emulator reset from code', () => {
  it('clears users, groups, knobs and counters', async () => {
    const em = await startCrowdEmulator();
    try {
      const c = new Client(em);
      em.seed([{ name: 'a', groups: ['g'] }]);
      em.setFaults({ throttleNext: 3 });
      em.reset();
      expect(em.stats()).toMatchObject({ users: 0, groups: 0, requests: 0, throttled: 0 });
      expect((await c.get('user?username=a')).status).toBe(404);
    } finally {
      await em.close();
    }
  });
});
