import type { SyncProgress } from '../../shared/jobs.js';

/**
 * Progress in users with an ETA from the rate so far, reported at most every
 * `intervalMs` (a job's progress is a Redis write and an event per update).
 */
export class ProgressReporter {
  readonly #report: (p: SyncProgress) => Promise<void> | void;
  readonly #intervalMs: number;
  #phase: SyncProgress['phase'] = 'listing';
  #started = Date.now();
  #last = 0;
  #done = 0;
  #total: number | undefined;
  #target: SyncProgress['target'];

  constructor(report: (p: SyncProgress) => Promise<void> | void, options: { intervalMs?: number } = {}) {
    this.#report = report;
    this.#intervalMs = options.intervalMs ?? 500;
  }

  phase(phase: SyncProgress['phase'], total?: number, target?: SyncProgress['target']): Promise<void> {
    this.#phase = phase;
    this.#total = total;
    this.#done = 0;
    this.#started = Date.now();
    if (target) this.#target = target;
    return this.#emit(true);
  }

  add(n: number): Promise<void> {
    this.#done += n;
    return this.#emit(false);
  }

  get snapshot(): SyncProgress {
    const elapsed = Date.now() - this.#started;
    const left = this.#total === undefined ? undefined : Math.max(0, this.#total - this.#done);
    const etaMs = left !== undefined && this.#done > 0 ? Math.round((elapsed / this.#done) * left) : undefined;
    return { phase: this.#phase, done: this.#done, ...(this.#total !== undefined && { total: this.#total }), ...(etaMs !== undefined && { etaMs }), ...(this.#target && { target: this.#target }) };
  }

  async #emit(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && now - this.#last < this.#intervalMs) return;
    this.#last = now;
    await this.#report(this.snapshot);
  }
}
