import { errorKind, type SyncError } from '../../shared/errors.js';
import { computeBackoff } from './backoff.js';

/**
 * Retries of one request inside a job's attempt, for failures where trying the same request
 * again is known to be safe. A failed attempt costs more than the request that failed: the
 * next attempt re-reads the user before it writes (the write may have landed) and waits out
 * the job backoff, and each attempt is another chance to fail for good. So:
 *
 * - an idempotent request that failed transiently is sent again after a short backoff: a read,
 *   or a write whose repeat leaves the remote as one copy would (a full replace, a delete or
 *   add whose "already done" answer the caller accepts, a create whose "already exists" the
 *   caller settles by reading). Whether the first copy landed does not matter then, so no
 *   fresh read is needed to find out;
 * - any request the remote refused without acting on it (429 and 503 ask the caller to come
 *   back later, a refused connection never reached the remote) is sent again after the
 *   remote's Retry-After, read exactly, when that is short;
 * - everything else is the runtime's: a write that is not idempotent (a rename) and timed out,
 *   was reset or answered 500/502/504 may have been applied, and only a fresh read in the next
 *   attempt can tell.
 *
 * The caller's budget is taken again for every retry (the retry is a request like any other).
 */
export interface InPlaceRetryOptions {
  /** Extra tries of an idempotent request after a transient failure. @defaultValue 3 */
  resendRetries?: number;
  /** Pause before the first extra try of an idempotent request; doubled per try, with equal jitter. @defaultValue 50 */
  resendRetryBaseMs?: number;
  /** Extra tries of a request the remote refused without acting on it. @defaultValue 3 */
  refusedRetries?: number;
  /**
   * A longer Retry-After is not waited out here: the error goes to the runtime, which pauses
   * the whole queue (429) or retries the job later. @defaultValue 5000
   */
  maxRetryAfterMs?: number;
}

/** What the caller knows about the request. */
export interface RetryRequest {
  /** Sending it twice leaves the remote as sending it once (see above). */
  idempotent: boolean;
  signal?: AbortSignal | undefined;
}

// Nothing was sent: the remote cannot have acted.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Resolves with the first success; rethrows the last failure once no retry is safe or left. */
export async function retryInPlace<T>(send: () => Promise<T>, request: RetryRequest, options: InPlaceRetryOptions = {}, random = Math.random): Promise<T> {
  const resendRetries = options.resendRetries ?? 3;
  const refusedRetries = options.refusedRetries ?? 3;
  const baseMs = options.resendRetryBaseMs ?? 50;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 5000;
  for (let resends = 0, refusals = 0; ; ) {
    try {
      return await send();
    } catch (err) {
      if (request.signal?.aborted) throw err;
      const wait = retryDelay(err as SyncError, { resends, refusals, resendRetries, refusedRetries, baseMs, maxRetryAfterMs, idempotent: request.idempotent }, random);
      if (wait === undefined) throw err;
      if (wait.refused) refusals++;
      else resends++;
      await sleep(wait.ms, request.signal);
      if (request.signal?.aborted) throw err;
    }
  }
}

interface RetryState {
  resends: number;
  refusals: number;
  resendRetries: number;
  refusedRetries: number;
  baseMs: number;
  maxRetryAfterMs: number;
  idempotent: boolean;
}

/** How long to wait before sending again, or undefined when the failure is the runtime's. */
export function retryDelay(err: SyncError, s: RetryState, random = Math.random): { ms: number; refused: boolean } | undefined {
  const kind = errorKind(err);
  if (kind === 'throttled') {
    const ms = (err as { retryAfterMs?: number }).retryAfterMs ?? 0;
    return s.refusals < s.refusedRetries && ms <= s.maxRetryAfterMs ? { ms, refused: true } : undefined;
  }
  if (kind !== 'transient' || err.code === 'ABORTED') return undefined;
  const hinted = (err as { nextRetryDelayMs?: unknown }).nextRetryDelayMs;
  // The n-th extra try waits like the (n + 1)-th job retry would, on this shorter base.
  const backoff = (n: number) => computeBackoff(n + 1, { baseMs: s.baseMs, maxMs: Infinity }, undefined, random);
  const notApplied = err.status === 503 || NOT_SENT.has(err.code ?? '');
  if (notApplied && s.refusals < s.refusedRetries) {
    const ms = typeof hinted === 'number' ? hinted : backoff(s.refusals);
    return ms <= s.maxRetryAfterMs ? { ms, refused: true } : undefined;
  }
  if (s.idempotent && s.resends < s.resendRetries) {
    const ms = typeof hinted === 'number' ? Math.min(hinted, s.maxRetryAfterMs) : backoff(s.resends);
    return { ms, refused: false };
  }
  return undefined;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  // Already aborted: the 'abort' event has fired and will not fire again, so do not wait for it.
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
