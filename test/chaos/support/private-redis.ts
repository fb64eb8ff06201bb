import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** True when this machine can start its own redis-server (chaos tests never touch the shared one). */
export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** SIGKILL: nothing flushed beyond what `appendfsync always` already wrote. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory (the AOF is replayed). */
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Extra redis-server arguments, e.g. `['--cluster-enabled', 'yes']`. */
  args?: string[];
  port?: number;
}

/**
 * A redis-server of the test's own, on a free port, with every write in the AOF before the
 * reply (`appendfsync always`), so "acknowledged means durable" holds across a kill -9.
 */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'idsync-chaos-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  async function start(): Promise<void> {
    child = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction',
      ...(options.args ?? []),
    ], { stdio: 'ignore' });
    const proc = child;
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    await waitUntilAnswering(url, proc);
  }

  async function kill(): Promise<void> {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  await start();
  return {
    url,
    port,
    dir,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilAnswering(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      // Loading the AOF answers LOADING: wait until it serves commands.
      await probe.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      // Start-up of a child process: there is no event to wait on, so poll briefly.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
}
