import cliProgress from 'cli-progress';
import type { SyncProgress } from '../shared/jobs.js';

export interface ProgressBar {
  update(p: SyncProgress): void;
  stop(): void;
}

/** A progress bar in users with an ETA, on stderr and only on a terminal (never in `--json` output). */
export function progressBar(enabled: boolean): ProgressBar {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: '{phase} {target} [{bar}] {value}/{total} users | ETA {eta_formatted}', stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      // While a phase is still counting, the total grows with what has been seen.
      const total = p.total ?? Math.max(p.done, 1);
      const payload = { phase: p.phase, target: p.target ?? '' };
      if (!started) bar.start(total, p.done, payload);
      started = true;
      bar.setTotal(total);
      bar.update(p.done, payload);
    },
    stop: () => started && bar.stop(),
  };
}
