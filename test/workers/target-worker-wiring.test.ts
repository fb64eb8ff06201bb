// How a target worker and the runtime are put together, on real Redis under a prefix of each
// test's own, with real BullMQ queues and workers around the scripted fake connector. What is
// pinned: the options each Worker is given (queue, prefix, name, concurrency, limiter, autorun,
// backoff, stall settings) by default and from the configuration, the queues a job reaches
// (its target's, and the app queue a pull hands on to), the authority passed to the processor,
// the quarantine's probe, the error listeners, isRunning(), and what close() closes, on time and
// past its timeout; then startRuntime(): one worker per configured target, the missing-connector
// error, the health server switch, and close() closing workers, connectors and server once.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import { STALL_DEFAULTS, loadConfig, type Env } from '../../shared/config.js';
import { ConfigurationError, TransientError } from '../../shared/errors.js';
import { BACKOFF_TYPE, JOB_NAMES, QUEUES, SCHEMA_VERSION, type RemoteUser, type Target } from '../../shared/jobs.js';
import { LinkStore } from '../../shared/links.js';
import { silentLogger } from '../../shared/logger.js';
import { RuntimeMetrics } from '../../workers/runtime/metrics.js';
import { closeOnSignals, startRuntime, type Runtime } from '../../workers/runtime/runtime.js';
import { TargetWorker, type TargetWorkerOptions } from '../../workers/runtime/target-worker.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { capturingLogger } from '../helpers/logs.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

let redis: Redis;
let prefix: string;
let logs: ReturnType<typeof capturingLogger>;
const closers: (() => Promise<unknown>)[] = [];

beforeEach(() => {
  redis = workerRedis();
  prefix = uniquePrefix('wiring');
  logs = capturingLogger();
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

const logLines = () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown> & { level: number; msg: string });
const pushData = (id: string) => ({ schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), op: 'upsert', user: { id, username: `user-${id}`, email: `${id}@example.com`, active: true, version: 1 } });

/** The fake, able to read a remote user as sync sources do: a push reads it when the target owns a field. */
class ReadingConnector extends FakeConnector {
  readonly reads: string[] = [];
  async readUser(idOrName: string): Promise<RemoteUser | null> {
    this.reads.push(idOrName);
    return { target: this.target, remoteId: idOrName, username: 'remote-name', email: 'remote@example.com', active: true };
  }
  async appUsername(remote: RemoteUser): Promise<string> {
    return remote.username;
  }
}

const linkU1 = (target: Target) => new LinkStore(redis, prefix).update(target, 'u1', { remoteId: 'r-u1', remoteName: 'user-u1' });

function queueOf(name: string): Queue {
  const q = new Queue(name, { connection: redis, prefix });
  closers.push(() => q.close());
  return q;
}

async function eventsOf(name: string): Promise<QueueEvents> {
  // From the stream's start: the reader is ready before its first XREAD, and the prefix is fresh.
  const events = new QueueEvents(name, { connection: { url: REDIS_URL }, prefix, lastEventId: '0-0' });
  closers.push(() => events.close());
  await events.waitUntilReady();
  return events;
}

function targetWorker(connector: FakeConnector, options: Partial<TargetWorkerOptions> = {}): TargetWorker {
  const w = new TargetWorker({
    connector, connection: redis, prefix, links: new LinkStore(redis, prefix), audit: new AuditLog(redis, prefix),
    keyring: undefined, logger: logs.logger, metrics: new RuntimeMetrics(), ...options,
  });
  closers.push(() => w.close(1000));
  return w;
}

// The backoff strategy is synchronous; BullMQ's type also allows a promise.
const between = (value: number | Promise<number>, low: number, high: number) => {
  expect(value).toBeGreaterThanOrEqual(low);
  expect(value).toBeLessThanOrEqual(high);
};

describe('a target worker', () => {
  it('works its target\'s queue under the prefix with the documented defaults', async () => {
    const w = targetWorker(new FakeConnector('entra'));
    await w.start();
    expect(w.target).toBe('entra');
    expect(w.queue.name).toBe('entra');
    expect(w.queue.opts.prefix).toBe(prefix);
    expect(w.worker.name).toBe('entra');
    expect(w.worker.opts).toMatchObject({
      prefix, name: `entra-${process.pid}`, concurrency: 20, limiter: { max: 100_000, duration: 1000 }, autorun: true,
      lockDuration: STALL_DEFAULTS.lockDurationMs, stalledInterval: STALL_DEFAULTS.stalledIntervalMs, maxStalledCount: STALL_DEFAULTS.maxStalledCount,
    });
    expect(w.isRunning()).toBe(true);
    // Equal jitter from 1 s, capped at 5 min.
    const backoff = w.worker.opts.settings!.backoffStrategy!;
    between(backoff(1, BACKOFF_TYPE, undefined, undefined), 500, 1000);
    between(backoff(30, BACKOFF_TYPE, undefined, undefined), 150_000, 300_000);
  });

  it('takes concurrency, rate, autorun, backoff and stall settings from its options', async () => {
    const w = targetWorker(new FakeConnector('crowd'), {
      concurrency: 3, jobsPerSecond: 7, autorun: false, backoffMs: 400, maxBackoffMs: 1000, stalls: { lockDurationMs: 40_000, stalledIntervalMs: 12_000, maxStalledCount: 2 },
    });
    await w.start();
    expect(w.worker.opts).toMatchObject({ name: `crowd-${process.pid}`, concurrency: 3, limiter: { max: 7, duration: 1000 }, autorun: false, lockDuration: 40_000, stalledInterval: 12_000, maxStalledCount: 2 });
    expect(w.isRunning()).toBe(false);
    const backoff = w.worker.opts.settings!.backoffStrategy!;
    between(backoff(1, BACKOFF_TYPE, undefined, undefined), 200, 400);
    between(backoff(20, BACKOFF_TYPE, undefined, undefined), 500, 1000);
  });

  it('applies a job added to its queue, and hands a pull on to the app queue under the same prefix', async () => {
    const connector = new FakeConnector('crowd');
    connector.users.set('p1', { ...pushData('p1').user });
    const crowd = queueOf(QUEUES.crowd);
    const events = await eventsOf(QUEUES.crowd);
    const w = targetWorker(connector, { backoffMs: 10 });
    await w.start();
    const push = await crowd.add(JOB_NAMES.pushUser, pushData('u1'));
    await expect(push.waitUntilFinished(events, 10_000)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
    const pull = await crowd.add(JOB_NAMES.pullUser, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), user: { id: 'p1' }, mode: 'pull' }, { attempts: 4 });
    await expect(pull.waitUntilFinished(events, 10_000)).resolves.toMatchObject({ outcome: 'applied', operation: 'pull' });
    const [handed] = await queueOf(QUEUES.app).getJobs(['waiting']);
    expect(handed).toMatchObject({ name: JOB_NAMES.applyUser, data: { appUserId: 'p1', source: 'crowd', action: 'pull' }, opts: { attempts: 4 } });
  });

  it('reads the remote first when the target owns an attribute it pushes', async () => {
    const connector = new ReadingConnector('crowd');
    await linkU1('crowd');
    const crowd = queueOf(QUEUES.crowd);
    const events = await eventsOf(QUEUES.crowd);
    const w = targetWorker(connector, { authority: { ...Object.fromEntries(['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'roles', 'attributes', 'photo'].map((f) => [f, 'app'])), email: 'target' } as TargetWorkerOptions['authority'] });
    await w.start();
    const push = await crowd.add(JOB_NAMES.pushUser, pushData('u1'));
    await push.waitUntilFinished(events, 10_000);
    expect(connector.reads).toEqual(['r-u1']);
    expect(connector.users.get('u1')?.email).toBe('remote@example.com');
  });

  it('pushes without reading the remote when no authority is given', async () => {
    const connector = new ReadingConnector('crowd');
    await linkU1('crowd');
    const crowd = queueOf(QUEUES.crowd);
    const events = await eventsOf(QUEUES.crowd);
    const w = targetWorker(connector);
    await w.start();
    await (await crowd.add(JOB_NAMES.pushUser, pushData('u1'))).waitUntilFinished(events, 10_000);
    expect(connector.reads).toEqual([]);
    expect(connector.users.get('u1')?.email).toBe('u1@example.com');
  });

  it('quarantines on a configuration error and probes the connector until it answers', async () => {
    const connector = new FakeConnector('entra');
    connector.probeError = new ConfigurationError('401 bad secret');
    connector.then(() => { throw new ConfigurationError('401 bad secret'); });
    const entra = queueOf(QUEUES.entra);
    const events = await eventsOf(QUEUES.entra);
    const w = targetWorker(connector, { quarantineProbeMs: 20 });
    await w.start();
    const job = await entra.add(JOB_NAMES.pushUser, pushData('u1'), { attempts: 3 });
    expect((await waitFor(() => w.quarantine.state())).reason).toBe('401 bad secret');
    await waitFor(() => connector.probes >= 1);
    connector.probeError = undefined;
    await expect(job.waitUntilFinished(events, 10_000)).resolves.toMatchObject({ outcome: 'applied' });
  });

  it('resumes probing a quarantine an earlier process left, at its probe interval', async () => {
    const connector = new FakeConnector('crowd');
    await redis.set(`${prefix}:quarantine:crowd`, JSON.stringify({ reason: 'left over', since: Date.now() }));
    const w = targetWorker(connector, { quarantineProbeMs: 20 });
    await w.start();
    await waitFor(() => connector.probes >= 1);
    await waitFor(async () => !(await w.quarantine.state()));
  });

  it('logs worker and queue errors with its target bound', async () => {
    const w = targetWorker(new FakeConnector('crowd'));
    await w.start();
    w.worker.emit('error', new Error('worker broke'));
    w.queue.emit('error', new Error('queue broke'));
    expect(logLines().filter((l) => l.level === 50).map((l) => [l.msg, l.target, (l.err as { message: string }).message])).toEqual([
      ['worker error', 'crowd', 'worker broke'],
      ['queue error', 'crowd', 'queue broke'],
    ]);
  });

  it('is no longer running from the moment close() is called, and closes once', async () => {
    const w = targetWorker(new FakeConnector('crowd'));
    await w.start();
    const closing = w.close();
    expect(w.isRunning()).toBe(false);
    expect(w.close(5)).toBe(closing);
    await closing;
    expect(w.worker.isRunning()).toBe(false);
    expect(w.queue.closing).toBeDefined();
    // On time: nothing released, nothing said about a timeout.
    expect(logLines().map((l) => l.msg)).not.toContain('shutdown timeout: releasing active jobs back to the queue');
  });

  it('lets an active job finish when it ends before the timeout', async () => {
    const connector = new FakeConnector('crowd');
    let release!: () => void;
    const started = new Promise<void>((resolve) => {
      connector.then(() => new Promise<void>((done) => {
        release = done;
        resolve();
      }));
    });
    const crowd = queueOf(QUEUES.crowd);
    const w = targetWorker(connector);
    await w.start();
    const job = await crowd.add(JOB_NAMES.pushUser, pushData('u1'), { attempts: 3 });
    await started;
    const closing = w.close(10_000);
    release();
    await closing;
    expect(await (await Job.fromId(crowd, job.id!))!.getState()).toBe('completed');
  });

  it('past its timeout, aborts the active job and releases it to wait without using an attempt', async () => {
    const connector = new FakeConnector('crowd');
    const started = new Promise<void>((resolve) => {
      connector.then((_call, ctx) => new Promise((_resolve, reject) => {
        ctx.abortSignal.addEventListener('abort', () => reject(new TransientError('aborted')));
        resolve();
      }));
    });
    const crowd = queueOf(QUEUES.crowd);
    const audit = new AuditLog(redis, prefix);
    const w = targetWorker(connector, { audit, backoffMs: 10 });
    await w.start();
    const job = await crowd.add(JOB_NAMES.pushUser, pushData('u1'), { attempts: 3, backoff: { type: BACKOFF_TYPE, delay: 10 } });
    await started;
    await w.close(30);
    const released = (await Job.fromId(crowd, job.id!))!;
    expect(await released.getState()).toBe('waiting');
    expect(released.attemptsMade).toBe(0);
    expect(logLines().find((l) => l.msg === 'shutdown timeout: releasing active jobs back to the queue')).toMatchObject({ level: 40, timeoutMs: 30, target: 'crowd' });
    const [entry] = await audit.query({ subject: 'u1' });
    expect(entry).toMatchObject({ status: 'retrying', error: 'released on shutdown: aborted' });
  });
});

const CROWD = { CROWD_URL: 'http://127.0.0.1:9/crowd/', CROWD_APP_NAME: 'idsync', CROWD_APP_PASSWORD: 'not-used' };
const ENTRA = { ENTRA_TENANT_ID: 'tenant', ENTRA_CLIENT_ID: 'client', ENTRA_CLIENT_SECRET: 'not-used' };

/** A fake connector that counts close() calls, as the real ones release their HTTP agents there. */
class ClosingConnector extends ReadingConnector {
  closed = 0;
  async close(): Promise<void> {
    this.closed++;
  }
}

describe('the runtime', () => {
  let crowd: ClosingConnector;
  let entra: ClosingConnector;
  beforeEach(() => {
    crowd = new ClosingConnector('crowd');
    entra = new ClosingConnector('entra');
  });
  const config = (env: Env = {}) => loadConfig({ REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_LOG_LEVEL: 'silent', IDSYNC_HEALTH_PORT: '0', ...CROWD, ...ENTRA, ...env });
  const run = async (env: Env = {}, health: { healthServer?: boolean } = { healthServer: false }): Promise<Runtime> => {
    const runtime = await startRuntime({ config: config(env), connectors: { crowd, entra }, logger: logs.logger, connection: redis, ...health });
    closers.push(() => runtime.close());
    return runtime;
  };

  it('starts one worker per configured target, each with its target\'s settings from the configuration', async () => {
    const runtime = await run({
      CROWD_CONCURRENCY: '3', CROWD_JOBS_PER_SECOND: '7', ENTRA_CONCURRENCY: '4', IDSYNC_BACKOFF_MS: '400', IDSYNC_MAX_BACKOFF_MS: '1000',
      IDSYNC_LOCK_DURATION_MS: '40000', IDSYNC_STALLED_INTERVAL_MS: '12000', IDSYNC_MAX_STALLED_COUNT: '2',
    });
    expect(runtime.workers.map((w) => w.target)).toEqual(['crowd', 'entra']);
    const [c, e] = runtime.workers.map((w) => w.worker.opts);
    expect(c).toMatchObject({ prefix, concurrency: 3, limiter: { max: 7, duration: 1000 }, lockDuration: 40_000, stalledInterval: 12_000, maxStalledCount: 2 });
    // The Crowd rate is Crowd's alone.
    expect(e).toMatchObject({ prefix, concurrency: 4, limiter: { max: 100_000, duration: 1000 }, lockDuration: 40_000 });
    for (const w of runtime.workers) {
      between(w.worker.opts.settings!.backoffStrategy!(1, BACKOFF_TYPE, undefined, undefined), 200, 400);
      between(w.worker.opts.settings!.backoffStrategy!(20, BACKOFF_TYPE, undefined, undefined), 500, 1000);
      expect(w.isRunning()).toBe(true);
    }
    expect(runtime.healthUrl).toBeUndefined();
    expect(logLines().filter((l) => l.msg === 'worker started').map((l) => [l.target, l.concurrency])).toEqual([['crowd', 3], ['entra', 4]]);
  });

  it('gives each worker its target\'s authority, links, audit log and probe interval', async () => {
    await linkU1('entra');
    await linkU1('crowd');
    const runtime = await run({ SYNC_AUTHORITY_ENTRA: '{"email":"target"}', IDSYNC_QUARANTINE_PROBE_MS: '20' });
    const entraQueue = queueOf(QUEUES.entra);
    const crowdQueue = queueOf(QUEUES.crowd);
    const [entraEvents, crowdEvents] = [await eventsOf(QUEUES.entra), await eventsOf(QUEUES.crowd)];
    await (await entraQueue.add(JOB_NAMES.pushUser, pushData('u1'))).waitUntilFinished(entraEvents, 10_000);
    await (await crowdQueue.add(JOB_NAMES.pushUser, pushData('u1'))).waitUntilFinished(crowdEvents, 10_000);
    expect(entra.reads).toEqual(['r-u1']);
    expect(crowd.reads).toEqual([]);
    expect(await new LinkStore(redis, prefix).get('crowd', 'u1')).toMatchObject({ remoteId: 'remote-u1', version: 1 });
    expect((await new AuditLog(redis, prefix).query({ subject: 'u1', target: 'entra' }))[0]).toMatchObject({ status: 'succeeded', target: 'entra' });
    await runtime.workers[1]!.quarantine.enter('401 bad secret');
    await waitFor(() => entra.probes >= 1);
  });

  it('refuses to start a configured target without a connector, naming it', async () => {
    await expect(startRuntime({ config: config(), connectors: { crowd }, logger: silentLogger, connection: redis, healthServer: false })).rejects.toThrow('no connector for target "entra"');
  });

  it('serves health on a local URL by default', async () => {
    await queueOf(QUEUES.sync).add(JOB_NAMES.fullSync, {});
    const runtime = await run({}, {});
    expect(runtime.healthUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${runtime.healthUrl}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${runtime.healthUrl}/metrics`)).text();
    // Every queue of the cluster, this process's or not, and each of its targets' quarantine.
    for (const q of ['crowd', 'entra', 'app']) expect(metrics).toContain(`idsync_jobs{queue="${q}",state="waiting"} 0`);
    expect(metrics).toContain('idsync_jobs{queue="sync",state="waiting"} 1');
    expect(metrics).toContain('idsync_quarantined{target="crowd"} 0');
    expect(metrics).toContain('idsync_quarantined{target="entra"} 0');
    // The process's own numbers too.
    expect(metrics).toContain('process_cpu_user_seconds_total');
  });

  it('closes its workers, the connectors and the health server once, and leaves a shared connection open', async () => {
    const runtime = await run({}, { healthServer: true });
    const url = runtime.healthUrl!;
    const closing = runtime.close();
    expect(runtime.close()).toBe(closing);
    await closing;
    for (const w of runtime.workers) {
      expect(w.isRunning()).toBe(false);
      expect(w.worker.isRunning()).toBe(false);
      expect(w.queue.closing).toBeDefined();
    }
    expect([crowd.closed, entra.closed]).toEqual([1, 1]);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(await redis.ping()).toBe('PONG');
  });

  it('opens and closes a connection of its own when given none', async () => {
    const runtime = await startRuntime({ config: config(), connectors: { crowd, entra }, logger: logs.logger, healthServer: false });
    const queue = queueOf(QUEUES.crowd);
    const events = await eventsOf(QUEUES.crowd);
    await (await queue.add(JOB_NAMES.pushUser, pushData('own'))).waitUntilFinished(events, 10_000);
    const own = runtime.workers[0]!.queue.opts.connection as Redis;
    expect(own).not.toBe(redis);
    expect(own.status).toBe('ready');
    const ended = new Promise((resolve) => own.once('end', resolve));
    await runtime.close();
    await ended;
    expect(own.status).toBe('end');
    expect([crowd.closed, entra.closed]).toEqual([1, 1]);
    expect(runtime.workers.every((w) => !w.isRunning())).toBe(true);
  });

  it('closes connectors that have no close() of their own without complaint', async () => {
    const bare = new ReadingConnector('crowd');
    const runtime = await startRuntime({ config: loadConfig({ REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_LOG_LEVEL: 'silent', ...CROWD }), connectors: { crowd: bare, entra: undefined }, logger: silentLogger, connection: redis, healthServer: false });
    await expect(runtime.close()).resolves.toBeUndefined();
    expect(runtime.workers.map((w) => [w.target, w.isRunning()])).toEqual([['crowd', false]]);
  });
});

describe('closing on signals', () => {
  const added = new Map<NodeJS.Signals, ((...args: unknown[]) => void)[]>();
  let exits: Promise<number>;
  beforeEach(() => {
    exits = new Promise((resolve) => {
      jest.spyOn(process, 'exit').mockImplementation(((code?: number) => resolve(code ?? 0)) as typeof process.exit);
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    for (const [signal, listeners] of added) for (const l of listeners) process.removeListener(signal, l);
    added.clear();
  });

  /** Registers the handlers and hands back the ones it added, so no real signal is ever raised. */
  const register = (runtime: { close(): Promise<void> }) => {
    const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
    closeOnSignals(runtime, logs.logger);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) added.set(signal, process.listeners(signal).filter((l) => !before[signal].includes(l)) as ((...args: unknown[]) => void)[]);
    return (signal: NodeJS.Signals) => {
      const [handler] = added.get(signal)!;
      expect(handler).toBeDefined();
      handler!(signal);
    };
  };

  it('closes the runtime once on SIGTERM, then exits 0', async () => {
    let closes = 0;
    const raise = register({ close: async () => void closes++ });
    raise('SIGTERM');
    raise('SIGINT');
    expect(await exits).toBe(0);
    expect(closes).toBe(1);
    expect(logLines().filter((l) => l.msg === 'shutting down: no new jobs; waiting for active ones').map((l) => [l.level, l.signal])).toEqual([[30, 'SIGTERM']]);
  });

  it('closes on SIGINT too, and exits 1 when closing fails, saying why', async () => {
    const raise = register({ close: async () => { throw new Error('redis gone'); } });
    raise('SIGINT');
    expect(await exits).toBe(1);
    expect(logLines().find((l) => l.msg === 'shutdown failed')).toMatchObject({ level: 50, err: { message: 'redis gone' } });
  });
});
