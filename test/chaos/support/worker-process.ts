import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface WorkerProcess {
  readonly pid: number;
  /** Every line it wrote, stdout and stderr, in order (JSON log lines at the chosen level). */
  readonly lines: readonly string[];
  /** SIGKILL: no shutdown, no lock released, nothing flushed. */
  kill9(): Promise<void>;
  /** SIGTERM, as an orchestrator stops it; resolves with its exit code. */
  stop(): Promise<number | null>;
}

/**
 * `idsync worker <names>` from source in a process of its own, configured by `env` only (every
 * inherited idsync setting is dropped first); resolves once it logs that its workers run.
 */
export async function startWorkerProcess(names: string[], env: Record<string, string>): Promise<WorkerProcess> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CROWD|ENTRA|GRAPH|APP|IDSYNC|SYNC|REDIS)_/.test(k)));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/idsync.ts', 'worker', ...names], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...inherited, IDSYNC_LOG_FORMAT: 'json', IDSYNC_LOG_LEVEL: 'info', IDSYNC_HEALTH_PORT: '0', ...env },
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = new Promise<void>((resolve, reject) => {
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        lines.push(line);
        if (line.includes('"idsync workers running"')) resolve();
      });
    }
    void exited.then((code) => reject(new Error(`idsync worker exited with ${code} before it was running:\n${lines.slice(-20).join('\n')}`)));
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  try {
    await running;
  } catch (err) {
    if (alive()) child.kill('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid!,
    lines,
    async kill9() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
  };
}
