import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Env } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';

/** What `REDIS_URL` defaults to (shared/config.ts). */
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/**
 * Tests point the probe of the default elsewhere with this, so "nothing answers on the
 * default" can be tested beside a Redis that does answer on 6379. Not a setting.
 */
export const DEFAULT_REDIS_PROBE_VARIABLE = 'IDSYNC_DEFAULT_REDIS_URL_FOR_TESTS';
/** Where the private Redis keeps its append-only file, next to the rest of the zero-config state. */
export const PRIVATE_REDIS_DIR = '.idsync/redis';
const PREFERRED_PORT = 6380;

export interface RedisChoice {
  /** The URL everything in this process must use. */
  url: string;
  /** Stops the private Redis, when one was started; resolves at once otherwise. */
  stop(): Promise<void>;
}

/**
 * With `REDIS_URL` unset and nothing answering on its default, a newcomer's `idsync start`
 * would print one "redis error" line per reconnect forever. Instead: start a private
 * `redis-server` configured the way BullMQ wants it, or, when there is none, stop with one
 * line saying what to install or set. An explicit `REDIS_URL` is always used as given.
 */
export async function chooseRedis(env: Env, logger: Logger): Promise<RedisChoice> {
  const none = async () => undefined;
  if (env.REDIS_URL) return { url: env.REDIS_URL, stop: none };
  const fallback = env[DEFAULT_REDIS_PROBE_VARIABLE] || DEFAULT_REDIS_URL;
  if (await answers(fallback)) return { url: fallback, stop: none };
  const server = findOnPath('redis-server', env.PATH);
  if (!server) {
    throw new Error(`nothing answers on ${fallback} and redis-server is not installed: install it (apt-get install redis-server) or set REDIS_URL to a running Redis`);
  }
  const dir = resolve(PRIVATE_REDIS_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  refuseSecondServer(join(dir, 'redis.pid'));
  const port = await freePort(PREFERRED_PORT);
  const url = `redis://127.0.0.1:${port}`;
  const child = spawn(server, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    // BullMQ in production: every write in the AOF within a second, and never evict a job's keys.
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction', '--save', '',
    '--logfile', 'redis.log', '--pidfile', join(dir, 'redis.pid'), '--daemonize', 'no',
  ], {
    // Its own process group: a Ctrl-C in the terminal reaches idsync, which drains its jobs
    // and only then stops Redis, instead of Redis vanishing under the draining workers.
    detached: true,
    stdio: 'ignore',
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Never outlive this process, whatever way it ends.
  // SIGTERM, not SIGKILL: Redis still shuts down cleanly (AOF flushed, pid file removed).
  const killOnExit = () => child.exitCode === null && child.kill('SIGTERM');
  process.once('exit', killOnExit);
  try {
    await readyOrExited(url, child, exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; see ${join(dir, 'redis.log')}`);
  }
  logger.info({ redis: url, dir, pid: child.pid }, `nothing answers on ${fallback}: started a private redis-server on ${url} (AOF on, noeviction, data in ${PRIVATE_REDIS_DIR}); it stops with idsync`);
  return {
    url,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode !== null) return;
      // SIGTERM: Redis flushes the AOF and exits; a hung one is killed after a while.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** True when a Redis answers PING at the URL within a second, without retrying or logging. */
async function answers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function readyOrExited(url: string, child: ChildProcess, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the private redis-server exited at start with code ${child.exitCode}`);
    if (await answers(url)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the private redis-server did not answer within 10 s');
}

/**
 * Two servers on one append-only directory would corrupt it. One is left over only when an
 * earlier idsync was killed outright (SIGKILL); Redis removes its pid file on a clean stop.
 */
function refuseSecondServer(pidFile: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  try {
    if (pid > 0) process.kill(pid, 0);
  } catch {
    return; // not running any more
  }
  if (pid > 0) throw new Error(`a private redis-server from an earlier idsync start still runs (pid ${pid}, data in ${PRIVATE_REDIS_DIR}): stop it (kill ${pid}) or set REDIS_URL`);
}

function findOnPath(name: string, path = ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `preferred` when nothing listens on it, else any free port. */
async function freePort(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((done) => {
      const server = createServer();
      server.once('error', () => done(undefined));
      server.listen(port, '127.0.0.1', () => {
        const { port: bound } = server.address() as { port: number };
        server.close(() => done(bound));
      });
    });
  return (await tryListen(preferred)) ?? (await tryListen(0))!;
}
