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
});
