import { ConfigurationError, PermanentError, ThrottledError, TransientError } from '../../shared/errors.js';
import { retryDelay, retryInPlace } from '../../workers/runtime/in-place-retry.js';

const state = (over: Partial<Parameters<typeof retryDelay>[1]> = {}) => ({
  resends: 0, refusals: 0, resendRetries: 3, refusedRetries: 3, baseMs: 50, maxRetryAfterMs: 5000, idempotent: false, ...over,
});
const half = () => 0.5;

describe('retries in place', () => {
  it('sends a write again only when the remote cannot have acted on it', () => {
    expect(retryDelay(new ThrottledError('429', { retryAfterMs: 1200 }), state(), half)).toEqual({ ms: 1200, refused: true });
    expect(retryDelay(new TransientError('503', { status: 503 }), state(), half)).toEqual({ ms: 38, refused: true });
    expect(retryDelay(new TransientError('refused', { code: 'ECONNREFUSED' }), state(), half)).toEqual({ ms: 38, refused: true });
    // A write that may have landed is the next attempt's, which reads first.
    for (const err of [new TransientError('500', { status: 500 }), new TransientError('504', { status: 504 }), new TransientError('timeout', { code: 'ETIMEDOUT' }), new TransientError('reset', { code: 'ECONNRESET' })]) {
      expect(retryDelay(err, state(), half)).toBeUndefined();
    }
  });

  it('sends a read again after any transient failure, with a growing backoff, a bounded number of times', () => {
    const err = new TransientError('timeout', { code: 'ETIMEDOUT' });
    expect(retryDelay(err, state({ idempotent: true }), half)).toEqual({ ms: 38, refused: false });
    expect(retryDelay(err, state({ idempotent: true, resends: 2 }), half)).toEqual({ ms: 150, refused: false });
    expect(retryDelay(err, state({ idempotent: true, resends: 3 }), half)).toBeUndefined();
    // A Retry-After on a 5xx is the remote's word.
    expect(retryDelay(new TransientError('504', { status: 504, nextRetryDelayMs: 700 }), state({ idempotent: true }), half)).toEqual({ ms: 700, refused: false });
  });

  it('leaves long Retry-Afters, exhausted refusals, configuration errors and aborts to the runtime', () => {
    expect(retryDelay(new ThrottledError('429', { retryAfterMs: 5001 }), state(), half)).toBeUndefined();
    expect(retryDelay(new ThrottledError('429', { retryAfterMs: 10 }), state({ refusals: 3 }), half)).toBeUndefined();
    expect(retryDelay(new ConfigurationError('401'), state({ idempotent: true }), half)).toBeUndefined();
    expect(retryDelay(new TransientError('aborted', { code: 'ABORTED' }), state({ idempotent: true }), half)).toBeUndefined();
  });

  it('resolves with the first success and rethrows the last failure', async () => {
    let calls = 0;
    await expect(retryInPlace(async () => (++calls < 3 ? Promise.reject(new TransientError('502', { status: 502 })) : 'ok'), { idempotent: true }, { resendRetryBaseMs: 1 })).resolves.toBe('ok');
    expect(calls).toBe(3);
    calls = 0;
    const last = new TransientError('500', { status: 500 });
    await expect(retryInPlace(async () => { calls++; throw last; }, { idempotent: false })).rejects.toBe(last);
    expect(calls).toBe(1);
  });

  it('takes a Retry-After equal to maxRetryAfterMs, not one past it', () => {
    expect(retryDelay(new ThrottledError('429', { retryAfterMs: 5000 }), state(), half)).toEqual({ ms: 5000, refused: true });
    expect(retryDelay(new TransientError('503', { status: 503, nextRetryDelayMs: 5000 }), state(), half)).toEqual({ ms: 5000, refused: true });
    expect(retryDelay(new TransientError('503', { status: 503, nextRetryDelayMs: 5001 }), state(), half)).toBeUndefined();
    // A read's hint is capped rather than refused.
    expect(retryDelay(new TransientError('504', { status: 504, nextRetryDelayMs: 9000 }), state({ idempotent: true }), half)).toEqual({ ms: 5000, refused: false });
  });

  it("waits a refused request's hint exactly, and stops at refusedRetries", () => {
    expect(retryDelay(new TransientError('503', { status: 503, nextRetryDelayMs: 700 }), state(), half)).toEqual({ ms: 700, refused: true });
    expect(retryDelay(new TransientError('503', { status: 503 }), state({ refusals: 2 }), half)).toEqual({ ms: 150, refused: true });
    expect(retryDelay(new TransientError('503', { status: 503 }), state({ refusals: 3 }), half)).toBeUndefined();
    expect(retryDelay(new ThrottledError('429', { retryAfterMs: 10 }), state({ refusals: 2 }), half)).toEqual({ ms: 10, refused: true });
    // Refusals used up, a read still has its own retries.
    expect(retryDelay(new TransientError('503', { status: 503 }), state({ refusals: 3, idempotent: true }), half)).toEqual({ ms: 38, refused: false });
  });

  describe('the loop', () => {
    /** Fails with `err` until `limit` calls, then permanently, so a miscounted loop ends instead of spinning. */
    const failing = (err: Error, limit = 10) => {
      const calls = { n: 0 };
      const send = async (): Promise<string> => {
        calls.n++;
        throw calls.n > limit ? new PermanentError('too many calls') : err;
      };
      return { calls, send };
    };
    const zero = () => 0;

    // The pauses the loop asks for, read off the timers it sets (the timers still run).
    const realSetTimeout = globalThis.setTimeout;
    let delays: unknown[] = [];
    beforeEach(() => {
      delays = [];
      globalThis.setTimeout = ((fn: () => void, ms?: number) => {
        delays.push(ms);
        return realSetTimeout(fn, ms);
      }) as typeof setTimeout;
    });
    afterEach(() => {
      globalThis.setTimeout = realSetTimeout;
    });

    it('counts reads and refusals apart, each up to its own limit', async () => {
      const timeout = new TransientError('timeout', { code: 'ETIMEDOUT' });
      const reads = failing(timeout);
      await expect(retryInPlace(reads.send, { idempotent: true }, { resendRetries: 2, resendRetryBaseMs: 0 }, zero)).rejects.toBe(timeout);
      expect(reads.calls.n).toBe(3);
      const refused = new TransientError('refused', { code: 'ECONNREFUSED' });
      const refusals = failing(refused);
      await expect(retryInPlace(refusals.send, { idempotent: false }, { refusedRetries: 1, resendRetryBaseMs: 0 }, zero)).rejects.toBe(refused);
      expect(refusals.calls.n).toBe(2);
    });

    it('defaults to 3 refused retries up to a 5000 ms Retry-After', async () => {
      const now = new ThrottledError('429', { retryAfterMs: 0 });
      const zeroWait = failing(now);
      await expect(retryInPlace(zeroWait.send, { idempotent: false })).rejects.toBe(now);
      expect(zeroWait.calls.n).toBe(4);
      const capped = new ThrottledError('429', { retryAfterMs: 200 });
      const over = failing(capped);
      await expect(retryInPlace(over.send, { idempotent: false }, { maxRetryAfterMs: 100 })).rejects.toBe(capped);
      expect(over.calls.n).toBe(1);
      expect(delays).toEqual([]);
    });

    it('pauses baseMs-based backoffs, defaulting to 50 ms, and sets no timer for a zero pause', async () => {
      const timeout = new TransientError('timeout', { code: 'ETIMEDOUT' });
      await expect(retryInPlace(failing(timeout).send, { idempotent: true }, { resendRetryBaseMs: 8 }, zero)).rejects.toBe(timeout);
      expect(delays).toEqual([4, 8, 16]);
      delays = [];
      await expect(retryInPlace(failing(timeout).send, { idempotent: true }, { resendRetries: 1 }, zero)).rejects.toBe(timeout);
      expect(delays).toEqual([25]);
      delays = [];
      await expect(retryInPlace(failing(timeout).send, { idempotent: true }, { resendRetryBaseMs: 0 }, zero)).rejects.toBe(timeout);
      expect(delays).toEqual([]);
    });

    it('sends nothing more once the signal has aborted, before or during the pause', async () => {
      const timeout = new TransientError('timeout', { code: 'ETIMEDOUT' });
      const before = failing(timeout);
      let drawn = 0;
      await expect(retryInPlace(before.send, { idempotent: true, signal: AbortSignal.abort() }, {}, () => ++drawn && 0)).rejects.toBe(timeout);
      expect(before.calls.n).toBe(1);
      expect(drawn).toBe(0);
      // Aborts while the delay is chosen, i.e. after the first check and before the pause; a long
      // pause chosen then is not waited out either (it would outlast the test's timeout).
      for (const resendRetryBaseMs of [2, 120_000]) {
        const during = failing(timeout);
        const controller = new AbortController();
        const abortNow = () => {
          controller.abort();
          return 0;
        };
        await expect(retryInPlace(during.send, { idempotent: true, signal: controller.signal }, { resendRetryBaseMs }, abortNow)).rejects.toBe(timeout);
        expect([resendRetryBaseMs, during.calls.n]).toEqual([resendRetryBaseMs, 1]);
      }
    });
  });
});
