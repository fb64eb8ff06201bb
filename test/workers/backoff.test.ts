import type { Job } from 'bullmq';
import { BACKOFF_TYPE } from '../../shared/jobs.js';
import { backoffStrategy, computeBackoff, workerBackoffSettings } from '../../workers/runtime/backoff.js';

const settings = { baseMs: 100, maxMs: 10_000 };
const low = () => 0;
const high = () => 1;
const jobWith = (backoff: unknown) => ({ opts: { backoff } }) as unknown as Job;

describe('job backoff', () => {
  it('doubles per attempt from baseMs, half fixed and half jitter', () => {
    // attemptsMade 0 and 1 both give the first retry's delay.
    expect([0, 1, 2, 3, 4].map((n) => computeBackoff(n, settings, undefined, low))).toEqual([50, 50, 100, 200, 400]);
    expect([0, 1, 2, 3, 4].map((n) => computeBackoff(n, settings, undefined, high))).toEqual([100, 100, 200, 400, 800]);
    expect(computeBackoff(3, settings, undefined, () => 0.5)).toBe(300);
    expect(computeBackoff(1, { baseMs: 3, maxMs: 10_000 }, undefined, () => 0.5)).toBe(2);
  });

  it('never goes past maxMs, jitter included', () => {
    const capped = { baseMs: 100, maxMs: 300 };
    expect(computeBackoff(3, capped, undefined, high)).toBe(300);
    expect(computeBackoff(3, capped, undefined, low)).toBe(150);
    expect(computeBackoff(30, capped, undefined, high)).toBe(300);
  });

  it('takes a usable hinted delay, rounded up, over the computed one', () => {
    expect(computeBackoff(3, settings, { nextRetryDelayMs: 1234.2 }, high)).toBe(1235);
    expect(computeBackoff(3, settings, { nextRetryDelayMs: 0 }, high)).toBe(0);
    // Past maxMs too: the remote's word wins.
    expect(computeBackoff(3, settings, { nextRetryDelayMs: 60_000 }, high)).toBe(60_000);
  });

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], [Number.NEGATIVE_INFINITY], ['700'], [null], [undefined]])(
    'ignores a hinted delay of %p',
    (hint) => {
      expect(computeBackoff(2, settings, { nextRetryDelayMs: hint }, high)).toBe(200);
    },
  );

  it('computes the delay when there is no error or it carries no hint', () => {
    expect(computeBackoff(2, settings, undefined, high)).toBe(200);
    expect(computeBackoff(2, settings, null, high)).toBe(200);
    expect(computeBackoff(2, settings, new Error('boom'), high)).toBe(200);
  });

  describe('BullMQ strategy', () => {
    // The strategy jitters with Math.random; pinned to its top so every delay is exact.
    const realRandom = Math.random;
    beforeEach(() => {
      Math.random = () => 1;
    });
    afterEach(() => {
      Math.random = realRandom;
    });

    const strategy = backoffStrategy({ baseMs: 100, maxMs: 10_000 });

    it("uses the job's own backoff delay as baseMs when it has one", () => {
      expect(strategy(3, BACKOFF_TYPE, undefined, jobWith({ type: BACKOFF_TYPE, delay: 30 }))).toBe(120);
      expect(strategy(3, BACKOFF_TYPE, undefined, jobWith({ type: BACKOFF_TYPE, delay: 0 }))).toBe(0);
    });

    it('falls back to the default baseMs without a job, a backoff object or its delay', () => {
      expect(strategy(3, BACKOFF_TYPE, undefined, undefined)).toBe(400);
      expect(strategy(3, BACKOFF_TYPE, undefined, jobWith(undefined))).toBe(400);
      expect(strategy(3, BACKOFF_TYPE, undefined, jobWith(5000))).toBe(400);
      expect(strategy(3, BACKOFF_TYPE, undefined, jobWith({ type: BACKOFF_TYPE }))).toBe(400);
    });

    it("keeps the default maxMs and honours the error's hint", () => {
      expect(strategy(20, BACKOFF_TYPE, undefined, jobWith({ type: BACKOFF_TYPE, delay: 1000 }))).toBe(10_000);
      expect(strategy(3, BACKOFF_TYPE, Object.assign(new Error('x'), { nextRetryDelayMs: 7 }), undefined)).toBe(7);
    });

    it('worker settings route only the idsync type to it, BullMQ exponential for the rest', () => {
      const { backoffStrategy: routed } = workerBackoffSettings({ baseMs: 100, maxMs: 10_000 });
      expect(routed!(3, BACKOFF_TYPE, undefined, undefined)).toBe(400);
      expect(routed!(3, 'exponential', undefined, undefined)).toBe(4000);
      expect(routed!(1, undefined, undefined, undefined)).toBe(1000);
    });
  });
});
