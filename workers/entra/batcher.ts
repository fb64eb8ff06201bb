import { errorKind, isThrottledError, type SyncError } from '../../shared/errors.js';
import { computeBackoff } from '../runtime/backoff.js';
import type { RequestBudget } from '../runtime/request-budget.js';
import { retryAfterMs, type RawReply } from './errors.js';

/**
 * Coalesces the writes of concurrently running jobs into JSON `$batch` requests (reference
 * §6): a write waits for its slot in the shared write budget (one write per item, since
 * Graph throttles each item on its own), then joins the open batch, which is sent when it
 * holds `maxItems` items or `lingerMs` after its first item. Each caller gets its own item's
 * reply. A per-item 429 or 503 (Graph did not act on the item) is retried after that item's
 * own Retry-After (read with the exact casing Graph uses), a bounded number of times; after
 * that the caller gets the reply and turns a 429 into a ThrottledError, which pauses the queue.
 * An idempotent item (one whose repeat leaves Graph as one copy would) is also sent again
 * after a failure that leaves open whether Graph acted on it: its own 500, 502 or 504, or a
 * whole `$batch` that timed out, was reset or came back unreadable. Without that, one lost
 * `$batch` reply fails the attempt of every job with an item in it, and each job's next
 * attempt reads its user again before writing.
 *
 * Batches save round trips, not quota: the budget, not the batch size, sets the pace.
 */

export interface BatchItem {
  method: string;
  /** Version-relative URL (`/users/{id}`), never `/v1.0/...`: the published SDK's bug. */
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Sends one `$batch`; resolves one reply per item, in order, or throws for the whole batch. */
export type SendBatch = (items: readonly BatchItem[]) => Promise<RawReply[]>;

export interface BatcherOptions {
  /** Items per `$batch`; Graph takes at most 20. @defaultValue 20 */
  maxItems?: number;
  /** How long the first item of a batch waits for company. @defaultValue 5 */
  lingerMs?: number;
  /** Retries of an item answered 429 or 503 before its caller gets that reply. @defaultValue 3 */
  throttleRetries?: number;
  /** A longer Retry-After is not waited out here but handed to the caller (the queue pauses). @defaultValue 10000 */
  maxRetryAfterMs?: number;
  /** Resends of an idempotent item after a failure that may have applied it. @defaultValue 3 */
  resendRetries?: number;
  /** Pause before the first resend of an idempotent item; doubled per resend, with equal jitter. @defaultValue 50 */
  resendRetryBaseMs?: number;
}

export interface SubmitOptions {
  signal?: AbortSignal | undefined;
  /** Sending the item twice leaves Graph as sending it once (see the class comment). @defaultValue false */
  idempotent?: boolean;
}

// Statuses after which an item may or may not have been applied (503 and 429 say it was not).
const AMBIGUOUS = new Set([500, 502, 504]);

interface Entry {
  item: BatchItem;
  signal: AbortSignal | undefined;
  idempotent: boolean;
  attempt: number;
  resends: number;
  settled: boolean;
  resolve(reply: RawReply): void;
  reject(err: unknown): void;
}

export class WriteBatcher {
  readonly #send: SendBatch;
  readonly #budget: RequestBudget;
  readonly #maxItems: number;
  readonly #lingerMs: number;
  readonly #throttleRetries: number;
  readonly #maxRetryAfterMs: number;
  readonly #resendRetries: number;
  readonly #resendRetryBaseMs: number;
  readonly #random: () => number;
  #pending: Entry[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Items waiting out a Retry-After or a backoff before they are sent again. */
  readonly #waits = new Map<NodeJS.Timeout, Entry>();
  #closed = false;

  constructor(send: SendBatch, budget: RequestBudget, options: BatcherOptions = {}, random = Math.random) {
    this.#send = send;
    this.#budget = budget;
    this.#maxItems = Math.max(1, Math.min(20, options.maxItems ?? 20));
    this.#lingerMs = Math.max(0, options.lingerMs ?? 5);
    this.#throttleRetries = Math.max(0, options.throttleRetries ?? 3);
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
    this.#resendRetries = Math.max(0, options.resendRetries ?? 3);
    this.#resendRetryBaseMs = Math.max(0, options.resendRetryBaseMs ?? 50);
    this.#random = random;
  }

  /** Resolves with the item's reply (any status); rejects when the whole batch failed or the signal aborted. */
  submit(item: BatchItem, options: SubmitOptions = {}): Promise<RawReply> {
    const { signal } = options;
    return new Promise<RawReply>((resolve, reject) => {
      const entry: Entry = { item, signal, idempotent: options.idempotent ?? false, attempt: 0, resends: 0, settled: false, resolve, reject };
      const onAbort = () => this.#settle(entry, () => reject(signal!.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.resolve = (r) => { signal?.removeEventListener('abort', onAbort); resolve(r); };
      entry.reject = (e) => { signal?.removeEventListener('abort', onAbort); reject(e); };
      this.#admit(entry);
    });
  }

  /** Rejects whatever has not been sent yet, items waiting to be sent again included. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const t of this.#waits.keys()) clearTimeout(t);
    const left = [...this.#waits.values(), ...this.#pending];
    this.#waits.clear();
    this.#pending = [];
    for (const e of left) this.#settle(e, () => e.reject(new Error('the Entra connector was closed')));
  }

  /** Takes the item's write from the budget, then queues it for the next batch. */
  #admit(entry: Entry): void {
    this.#budget.take(1, entry.signal).then(
      () => {
        if (entry.settled) return;
        if (this.#closed) return this.#settle(entry, () => entry.reject(new Error('the Entra connector was closed')));
        this.#pending.push(entry);
        if (this.#pending.length >= this.#maxItems) this.#flush();
        else this.#timer ??= setTimeout(() => this.#flush(), this.#lingerMs);
      },
      (err) => this.#settle(entry, () => entry.reject(err)),
    );
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // #admit flushes the moment a batch is full, so the open batch is all of #pending.
    const entries = this.#pending.filter((e) => !e.settled);
    this.#pending = [];
    if (!entries.length) return;
    this.#send(entries.map((e) => e.item)).then(
      (replies) => entries.forEach((e, i) => this.#handle(e, replies[i]!)),
      (err: SyncError) => {
        // A lost `$batch` reply (timeout, reset, unreadable body, 5xx): each item may have landed.
        const lost = errorKind(err) === 'transient' && err.code !== 'ABORTED';
        const hintMs = hintOf((err as { nextRetryDelayMs?: number }).nextRetryDelayMs);
        for (const e of entries) {
          if (isThrottledError(err)) this.#handle(e, throttledReply(err.retryAfterMs));
          else if (!(lost && this.#resend(e, hintMs))) this.#settle(e, () => e.reject(err));
        }
      },
    );
  }

  #handle(entry: Entry, reply: RawReply): void {
    if (AMBIGUOUS.has(reply.status) && this.#resend(entry, hintOf(retryAfterMs(reply.headers, -1)))) return;
    // 429 and 503 say Graph did not act on the item: sending it again cannot apply it twice.
    if ((reply.status !== 429 && reply.status !== 503) || entry.attempt >= this.#throttleRetries) return this.#settle(entry, () => entry.resolve(reply));
    const waitMs = retryAfterMs(reply.headers, reply.status === 503 ? 100 : 1000);
    if (waitMs > this.#maxRetryAfterMs) return this.#settle(entry, () => entry.resolve(reply));
    entry.attempt++;
    this.#readmitAfter(entry, waitMs);
  }

  /** Sends an idempotent item again after a failure that may have applied it; false when that is not for here. */
  #resend(entry: Entry, hintMs: number | undefined): boolean {
    if (!entry.idempotent || entry.resends >= this.#resendRetries) return false;
    const waitMs = hintMs ?? computeBackoff(entry.resends + 1, { baseMs: this.#resendRetryBaseMs, maxMs: Infinity }, undefined, this.#random);
    if (waitMs > this.#maxRetryAfterMs) return false;
    entry.resends++;
    this.#readmitAfter(entry, waitMs);
    return true;
  }

  #readmitAfter(entry: Entry, waitMs: number): void {
    // The reply of a batch in flight at close() arrives after it: nothing is sent any more.
    if (this.#closed) return this.#settle(entry, () => entry.reject(new Error('the Entra connector was closed')));
    const timer = setTimeout(() => {
      this.#waits.delete(timer);
      if (!entry.settled) this.#admit(entry);
    }, waitMs);
    this.#waits.set(timer, entry);
  }

  #settle(entry: Entry, action: () => void): void {
    if (entry.settled) return;
    entry.settled = true;
    action();
  }
}

// A negative fallback from retryAfterMs means "no Retry-After": back off on our own then.
const hintOf = (ms: number | undefined) => (ms === undefined || ms < 0 ? undefined : ms);

/** A whole batch answered 429: each item is treated as if it had been. */
function throttledReply(ms: number): RawReply {
  const headers = { 'Retry-After': String(ms / 1000) };
  const json = { error: { code: 'TooManyRequests', message: 'Please retry again later.' } };
  return { status: 429, headers, text: JSON.stringify(json), contentType: 'application/json', json, malformed: false };
}
