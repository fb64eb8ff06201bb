import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { IdsyncConfig } from '../../shared/config.js';
import { QUEUES } from '../../shared/jobs.js';
import { startHealthServer } from './health.js';
import { RuntimeMetrics } from './metrics.js';

/**
 * /healthz, /readyz and /metrics for a process that runs no target worker (`idsync server`,
 * `idsync scheduler`), so every idsync process can be scraped and probed the same way.
 */
export async function startProcessHealth(config: IdsyncConfig, redis: Redis): Promise<{ url: string; close(): Promise<void> }> {
  const metrics = new RuntimeMetrics({ defaultMetrics: true });
  const queues = Object.values(QUEUES).map((name) => new Queue(name, { connection: redis, prefix: config.prefix }));
  metrics.watch(queues, async () => {
    const states = await Promise.all(config.targets.map((t) => redis.exists(`${config.prefix}:quarantine:${t}`)));
    return Object.fromEntries(config.targets.map((t, i) => [t, states[i] === 1]));
  });
  const server: Server = await startHealthServer({ port: config.healthPort, redis, workers: [], registry: metrics.registry });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
