import { RateLimitError, UnrecoverableError, type Job, type Queue } from 'bullmq';
import { ConfigurationError, PermanentError, ThrottledError, TransientError } from '../../shared/errors.js';
import { decideFailure, RetryableFailure, type FailureContext } from '../../workers/runtime/failures.js';
import { throttleEvents } from '../../workers/runtime/process-metrics.js';
import type { Quarantine } from '../../workers/runtime/quarantine.js';

/** A queue and quarantine that only record what the decision asked of them. */
function context(name: string, released = false) {
  const rateLimits: number[] = [];
  const quarantined: string[] = [];
  const queue = { name, rateLimit: async (ms: number) => void rateLimits.push(ms) } as unknown as Queue;
  const quarantine = { enter: async (reason: string) => void quarantined.push(reason) } as unknown as Quarantine;
  const ctx: FailureContext = { queue, quarantine, released };
  return { ctx, rateLimits, quarantined };
}
const job = (attemptsMade: number, attempts?: number) => ({ attemptsMade, opts: { attempts } }) as unknown as Job;
const throttled = async (target: string) => (await throttleEvents.get()).values.find((v) => v.labels.target === target)?.value;

describe('failure decisions', () => {
  it('releases a job aborted by shutdown without using an attempt, whatever the error', async () => {
    const { ctx, rateLimits, quarantined } = context('crowd-release', true);
    const decision = await decideFailure(new ConfigurationError('401'), job(0, 5), ctx);
    expect(decision.status).toBe('retrying');
    expect(decision.reason).toBe('released on shutdown: 401');
    expect(decision.toThrow).toBeInstanceOf(RateLimitError);
    expect(rateLimits).toEqual([]);
    expect(quarantined).toEqual([]);
  });

  it('pauses the target queue on a throttle and counts it under the target', async () => {
    const { ctx, rateLimits } = context('crowd-throttle-count');
    const decision = await decideFailure(new ThrottledError('429', { retryAfterMs: 1500 }), job(0, 5), ctx);
    expect(decision).toMatchObject({ status: 'throttled', reason: '429 (retry after 1500 ms)' });
    expect(decision.toThrow).toBeInstanceOf(RateLimitError);
    expect(rateLimits).toEqual([1500]);
    expect(await throttled('crowd-throttle-count')).toBe(1);
    // A zero Retry-After still pauses for a moment.
    await decideFailure(new ThrottledError('429', { retryAfterMs: 0 }), job(0, 5), ctx);
    expect(rateLimits).toEqual([1500, 1]);
    expect(await throttled('crowd-throttle-count')).toBe(2);
  });

  it('quarantines the target on a configuration error', async () => {
    const { ctx, quarantined } = context('entra-quarantine');
    const decision = await decideFailure(new ConfigurationError('bad secret: password=hunter2'), job(0, 5), ctx);
    expect(decision.status).toBe('quarantined');
    expect(decision.toThrow).toBeInstanceOf(RateLimitError);
    expect(quarantined).toEqual([decision.reason]);
    expect(decision.reason).not.toContain('hunter2');
  });

  it('fails a permanent error for good, with a redacted message and stack', async () => {
    const { ctx } = context('crowd-permanent');
    const err = new PermanentError('rejected token=abc123');
    err.stack = 'PermanentError: rejected token=abc123\n    at marker (connector.js:1:1)';
    const decision = await decideFailure(err, job(0, 5), ctx);
    expect(decision.status).toBe('failed');
    expect(decision.toThrow).toBeInstanceOf(UnrecoverableError);
    expect(decision.toThrow.message).not.toContain('abc123');
    // The original's frames, under the new error's first line.
    const lines = decision.toThrow.stack!.split('\n');
    expect(lines[0]).toBe(`UnrecoverableError: ${decision.reason}`);
    expect(lines.slice(1)).toEqual(['    at marker (connector.js:1:1)']);
  });

  it('retries a transient error until the last attempt, carrying its hint', async () => {
    const { ctx } = context('entra-transient');
    const err = new TransientError('502', { status: 502, nextRetryDelayMs: 900 });
    const first = await decideFailure(err, job(0, 3), ctx);
    expect(first.status).toBe('retrying');
    expect(first.toThrow).toBeInstanceOf(RetryableFailure);
    expect(first.toThrow.name).toBe('RetryableFailure');
    expect((first.toThrow as RetryableFailure).nextRetryDelayMs).toBe(900);
    expect(first.toThrow.stack!.split('\n')[0]).toBe('RetryableFailure: 502');
    expect((await decideFailure(err, job(1, 3), ctx)).status).toBe('retrying');
    expect((await decideFailure(err, job(2, 3), ctx)).status).toBe('failed');
    // No attempts option: one attempt only.
    expect((await decideFailure(err, job(0), ctx)).status).toBe('failed');
  });

  it('keeps a stack for a thrown non-error or an error without one', async () => {
    const { ctx } = context('crowd-odd-throws');
    const fromString = await decideFailure('boom', job(0, 3), ctx);
    expect(fromString.reason).toBe('boom');
    expect(fromString.toThrow.stack!.split('\n')[0]).toBe('RetryableFailure: boom');
    const bare = new TransientError('no stack');
    bare.stack = undefined;
    const fromBare = await decideFailure(bare, job(0, 3), ctx);
    expect(fromBare.toThrow.stack!.split('\n')[0]).toBe('RetryableFailure: no stack');
    expect(fromBare.toThrow.stack!.split('\n').length).toBeGreaterThan(1);
  });

  it('takes only a numeric hint, from any cause', () => {
    expect(new RetryableFailure('m', null).nextRetryDelayMs).toBeUndefined();
    expect(new RetryableFailure('m', undefined).nextRetryDelayMs).toBeUndefined();
    expect(new RetryableFailure('m', { nextRetryDelayMs: '700' }).nextRetryDelayMs).toBeUndefined();
    expect(new RetryableFailure('m', { nextRetryDelayMs: 0 }).nextRetryDelayMs).toBe(0);
  });
});
