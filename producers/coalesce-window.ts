/**
 * Per-user throttle windows of one client: a user's first event goes out at once and opens a
 * window of `windowMs`; further events for that user inside the window are added delayed until
 * it ends, so they merge into one trailing job (newest snapshot wins) instead of one remote
 * write each.
 *
 * Kept in the process, not in Redis: deciding the delay costs no round trip, so enqueueing is
 * as cheap as without coalescing. Across processes the queue does the rest: a job that follows
 * a running one waits a window too (see push-merge.ts), and anything added meanwhile merges into it.
 */
export class CoalesceWindows {
  /** user id → end of its window (ms since the epoch). */
  private readonly ends = new Map<string, number>();
  private nextSweep = 0;

  /** `windowMs` 0 turns coalescing off: every event is added without delay. */
  constructor(readonly windowMs: number) {}

  /** The delay for an event of this user now: 0 opens a window, else the time left in it. */
  delayFor(userId: string, now = Date.now()): number {
    if (this.windowMs <= 0) return 0;
    this.sweep(now);
    const end = this.ends.get(userId);
    if (end !== undefined && end > now) return end - now;
    this.ends.set(userId, now + this.windowMs);
    return 0;
  }

  // Only users with an event in the last window are held: expired entries go at most once per window.
  private sweep(now: number) {
    if (now < this.nextSweep) return;
    this.nextSweep = now + this.windowMs;
    for (const [id, end] of this.ends) if (end <= now) this.ends.delete(id);
  }
}
