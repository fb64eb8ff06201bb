import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { loadConfig } from '../../shared/config.js';
import { startHealthServer } from '../../workers/runtime/health.js';
import { silentLogger } from '../../shared/logger.js';
import { startRuntime, type Runtime } from '../../workers/runtime/runtime.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

describe('runtime health endpoints', () => {
  const redis = workerRedis();
  const prefix = uniquePrefix('health');
  let runtime: Runtime;
  beforeAll(async () => {
    const config = loadConfig({
      REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_HEALTH_PORT: '0',
      CROWD_URL: 'http://127.0.0.1:9/crowd/', CROWD_APP_NAME: 'idsync', CROWD_APP_PASSWORD: 'not-used',
    });
    runtime = await startRuntime({ config, connectors: { crowd: new FakeConnector('crowd') }, logger: silentLogger });
  });
  afterAll(async () => {
    await runtime.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('answers /healthz, /readyz with each target, and /metrics', async () => {
    expect(await (await fetch(`${runtime.healthUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${runtime.healthUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', redis: 'ok', targets: { crowd: { running: true, quarantine: null } } });
    const metrics = await (await fetch(`${runtime.healthUrl}/metrics`)).text();
    expect(metrics).toContain('idsync_job_attempts_total');
    // Read from Redis at scrape time: every queue and state, and each target's quarantine.
    expect(metrics).toMatch(/idsync_jobs\{queue="crowd",state="waiting"\} 0/);
    expect(metrics).toMatch(/idsync_jobs\{queue="app",state="failed"\} 0/);
    expect(metrics).toMatch(/idsync_quarantined\{target="crowd"\} 0/);
    for (const name of ['idsync_remote_calls_total', 'idsync_throttle_events_total', 'idsync_budget_requests_total', 'idsync_plan_entries']) expect(metrics).toContain(name);
  });

  it('is not ready while every target it runs is quarantined, and says why', async () => {
    await runtime.workers[0]!.quarantine.enter('401 Application failed to authenticate');
    const ready = await fetch(`${runtime.healthUrl}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { targets: { crowd: { quarantine: { reason: string } } } };
    expect(body.targets.crowd.quarantine.reason).toMatch(/401/);
    expect(await (await fetch(`${runtime.healthUrl}/metrics`)).text()).toMatch(/idsync_quarantined\{target="crowd"\} 1/);
  });

  it('is not ready once its workers are closed', async () => {
    await runtime.workers[0]!.close(100);
    expect((await fetch(`${runtime.healthUrl}/readyz`)).status).toBe(503);
  });
});

describe('health server port', () => {
  it('names IDSYNC_HEALTH_PORT in one line when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    const redis = workerRedis();
    try {
      const err = (await startHealthServer({ port, host: '127.0.0.1', redis, workers: [], registry: new Registry() }).catch((e) => e)) as Error;
      expect(err.message).toBe(`IDSYNC_HEALTH_PORT: port ${port} is already in use (another idsync running?); set IDSYNC_HEALTH_PORT to a free port, or 0 for any`);
    } finally {
      taken.close();
      await redis.quit();
    }
  });
});
