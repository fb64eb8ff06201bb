import { loadConfig, type Env } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { createRedis, whenReady } from '../shared/redis.js';
import { startScheduler } from '../producers/scheduler/index.js';
import { startProcessHealth } from '../workers/runtime/process-health.js';
import { closeOnSignals } from '../workers/runtime/runtime.js';

/**
 * `idsync scheduler`: enqueues the nightly full syncs and the incremental pulls. Run as many
 * replicas as you like; each slot is enqueued once.
 */
export async function runScheduler(env: Env = process.env): Promise<void> {
  const config = loadConfig(env);
  const logger = createLogger(config.log);
  if (config.targets.length === 0) logger.warn('no targets configured: nothing to schedule (see README)');
  // A producer (fail-fast) connection: ioredis still reconnects after a Redis restart, but a
  // tick while Redis is away fails at once instead of queueing in memory. Queued ticks would
  // all run on reconnect (one job per missed 15-minute slot); instead the scheduler catches up
  // on reconnect with the latest missed slot only, exactly as after its own downtime.
  const redis = createRedis(config.redisUrl, 'producer');
  redis.on('error', (err) => logger.warn({ err }, 'redis error'));
  await whenReady(redis);
  const scheduler = await startScheduler({
    connection: redis,
    prefix: config.prefix,
    targets: config.targets,
    sync: config.sync,
    logger,
    attempts: config.jobs.attempts,
    backoffMs: config.jobs.backoffMs,
  });
  const health = await startProcessHealth(config, redis);
  closeOnSignals({ close: () => Promise.all([scheduler.close(), health.close()]).then(() => undefined).finally(() => redis.disconnect()) }, logger);
  const next = scheduler.nextSlots().map((s) => ({ schedule: s.name, at: s.at.toISOString() }));
  logger.info({ timezone: config.sync.timezone, next, health: health.url }, 'idsync scheduler running');
}
