import { createHash } from 'node:crypto';
import { dumpPrefix } from '../helpers/redis.js';
import { alice, startTestServer, type TestServer } from './support.js';

/**
 * `Idempotency-Key`: a retried request gets the first answer again and enqueues nothing new.
 * Provision jobs are used where counting matters: unlike user pushes, which coalesce per
 * user anyway, every accepted provision request is a job of its own.
 */
describe('ingest API: Idempotency-Key', () => {
  let t: TestServer;
  beforeEach(async () => { t = await startTestServer(); });
  afterEach(() => t.close());

  const provision = (key: string, body: unknown = { all: true }) => t.request('POST', '/api/v1/provision', { body, headers: { 'Idempotency-Key': key } });

  it('answers a repeated request with the first answer and enqueues nothing new', async () => {
    const first = await provision('order-1');
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await provision('order-1');
    expect(again.status).toBe(202);
    expect(again.json).toEqual(first.json);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await t.jobs('sync')).toHaveLength(1);
    // Another key is another request.
    expect((await provision('order-2')).status).toBe(202);
    expect(await t.jobs('sync')).toHaveLength(2);
  });

  it('answers 409 for the same key with another body, or on another endpoint', async () => {
    expect((await provision('order-1')).status).toBe(202);
    const other = await provision('order-1', { ids: ['42'] });
    expect(other.status).toBe(409);
    expect(other.json.error).toBe('idempotency-key-reused');
    const elsewhere = await t.request('PUT', '/api/v1/users/42', { body: alice, headers: { 'Idempotency-Key': 'order-1' } });
    expect(elsewhere.status).toBe(409);
    expect(await t.jobs('sync')).toHaveLength(1);
    expect(await t.jobs('crowd')).toHaveLength(0);
  });

  it('lets only one of several concurrent identical requests enqueue', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => provision('burst')));
    expect(await t.jobs('sync')).toHaveLength(1);
    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    for (const a of accepted) expect(a.json).toEqual(accepted[0]!.json);
    // The others were told to retry, and a retry now gets the stored answer.
    for (const a of answers.filter((x) => x.status !== 202)) {
      expect(a.status).toBe(409);
      expect(a.json.error).toBe('idempotency-key-in-progress');
      expect(a.headers.get('retry-after')).toBe('1');
    }
    const retry = await provision('burst');
    expect(retry.status).toBe(202);
    expect(retry.json).toEqual(accepted[0]!.json);
    expect(await t.jobs('sync')).toHaveLength(1);
  });

  it('stores the answer for 24 h under a hash of the key, with neither the key nor the body in clear', async () => {
    const password = 'Idem-Plaintext-0417';
    const key = 'key-zq-visible-8120';
    expect((await t.request('POST', '/api/v1/users/42/password', { body: { password }, headers: { 'Idempotency-Key': key } })).status).toBe(202);
    const redisKey = `${t.prefix}:ingest:idempotency:${createHash('sha256').update(key).digest('hex')}`;
    const ttl = await t.redis.ttl(redisKey);
    expect(ttl).toBeGreaterThan(86_400 - 60);
    expect(ttl).toBeLessThanOrEqual(86_400);
    expect(JSON.parse((await t.redis.get(redisKey))!)).toEqual({ bodyHash: expect.stringMatching(/^[0-9a-f]{64}$/), status: 202, body: { jobs: expect.any(Array) } });
    const dump = await dumpPrefix(t.redis, t.prefix);
    expect(dump).not.toContain(password);
    expect(dump).not.toContain(key);
    expect(dump).not.toContain(createHash('sha256').update(JSON.stringify({ password })).digest('hex'));
  });

  it('remembers no refused request: a key first sent with a bad body still works once fixed', async () => {
    const bad = await provision('fix-me', { ids: [] });
    expect(bad.status).toBe(400);
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
    expect((await provision('fix-me', { ids: ['42'] })).status).toBe(202);
  });

  it('names a malformed key', async () => {
    for (const key of ['', 'has space', 'x'.repeat(256)]) {
      const res = await t.request('POST', '/api/v1/provision', { body: { all: true }, headers: { 'Idempotency-Key': key } });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'validation', issues: [{ path: 'Idempotency-Key', message: expect.any(String) }] });
    }
    expect(await t.jobs('sync')).toHaveLength(0);
  });
});
