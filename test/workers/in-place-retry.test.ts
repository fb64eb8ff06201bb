import { ConfigurationError, ThrottledError, TransientError } from '../../shared/errors.js';
import { retryDelay, retryInPlace } from '../../workers/runtime/in-place-retry.js';

const state = (over: Partial<Parameters<typeof retryDelay>[1]> = {}) => ({
  reads: 0, refusals: 0, readRetries: 3, refusedRetries: 3, baseMs: 50, maxRetryAfterMs: 5000, idempotent: false, ...over,
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
    expect(retryDelay(err, state({ idempotent: true, reads: 2 }), half)).toEqual({ ms: 150, refused: false });
    expect(retryDelay(err, state({ idempotent: true, reads: 3 }), half)).toBeUndefined();
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
    await expect(retryInPlace(async () => (++calls < 3 ? Promise.reject(new TransientError('502', { status: 502 })) : 'ok'), { idempotent: true }, { readRetryBaseMs: 1 })).resolves.toBe('ok');
    expect(calls).toBe(3);
    calls = 0;
    const last = new TransientError('500', { status: 500 });
    await expect(retryInPlace(async () => { calls++; throw last; }, { idempotent: false })).rejects.toBe(last);
    expect(calls).toBe(1);
  });
});
