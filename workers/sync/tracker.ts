import type { Queue, QueueEvents } from 'bullmq';

export interface Tally {
  succeeded: number;
  skipped: number;
  failed: number;
}

type Outcome = keyof Tally;

const EARLY_CAP = 50_000;

/**
 * Waits for jobs that bulk work enqueued (provisioning, plan apply), through the queue's
 * event stream, so progress is counted in finished users. A job may finish before it is
 * tracked, so recent outcomes are remembered; a job that is gone without an event (removed,
 * or replaced by a coalesced one) is settled by an occasional state check.
 */
export class JobTracker {
  readonly #queue: Queue;
  readonly #events: QueueEvents;
  readonly #pending = new Map<string, (o: Outcome) => void>();
  readonly #early = new Map<string, Outcome>();
  readonly #onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => this.#settle(jobId, outcomeOf(returnvalue));
  readonly #onFailed = ({ jobId }: { jobId: string }) => void this.#failedFinally(jobId);

  constructor(queue: Queue, events: QueueEvents) {
    this.#queue = queue;
    this.#events = events;
    events.on('completed', this.#onCompleted);
    events.on('failed', this.#onFailed);
  }

  /** Resolves once every job has finished; `onSettled` sees each one as it does. */
  async wait(jobIds: readonly string[], onSettled: (outcome: Outcome) => void, options: { checkEveryMs?: number; abortSignal?: AbortSignal } = {}): Promise<Tally> {
    const tally: Tally = { succeeded: 0, skipped: 0, failed: 0 };
    const waits = [...new Set(jobIds)].map(
      (id) =>
        new Promise<void>((resolve) => {
          const done = (o: Outcome) => {
            tally[o] += 1;
            onSettled(o);
            resolve();
          };
          const early = this.#early.get(id);
          if (early) {
            this.#early.delete(id);
            done(early);
          } else this.#pending.set(id, done);
        }),
    );
    const timer = setInterval(() => void this.#sweep(), options.checkEveryMs ?? 2000);
    // Shutdown stops the wait, not the jobs: they run on, and a re-run picks the plan up again.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      const signal = options.abortSignal;
      if (!signal) return;
      onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([Promise.all(waits), aborted]);
    } finally {
      clearInterval(timer);
      if (onAbort) options.abortSignal?.removeEventListener('abort', onAbort);
      for (const id of jobIds) this.#pending.delete(id);
    }
    return tally;
  }

  close(): void {
    this.#events.off('completed', this.#onCompleted);
    this.#events.off('failed', this.#onFailed);
  }

  #settle(jobId: string, outcome: Outcome): void {
    const done = this.#pending.get(jobId);
    if (done) {
      this.#pending.delete(jobId);
      done(outcome);
      return;
    }
    if (this.#early.size >= EARLY_CAP) this.#early.delete(this.#early.keys().next().value!);
    this.#early.set(jobId, outcome);
  }

  // `failed` fires on every failed attempt; only a job left in the failed set is done.
  async #failedFinally(jobId: string): Promise<void> {
    const state = await this.#queue.getJobState(jobId).catch(() => 'unknown');
    if (state === 'failed') this.#settle(jobId, 'failed');
  }

  async #sweep(): Promise<void> {
    try {
      for (const id of [...this.#pending.keys()].slice(0, 200)) {
        const job = await this.#queue.getJob(id);
        if (!job) this.#settle(id, 'skipped');
        else if (job.finishedOn && job.failedReason && (await job.getState()) === 'failed') this.#settle(id, 'failed');
        else if (job.finishedOn && (await job.getState()) === 'completed') this.#settle(id, outcomeOf(job.returnvalue));
      }
    } catch {
      // A read that failed (Redis unreachable) says nothing about the job: it is not counted
      // as gone, and the next check looks again.
    }
  }
}

function outcomeOf(returnvalue: unknown): Outcome {
  let v = returnvalue;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return 'succeeded';
    }
  }
  return (v as { outcome?: unknown } | null)?.outcome === 'skipped' ? 'skipped' : 'succeeded';
}
