import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { AuditLog } from '../../shared/audit.js';
import { LinkStore } from '../../shared/links.js';
import { silentLogger } from '../../shared/logger.js';
import { RuntimeMetrics } from '../../workers/runtime/metrics.js';
import { TargetWorker } from '../../workers/runtime/target-worker.js';

const redis = workerRedis();
afterAll(() => redis.quit());

function startWorkerProcess(prefix: string, shutdownTimeoutMs: number, holdMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/slow-worker.ts', prefix, String(shutdownTimeoutMs), String(holdMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const waitLine = (text: string) => new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => l === text && resolve());
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before printing ${text}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, waitLine, exited };
}

async function enqueueOne(prefix: string) {
  const queue = new Queue('crowd', { connection: redis, prefix });
  const job = await queue.add('push-user', {
    schemaVersion: 1, enqueuedAt: Date.now(), op: 'upsert',
    user: { id: 'u1', username: 'alice', email: 'alice@example.com', active: true, version: 1 },
  }, { attempts: 3, backoff: { type: 'idsync', delay: 10 } });
  return { queue, job };
}

describe('graceful shutdown', () => {
  let prefix: string;
  let child: ChildProcess | undefined;
  beforeEach(() => { prefix = uniquePrefix('shutdown'); });
  afterEach(async () => { child?.kill('SIGKILL'); await deletePrefix(redis, prefix); });

  it('SIGTERM lets an active job finish within the timeout', async () => {
    const w = startWorkerProcess(prefix, 10_000, 300);
    child = w.child;
    await w.waitLine('ready');
    const { queue, job } = await enqueueOne(prefix);
    await w.waitLine('job-started');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(await job.getState()).toBe('completed');
    await queue.close();
  });

  it('SIGTERM mid-job past the timeout releases the job, unharmed, for the next worker', async () => {
    const w = startWorkerProcess(prefix, 200, -1);
    child = w.child;
    await w.waitLine('ready');
    const { queue, job } = await enqueueOne(prefix);
    await w.waitLine('job-started');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    const released = await queue.getJob(job.id!);
    expect(await released!.getState()).toBe('waiting');
    expect(released!.attemptsMade).toBe(0);

    // A fresh worker on the same queue picks it up and applies it.
    const connector = new FakeConnector('crowd');
    const next = new TargetWorker({ connector, connection: redis, prefix, links: new LinkStore(redis, prefix), audit: new AuditLog(redis, prefix), keyring: undefined, logger: silentLogger, metrics: new RuntimeMetrics() });
    const done = new Promise((resolve) => next.worker.on('completed', resolve));
    await next.start();
    await done;
    expect(connector.calls.map((c) => c.userId)).toEqual(['u1']);
    await next.close();
    await queue.close();
  });
});
