import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { RequestBudget, type BudgetReservation } from '../../workers/runtime/request-budget.js';
import { budgetRequests, budgetWaitSeconds } from '../../workers/runtime/process-metrics.js';
import { uniquePrefix, workerRedis } from '../helpers/redis.js';

interface Slot {
  atUs: number;
  cost: number;
}

/** Most requests whose slots fall within any window [t, t + windowUs), i.e. any sliding window of that length. */
function busiestWindow(slots: readonly Slot[], windowUs: number): number {
  const units = slots.flatMap((s) => Array<number>(s.cost).fill(s.atUs)).sort((a, b) => a - b);
  let busiest = 0;
  let first = 0;
  for (let last = 0; last < units.length; last++) {
    while (units[last]! - units[first]! >= windowUs) first++;
    busiest = Math.max(busiest, last - first + 1);
  }
  return busiest;
}

describe('request budget', () => {
  // Two connections, as two worker processes would have.
  const redis = workerRedis();
  const other = workerRedis();
  afterAll(async () => {
    await redis.quit();
    await other.quit();
  });

  const redisNowUs = async () => {
    const [s, us] = await redis.time();
    return Number(s) * 1_000_000 + Number(us);
  };

  // The budget is checked on its decisions (the slots the script hands out, on Redis's clock),
  // never on wall time, so a slow machine cannot make these pass or fail.
  it('never lets any sliding second (nor 1 s + marginMs) hold more than perSecond, across processes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(0, 20, 150),
        fc.array(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 6 }),
        async (perSecond, burstWanted, marginMs, takers) => {
          const burst = Math.min(burstWanted, perSecond);
          const key = `${uniquePrefix('budget')}:budget`;
          const slots: Slot[] = [];
          try {
            // Each taker has its own budget object on one of the two connections and reserves in
            // turn, all takers at once: the slots interleave as they would between processes.
            await Promise.all(
              takers.map(async (costs, i) => {
                const budget = new RequestBudget(i % 2 ? other : redis, key, { perSecond, burst, marginMs });
                for (const wanted of costs) {
                  const cost = Math.min(wanted, burst);
                  const { atUs } = await budget.reserve(cost);
                  slots.push({ atUs, cost });
                }
              }),
            );
          } finally {
            await redis.del(`${key}:tat-us`);
          }
          expect(busiestWindow(slots, (1000 + marginMs) * 1000)).toBeLessThanOrEqual(perSecond);
          expect(busiestWindow(slots, 1_000_000)).toBeLessThanOrEqual(perSecond);
        },
      ),
      { numRuns: 40 },
    );
  });

  /** `n` reservations at once, spread over the budgets; sorted by slot. */
  const reserveAll = async (budgets: RequestBudget[], n: number) =>
    (await Promise.all(Array.from({ length: n }, (_, i) => budgets[i % budgets.length]!.reserve()))).sort((x, y) => x.atUs - y.atUs);

  /**
   * After the burst, a slot that had to wait (the budget was busy) comes exactly one spacing after
   * the one before, not a microsecond more or less; one due at once (the budget had idled, as on
   * a stalled machine) at least a spacing after it. Most must have waited, or nothing was shown.
   */
  const expectSpacing = (slots: BudgetReservation[], burst: number, spacingUs: number) => {
    let queued = 0;
    for (let i = burst; i < slots.length; i++) {
      // The first slot after the burst is one spacing after the burst's first.
      const gap = slots[i]!.atUs - slots[i === burst ? 0 : i - 1]!.atUs;
      if (slots[i]!.waitMs > 0) {
        queued++;
        expect(gap).toBe(spacingUs);
      } else {
        expect(gap).toBeGreaterThanOrEqual(spacingUs);
      }
    }
    expect(queued).toBeGreaterThanOrEqual((slots.length - burst) / 2);
  };

  it.each([
    [1, 1, 0, 5],
    [4, 2, 20, 9],
    [50, 1, 20, 30],
    [100, 1, 20, 120],
    [7, 3, 0, 12],
  ])('saturated, spaces slots exactly (1 s + marginMs) / (perSecond − burst + 1) apart (perSecond %d, burst %d, marginMs %d, %d requests)', async (perSecond, burst, marginMs, n) => {
    const key = `${uniquePrefix('budget')}:budget`;
    const a = new RequestBudget(redis, key, { perSecond, burst, marginMs });
    const b = new RequestBudget(other, key, { perSecond, burst, marginMs });
    const spacingUs = Math.ceil(((1000 + marginMs) * 1000) / (perSecond - burst + 1));
    try {
      const before = await redisNowUs();
      // All at once from both connections: they queue behind one another.
      const slots = await reserveAll([a, b], n);
      const after = await redisNowUs();
      // The burst goes at once, when reserved.
      for (const s of slots.slice(0, burst)) {
        expect(s.atUs).toBeGreaterThanOrEqual(before);
        expect(s.atUs).toBeLessThanOrEqual(after);
      }
      expectSpacing(slots, burst, spacingUs);
      // Saturated use of the budget: perSecond × 1000 / (1000 + marginMs), less a slot per extra burst.
      const perSecondSaturated = 1e6 / spacingUs;
      expect(perSecondSaturated).toBeLessThanOrEqual(perSecond);
      expect(perSecondSaturated).toBeGreaterThanOrEqual(((perSecond - burst + 1) * 1000) / (1000 + marginMs) - 1e-9);
      // The wait is the time from Redis's reservation to the slot.
      const last = slots[n - 1]!;
      expect(last.waitMs).toBeGreaterThan(0);
      const reservedUs = last.atUs - Math.round(last.waitMs * 1000);
      expect(reservedUs).toBeGreaterThanOrEqual(before);
      expect(reservedUs).toBeLessThanOrEqual(after);
      // The key outlives the reserved span and nothing longer than a second past it.
      const ttlMs = await redis.pttl(`${key}:tat-us`);
      expect(ttlMs).toBeGreaterThan((last.atUs - (await redisNowUs())) / 1000);
      expect(ttlMs).toBeLessThanOrEqual((last.atUs + burst * spacingUs - before) / 1000 + 1001);
    } finally {
      await redis.del(`${key}:tat-us`);
    }
  });

  it('saturated at the defaults (burst 1, marginMs 20), uses 98 % of perSecond', async () => {
    const key = `${uniquePrefix('budget')}:budget`;
    const budget = new RequestBudget(redis, key, { perSecond: 100 });
    try {
      expectSpacing(await reserveAll([budget], 20), 1, 10_200);
    } finally {
      await redis.del(`${key}:tat-us`);
    }
  });

  it('holds the rate on the wall clock too: take() waits for its slot', async () => {
    const key = `${uniquePrefix('budget')}:budget`;
    const a = new RequestBudget(redis, key, { perSecond: 50, marginMs: 0 });
    const b = new RequestBudget(other, key, { perSecond: 50, marginMs: 0 });
    try {
      const started = Date.now();
      await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).take()));
      // 30 requests at 50/s with no burst need 29 intervals of 20 ms (580 ms).
      expect(Date.now() - started).toBeGreaterThanOrEqual(570);
    } finally {
      await redis.del(`${key}:tat-us`);
    }
  });

  it('lets a burst through at once, then stops waiting when aborted', async () => {
    const key = `${uniquePrefix('budget')}:budget`;
    // Slots 1,999 ms apart, so the sixth waits however slowly the machine runs.
    const budget = new RequestBudget(redis, key, { perSecond: 5, burst: 5, marginMs: 999 });
    try {
      for (let i = 0; i < 5; i++) expect((await budget.reserve()).waitMs).toBe(0);
      const controller = new AbortController();
      const waiting = budget.take(1, controller.signal);
      controller.abort(new Error('shutdown'));
      await expect(waiting).rejects.toThrow('shutdown');
    } finally {
      await redis.del(`${key}:tat-us`);
    }
  });

  it('refuses a cost above the burst and options that break the promise', async () => {
    const budget = new RequestBudget(redis, `${uniquePrefix('budget')}:budget`, { perSecond: 10, burst: 2 });
    await expect(budget.reserve(3)).rejects.toThrow(RangeError);
    await expect(budget.take(0)).rejects.toThrow(RangeError);
    expect(() => new RequestBudget(redis, 'k', { perSecond: 0 })).toThrow('perSecond');
    expect(() => new RequestBudget(redis, 'k', { perSecond: 5, burst: 6 })).toThrow('burst');
    expect(() => new RequestBudget(redis, 'k', { perSecond: 5, burst: 1.5 })).toThrow('burst');
    expect(() => new RequestBudget(redis, 'k', { perSecond: 5, marginMs: -1 })).toThrow('marginMs');
  });

  it('checks each option at its edges, naming the one at fault', async () => {
    const make = (options: ConstructorParameters<typeof RequestBudget>[2]) => () => new RequestBudget(redis, 'k', options);
    for (const perSecond of [0, -1, Number.NaN]) expect(make({ perSecond })).toThrow(new RangeError('perSecond must be > 0'));
    const burstMessage = new RangeError('burst must be a whole number from 1 to perSecond');
    for (const burst of [0, 6, 1.5, Number.NaN]) expect(make({ perSecond: 5, burst })).toThrow(burstMessage);
    const marginMessage = new RangeError('marginMs must be from 0 to 999');
    for (const marginMs of [-1, 1000, Number.NaN]) expect(make({ perSecond: 5, marginMs })).toThrow(marginMessage);
    for (const options of [{ perSecond: 1 }, { perSecond: 5, burst: 5 }, { perSecond: 5, burst: 1, marginMs: 0 }, { perSecond: 5, marginMs: 999 }, { perSecond: 1.5 }]) {
      expect(make(options)).not.toThrow();
    }
    const budget = new RequestBudget(redis, 'k', { perSecond: 10, burst: 2 });
    const costMessage = new RangeError("cost must be a whole number from 1 to the budget's burst");
    for (const cost of [0, 3, 1.5]) await expect(budget.reserve(cost)).rejects.toThrow(costMessage);
  });

  it('defines its script once per connection', () => {
    new RequestBudget(redis, 'k', { perSecond: 5 });
    const connection = redis as unknown as { defineCommand: (...args: unknown[]) => void };
    let defined = 0;
    connection.defineCommand = () => void defined++;
    try {
      new RequestBudget(redis, 'k', { perSecond: 5 });
    } finally {
      delete (connection as Partial<typeof connection>).defineCommand;
    }
    expect(defined).toBe(0);
  });

  it('counts requests and waiting under the last segment of its key', async () => {
    const label = `label${randomUUID().slice(0, 8)}`;
    const key = `${uniquePrefix('budget')}:${label}`;
    const valueOf = async (metric: typeof budgetRequests) => (await metric.get()).values.find((v) => v.labels.budget === label)?.value;
    // Slots 1,999 ms apart: the third request waits however slowly the machine runs.
    const budget = new RequestBudget(redis, key, { perSecond: 2, burst: 2, marginMs: 999 });
    try {
      expect((await budget.reserve(2)).waitMs).toBe(0);
      expect(await valueOf(budgetRequests)).toBe(2);
      // Nothing waited yet: no waiting recorded, not even zero.
      expect(await valueOf(budgetWaitSeconds)).toBeUndefined();
      const { waitMs } = await budget.reserve();
      expect(waitMs).toBeGreaterThan(0);
      expect(await valueOf(budgetRequests)).toBe(3);
      expect(await valueOf(budgetWaitSeconds)).toBeCloseTo(waitMs / 1000, 9);
    } finally {
      await redis.del(`${key}:tat-us`);
    }
  });
});
