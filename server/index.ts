import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { IdsyncConfig } from '../shared/config.js';
import { keyId, parseKey } from '../shared/crypto.js';
import type { Logger } from '../shared/logger.js';
import { createRedis } from '../shared/redis.js';
import { createSyncClient } from '../producers/client.js';
import { dashboardPlugin } from './dashboard/index.js';
import { installErrorHandling } from './errors.js';
import { IdempotencyStore } from './idempotency.js';
import { ingestPlugin } from './ingest/index.js';

export { signIngestRequest } from './auth.js';

/** Largest ingest body; a user snapshot is a few KiB, 5,000 groups about 150 KiB. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

export interface HttpAppOptions {
  config: IdsyncConfig;
  logger: Logger;
  /**
   * A producer connection to share (`createRedis(url, 'producer')`: fail-fast, so a request
   * hears 503 instead of waiting); the server then does not close it.
   * @defaultValue a connection of its own to `config.redisUrl`
   */
  connection?: Redis;
  /**
   * The text of the key `config.keyring` was made from (the client library takes keys as
   * text). @defaultValue `IDSYNC_SECRET_KEY` of this process, when it is that key
   */
  secretKey?: string;
  /** @defaultValue DEFAULT_BODY_LIMIT (256 KiB) */
  bodyLimit?: number;
}

export interface HttpServerOptions extends HttpAppOptions {
  /** @defaultValue `config.http.port` (IDSYNC_HTTP_PORT); 0 = a free port */
  port?: number;
  /** @defaultValue '0.0.0.0' */
  host?: string;
}

export interface HttpServer {
  /** Where it listens, e.g. `http://127.0.0.1:8080`. */
  url: string;
  app: FastifyInstance;
  /** Stops listening, lets requests in flight finish, closes the client (and its own Redis connection). */
  close(): Promise<void>;
}

/**
 * The Fastify instance with the ingest API under `/api/v1` and the dashboard, not listening yet, so more
 * plugins (the dashboard) can be registered on it before `listen`. JSON errors (404 included)
 * are set at the root and apply to them too. One client library instance serves every request;
 * `app.close()` closes it (and the Redis connection the app opened itself).
 */
export function buildHttpApp(options: HttpAppOptions): FastifyInstance {
  const { config, logger } = options;
  if (!config.targets.length) {
    throw new Error('the ingest API needs at least one target: set IDSYNC_TARGETS or the CROWD_* / ENTRA_* settings');
  }
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const secretKey = passwordKeyText(config, options.secretKey);
  const { ingestToken: token, ingestSecret: secret } = config.http;

  // A short disconnect timeout: closing while Redis is away would otherwise hold a 2 s timer
  // on the dead socket and keep an embedding process alive that long.
  const redis = options.connection ?? createRedis(config.redisUrl, 'producer', { disconnectTimeout: 200 });
  const ownsConnection = !options.connection;
  // One line when Redis goes away and one when it is back, not one per reconnect attempt.
  let down = false;
  const onError = (err: Error) => {
    if (!down) logger.warn({ err }, 'ingest: Redis is unreachable; answering 503 until it is back');
    down = true;
  };
  const onReady = () => {
    if (down) logger.info('ingest: Redis is reachable again');
    down = false;
  };
  redis.on('error', onError).on('ready', onReady);

  let client;
  try {
    client = createSyncClient({
      connection: redis,
      prefix: config.prefix,
      targets: config.targets,
      ...(secretKey && { secretKey }),
      attempts: config.jobs.attempts,
      backoffMs: config.jobs.backoffMs,
      passwordTtlMs: config.jobs.passwordTtlMs,
    });
  } catch (err) {
    redis.off('error', onError).off('ready', onReady);
    if (ownsConnection) redis.on('error', () => undefined).disconnect();
    throw err;
  }

  const app = Fastify({
    // As Fastify's own logger type, so the instance is a plain FastifyInstance for plugins.
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's own request lines would log every request at info; ours (below) say less.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // User ids may be 256 characters, percent-encoded up to three times as long.
    routerOptions: { maxParamLength: 1024 },
  });
  installErrorHandling(app, { bodyLimit });
  app.addHook('onResponse', async (request, reply) => {
    const status = reply.statusCode;
    // Method, path and status only: never headers (credentials) or bodies (passwords).
    request.log[status >= 500 ? 'warn' : status >= 400 ? 'info' : 'debug']({ method: request.method, url: request.url, status, ms: Math.round(reply.elapsedTime) }, 'http request');
  });
  app.addHook('onClose', async () => {
    await client.close();
    redis.off('error', onError).off('ready', onReady);
    if (!ownsConnection) return;
    // A close during the connect handshake still emits an error; nobody is left to hear it.
    redis.on('error', () => undefined);
    redis.disconnect();
  });

  if (!token && !secret) {
    logger.warn('ingest API disabled: every request is refused with 401. Set IDSYNC_INGEST_TOKEN (Authorization: Bearer) and/or IDSYNC_INGEST_SECRET (HMAC-signed requests) to enable it; see docs/ingest-api.md');
  }
  const idempotency = new IdempotencyStore({ redis, prefix: config.prefix, hashKey: secret ?? token ?? '' });
  app.register(ingestPlugin, {
    prefix: '/api/v1',
    token,
    secret,
    bodyLimit,
    context: { client, redis, idempotency, logger, targets: config.targets, passwordsEnabled: secretKey !== undefined },
  });
  // The operator dashboard (pages, /dashboard/api, bull-board at /queues), behind a login with
  // IDSYNC_ADMIN_TOKEN; without one there is nothing to log in with, so it is not served at all.
  if (config.http.adminToken) app.register(dashboardPlugin, { config, logger, redis, adminToken: config.http.adminToken });
  else logger.info('dashboard off: set IDSYNC_ADMIN_TOKEN (at least 24 characters) to serve it');
  return app;
}

/** `buildHttpApp`, listening. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const app = buildHttpApp(options);
  const host = options.host ?? '0.0.0.0';
  try {
    await app.listen({ port: options.port ?? options.config.http.port, host });
  } catch (err) {
    await app.close();
    throw err;
  }
  const { port } = app.server.address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shown}:${port}`;
  let closing: Promise<void> | undefined;
  return { url, app, close: () => (closing ??= app.close()) };
}

/** The key text for the client, checked against `config.keyring`; undefined = passwords off. */
function passwordKeyText(config: IdsyncConfig, given: string | undefined): string | undefined {
  if (!config.keyring) return undefined;
  for (const text of [given, process.env.IDSYNC_SECRET_KEY]) {
    if (text && keyId(parseKey(text)) === config.keyring.currentKeyId) return text;
  }
  throw new Error('pass secretKey: the IDSYNC_SECRET_KEY text that config.keyring was made from (the client library takes the key as text)');
}
