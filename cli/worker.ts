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
  // Request budgets get their own connection: their scripts run on every remote call and
  // must not queue behind BullMQ's blocking commands.
  const budgets = createRedis(config.redisUrl, 'worker');
  budgets.on('error', (err) => logger.error({ err }, 'redis error (request budgets)'));
  await whenReady(budgets);
  const runtime = await startRuntime({ config, connectors: await createConnectors(config, { redis: budgets, logger }), logger });
  closeOnSignals({ close: () => runtime.close().finally(() => budgets.disconnect()) }, logger);
  logger.info({ targets: config.targets as Target[], health: runtime.healthUrl }, 'idsync workers running');
}
