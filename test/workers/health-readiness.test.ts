// The health server and the runtime's Prometheus metrics, each on its own: the server is real
// (an ephemeral local port) in front of stand-in workers whose running state and quarantine a
// test sets, a stand-in Redis that answers, fails or hangs, and a registry that may throw; the
// metrics are a real prom-client registry, reading real queues on Redis under a prefix of the
// test's own. What is pinned: each route's status, headers and body, when /readyz says ready,
// the listen errors, and each metric's name, help, labels and buckets, and what is read at scrape.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { startHealthServer } from '../../workers/runtime/health.js';
import { RuntimeMetrics } from '../../workers/runtime/metrics.js';
import { PROCESS_METRICS } from '../../workers/runtime/process-metrics.js';
import type { QuarantineState } from '../../workers/runtime/quarantine.js';
import type { TargetWorker } from '../../workers/runtime/target-worker.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

interface StandIn {
  target: string;
  running: boolean;
  quarantine?: QuarantineState;
}

const asWorkers = (standIns: StandIn[]) =>
  standIns.map((s) => ({ target: s.target, isRunning: () => s.running, quarantine: { state: async () => s.quarantine } })) as unknown as TargetWorker[];

const answering = { ping: async () => 'PONG' } as unknown as Redis;

describe('the health server', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  const serve = async (options: { workers?: StandIn[]; redis?: Redis; registry?: Registry } = {}) => {
    server = await startHealthServer({ port: 0, host: '127.0.0.1', redis: options.redis ?? answering, workers: asWorkers(options.workers ?? []), registry: options.registry ?? new Registry() });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const readyz = async (url: string) => {
    const res = await fetch(`${url}/readyz`);
    return { status: res.status, body: await res.json() };
  };
  const quarantined: QuarantineState = { reason: '401 bad secret', since: 1 };

  it('answers /healthz with JSON that no cache keeps', async () => {
    const res = await fetch(`${await serve()}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe('{"status":"ok"}');
  });

  it('answers an unknown path with 404 in JSON', async () => {
    const res = await fetch(`${await serve()}/healthz/extra`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ error: 'not found' });
  });

  it('serves the registry\'s text under its own content type', async () => {
    const registry = { metrics: async () => 'idsync_up 1\n', contentType: 'application/openmetrics-text; version=1.0.0' } as unknown as Registry;
    const res = await fetch(`${await serve({ registry })}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe('idsync_up 1\n');
  });

  it('answers 500 with the message when a route throws', async () => {
    const registry = { metrics: async () => { throw new Error('collector broke'); }, contentType: 'text/plain' } as unknown as Registry;
    const res = await fetch(`${await serve({ registry })}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'collector broke' });
  });

  it('is ready with every worker running and none quarantined, and reports each target', async () => {
    const url = await serve({ workers: [{ target: 'crowd', running: true }, { target: 'entra', running: true }] });
    expect(await readyz(url)).toEqual({ status: 200, body: { status: 'ready', redis: 'ok', targets: { crowd: { running: true, quarantine: null }, entra: { running: true, quarantine: null } } } });
  });

  it('stays ready while only some of its targets are quarantined', async () => {
    const url = await serve({ workers: [{ target: 'crowd', running: true, quarantine: quarantined }, { target: 'entra', running: true }] });
    expect(await readyz(url)).toEqual({ status: 200, body: { status: 'ready', redis: 'ok', targets: { crowd: { running: true, quarantine: quarantined }, entra: { running: true, quarantine: null } } } });
  });

  it('is not ready once every target is quarantined', async () => {
    const url = await serve({ workers: [{ target: 'crowd', running: true, quarantine: quarantined }, { target: 'entra', running: true, quarantine: quarantined }] });
    expect(await readyz(url)).toMatchObject({ status: 503, body: { status: 'not-ready', redis: 'ok' } });
  });

  it('is not ready while any worker has stopped, even when another runs', async () => {
    const url = await serve({ workers: [{ target: 'crowd', running: false }, { target: 'entra', running: true }] });
    expect(await readyz(url)).toEqual({ status: 503, body: { status: 'not-ready', redis: 'ok', targets: { crowd: { running: false, quarantine: null }, entra: { running: true, quarantine: null } } } });
  });

  it('is ready with no target workers at all (an API-only process)', async () => {
    expect(await readyz(await serve())).toEqual({ status: 200, body: { status: 'ready', redis: 'ok', targets: {} } });
  });

  it('is not ready when Redis fails, and does not claim to know the quarantine', async () => {
    const failing = { ping: async () => { throw new Error('ECONNREFUSED'); } } as unknown as Redis;
    const url = await serve({ redis: failing, workers: [{ target: 'crowd', running: true, quarantine: quarantined }] });
    expect(await readyz(url)).toEqual({ status: 503, body: { status: 'not-ready', redis: 'unreachable', targets: { crowd: { running: true, quarantine: 'unknown' } } } });
  });

  it('is not ready when Redis does not answer within a second', async () => {
    const hanging = { ping: () => new Promise(() => undefined) } as unknown as Redis;
    const url = await serve({ redis: hanging, workers: [{ target: 'crowd', running: true }] });
    expect(await readyz(url)).toEqual({ status: 503, body: { status: 'not-ready', redis: 'unreachable', targets: { crowd: { running: true, quarantine: 'unknown' } } } });
  });

  it('listens on every interface unless told a host', async () => {
    server = await startHealthServer({ port: 0, redis: answering, workers: [], registry: new Registry() });
    expect((server.address() as AddressInfo).address).toBe('0.0.0.0');
  });

  it('passes on a listen error other than a taken port as it is', async () => {
    const err = (await startHealthServer({ port: 0, host: '203.0.113.7', redis: answering, workers: [], registry: new Registry() }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('EADDRNOTAVAIL');
    expect(err.message).not.toMatch(/IDSYNC_HEALTH_PORT/);
  });
});

describe('the runtime metrics', () => {
  let redis: Redis;
  let prefix: string;
  beforeEach(() => {
    redis = workerRedis();
    prefix = uniquePrefix('metrics');
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('registers the job metrics with their help, labels and buckets, and the process-wide ones', async () => {
    const metrics = new RuntimeMetrics();
    metrics.outcomes.inc({ target: 'crowd', job: 'push-user', operation: 'create', status: 'succeeded' });
    metrics.duration.observe({ target: 'crowd', job: 'push-user' }, 0.2);
    metrics.latency.observe({ target: 'crowd' }, 2);
    const json = await metrics.registry.getMetricsAsJSON();
    const byName = Object.fromEntries(json.map((m) => [m.name, m]));
    expect(Object.keys(byName).sort()).toEqual(['idsync_event_to_apply_seconds', 'idsync_job_attempts_total', 'idsync_job_duration_seconds', ...PROCESS_METRICS.map((m) => (m as unknown as { name: string }).name)].sort());
    expect(byName.idsync_job_attempts_total).toMatchObject({ type: 'counter', help: 'Job attempts by target, job name, operation and outcome status', values: [{ value: 1, labels: { target: 'crowd', job: 'push-user', operation: 'create', status: 'succeeded' } }] });
    expect(byName.idsync_job_duration_seconds).toMatchObject({ type: 'histogram', help: 'Time from job start to outcome' });
    expect(byName.idsync_event_to_apply_seconds).toMatchObject({ type: 'histogram', help: 'Time from enqueue to a successful remote write' });
    const bounds = (name: string) => (byName[name]!.values as { labels: Record<string, unknown>; metricName?: string }[])
      .filter((v) => v.metricName?.endsWith('_bucket')).map((v) => v.labels.le);
    expect(bounds('idsync_job_duration_seconds')).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, '+Inf']);
    expect(bounds('idsync_event_to_apply_seconds')).toEqual([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, '+Inf']);
    const text = await metrics.registry.metrics();
    expect(text).toContain('idsync_job_duration_seconds_bucket{le="0.25",target="crowd",job="push-user"} 1');
    expect(text).toContain('idsync_event_to_apply_seconds_bucket{le="5",target="crowd"} 1');
  });

  it('adds the process\'s default metrics only when asked', async () => {
    const names = async (m: RuntimeMetrics) => (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    expect(await names(new RuntimeMetrics())).not.toContain('process_cpu_user_seconds_total');
    expect(await names(new RuntimeMetrics({ defaultMetrics: false }))).not.toContain('process_cpu_user_seconds_total');
    expect(await names(new RuntimeMetrics({ defaultMetrics: true }))).toContain('process_cpu_user_seconds_total');
  });

  it('reads every watched queue by state, and each target\'s quarantine, at scrape time', async () => {
    const crowd = new Queue('crowd', { connection: redis, prefix });
    const app = new Queue('app', { connection: redis, prefix });
    try {
      const metrics = new RuntimeMetrics();
      let quarantined = { crowd: true, entra: false };
      metrics.watch([crowd, app], async () => quarantined);
      await crowd.add('push-user', {});
      await crowd.add('push-user', {}, { delay: 60_000 });
      await app.add('apply-user', {}, { priority: 5 });
      const text = await metrics.registry.metrics();
      expect(text).toContain('# HELP idsync_jobs Jobs by queue and state, read at scrape time');
      expect(text).toContain('# HELP idsync_quarantined 1 while a target is quarantined (misconfigured; its queue paused), else 0');
      const jobs = text.split('\n').filter((l) => l.startsWith('idsync_jobs{'));
      expect(jobs.sort()).toEqual([
        'idsync_jobs{queue="app",state="active"} 0', 'idsync_jobs{queue="app",state="completed"} 0', 'idsync_jobs{queue="app",state="delayed"} 0',
        'idsync_jobs{queue="app",state="failed"} 0', 'idsync_jobs{queue="app",state="prioritized"} 1', 'idsync_jobs{queue="app",state="waiting"} 0',
        'idsync_jobs{queue="crowd",state="active"} 0', 'idsync_jobs{queue="crowd",state="completed"} 0', 'idsync_jobs{queue="crowd",state="delayed"} 1',
        'idsync_jobs{queue="crowd",state="failed"} 0', 'idsync_jobs{queue="crowd",state="prioritized"} 0', 'idsync_jobs{queue="crowd",state="waiting"} 1',
      ]);
      expect(text).toContain('idsync_quarantined{target="crowd"} 1');
      expect(text).toContain('idsync_quarantined{target="entra"} 0');
      quarantined = { crowd: false, entra: true };
      const again = await metrics.registry.metrics();
      expect(again).toContain('idsync_quarantined{target="crowd"} 0');
      expect(again).toContain('idsync_quarantined{target="entra"} 1');
    } finally {
      await crowd.close();
      await app.close();
    }
  });
});
