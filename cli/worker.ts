import { loadConfig, type Env } from '../shared/config.js';
import { TARGETS, type Target } from '../shared/jobs.js';
import { createLogger } from '../shared/logger.js';
import { createRedis, whenReady } from '../shared/redis.js';
import { createConnectors } from '../workers/connectors.js';
import { closeOnSignals, startRuntime } from '../workers/runtime/runtime.js';

/** `idsync worker [target...]`: runs the workers of the given (or all configured) targets. */
export async function runWorkers(targets: string[], env: Env = process.env): Promise<void> {
  const unknown = targets.filter((t) => !(TARGETS as readonly string[]).includes(t));
  if (unknown.length) throw new Error(`unknown target ${unknown.join(', ')}; expected one of ${TARGETS.join(', ')}`);
  const config = loadConfig(targets.length ? { ...env, IDSYNC_TARGETS: targets.join(',') } : env);
  const logger = createLogger(config.log);
  if (config.targets.length === 0) logger.warn('no targets configured: set CROWD_* and/or ENTRA_* variables (see README)');
  // One connection for queues, links, audit and the connectors' request budgets; BullMQ
  // opens its own blocking connection beside it.
  const redis = createRedis(config.redisUrl, 'worker');
  redis.on('error', (err) => logger.error({ err }, 'redis error'));
  await whenReady(redis);
  const connectors = await createConnectors(config, { redis, logger });
  const runtime = await startRuntime({ config, connection: redis, connectors, logger });
  closeOnSignals({ close: () => runtime.close().finally(() => redis.disconnect()) }, logger);
  logger.info({ targets: config.targets as Target[], health: runtime.healthUrl }, 'idsync workers running');
}
