import { loadConfig, type Env } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { startHttpServer, type HttpServer } from '../server/index.js';
import { createRedis } from '../shared/redis.js';
import { startProcessHealth } from '../workers/runtime/process-health.js';
import { closeOnSignals } from '../workers/runtime/runtime.js';

/**
 * `idsync server`: the HTTP ingest API (docs/ingest-api.md) on IDSYNC_HTTP_PORT, for
 * applications that are not written in Node. Stateless: run as many replicas as you like.
 * SIGTERM / SIGINT stop listening, let requests in flight finish, then exit.
 */
export async function runServer(env: Env = process.env): Promise<HttpServer> {
  const config = loadConfig(env);
  const logger = createLogger(config.log);
  const server = await startHttpServer({ config, logger, ...(env.IDSYNC_SECRET_KEY && { secretKey: env.IDSYNC_SECRET_KEY }) });
  // Its own connection for probes and scrapes: the server's is fail-fast and may be down.
  const redis = createRedis(config.redisUrl, 'worker');
  redis.on('error', () => undefined);
  const health = await startProcessHealth(config, redis);
  closeOnSignals({ close: () => Promise.all([server.close(), health.close()]).then(() => redis.disconnect()) }, logger);
  logger.info({ http: server.url, health: health.url }, 'idsync server running');
  return server;
}
