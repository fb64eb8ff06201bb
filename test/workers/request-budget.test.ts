import { RequestBudget } from '../../workers/runtime/request-budget.js';
import { uniquePrefix, workerRedis } from '../helpers/redis.js';

describe('request budget', () => {
  const redis = workerRedis();
  afterAll(() => redis.quit());

  it('holds the rate across several budgets sharing one key (as separate processes would)', async () => {
    const key = `${uniquePrefix('budget')}:budget`;
    const a = new RequestBudget(redis, key, { perSecond: 50, burst: 1 });
    const b = new RequestBudget(redis, key, { perSecond: 50, burst: 1 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).take()));
    // 30 requests at 50/s with no burst need at least 29 emission intervals (580 ms).
    expect(Date.now() - started).toBeGreaterThanOrEqual(560);
    await redis.del(key);
  });

  it('lets a burst through at once and stops waiting when aborted', async () => {
    const key = `${uniquePrefix('budget')}:budget`;
    const budget = new RequestBudget(redis, key, { perSecond: 1, burst: 5 });
    const started = Date.now();
    for (let i = 0; i < 5; i++) await budget.take();
    expect(Date.now() - started).toBeLessThan(500);
    const controller = new AbortController();
    const waiting = budget.take(1, controller.signal);
    controller.abort(new Error('shutdown'));
    await expect(waiting).rejects.toThrow('shutdown');
    await redis.del(key);
  });

  // The rate is checked on the budget's decisions, not on wall time: reservations are made
  // and abandoned at once (aborted before their wait), and the theoretical arrival time the
  // GCRA script stored is read back. Queued reservations each move it by exactly one
  // emission interval, however slowly the machine runs; only the start is bracketed by
  // Redis's own clock.
  const redisNow = async () => {
    const [s, us] = await redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };
  const reserveAndAbandon = async (budget: RequestBudget, cost = 1) => {
    const controller = new AbortController();
    const taken = budget.take(cost, controller.signal);
    controller.abort(new Error('abandoned'));
    await expect(taken).rejects.toThrow('abandoned');
  };

  it.each([
    [1, 1, 5],
    [4, 2, 7],
    [50, 1, 30],
  ])('reserves exactly 1000/perSecond ms per request (perSecond %d, burst %d, %d requests)', async (perSecond, burst, n) => {
    const key = `${uniquePrefix('budget')}:budget`;
    const budget = new RequestBudget(redis, key, { perSecond, burst });
    const emissionMs = 1000 / perSecond;
    try {
      // One reservation of `ahead` on an idle budget: arrival time = now + that many intervals,
      // far enough ahead that the reservations after it all queue behind it.
      const ahead = 100;
      const before = await redisNow();
      await reserveAndAbandon(budget, ahead);
      const after = await redisNow();
      const first = Number(await redis.get(key));
      expect(first).toBeGreaterThanOrEqual(before + ahead * emissionMs);
      expect(first).toBeLessThanOrEqual(after + ahead * emissionMs);
      // n single reservations queued behind it: exactly n intervals more, not a millisecond
      // more or less, however long the round trips took.
      for (let i = 0; i < n; i++) await reserveAndAbandon(budget);
      expect(Number(await redis.get(key)) - first).toBeCloseTo(n * emissionMs, 6);
      // The key outlives the reserved span (and the burst) and nothing longer than a second past it.
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan((ahead + n) * emissionMs - (await redisNow() - before));
      expect(ttl).toBeLessThanOrEqual((ahead + n) * emissionMs + emissionMs * burst + 1001);
    } finally {
      await redis.del(key);
    }
  });
});
