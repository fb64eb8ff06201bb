/**
 * Wall clock plus a settable offset, so tests can age tokens, delta state and deleted
 * items without sleeping. `scale` shrinks Graph's own durations (quota windows, the 7-day
 * delta token life, the 30-day deleted-items retention) while keeping their ratios.
 */
export class Clock {
  private offsetMs = 0;

  constructor(readonly scale: number) {
    if (!(scale > 0)) throw new Error('timeScale must be > 0');
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  reset(): void {
    this.offsetMs = 0;
  }

  /** A Graph duration (in Graph's seconds) as emulator milliseconds. */
  scaled(graphSeconds: number): number {
    return graphSeconds * 1000 * this.scale;
  }
}
