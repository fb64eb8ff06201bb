import cliProgress from 'cli-progress';

export interface CounterBar {
  update(done: number, total: number): void;
  stop(): void;
}

/** A plain counter bar (jobs done of total) on stderr, only on a terminal and never in `--json` output. */
export function counterBar(enabled: boolean, label: string): CounterBar {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} jobs`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, done);
      started = true;
      bar.setTotal(total);
      bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}
