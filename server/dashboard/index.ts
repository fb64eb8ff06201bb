import cookie from '@fastify/cookie';
import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Redis } from 'ioredis';
import type { IdsyncConfig } from '../../shared/config.js';
import { QUEUES } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import { PlanStore } from '../../workers/sync/plan-store.js';
import { registerApi } from './api.js';
import { protect, registerLogin } from './auth.js';
import { isApi, type DashboardContext } from './context.js';
import { CSS, html, page } from './html.js';
import { registerOpsPages } from './pages-ops.js';
import { registerPlanPages } from './pages-plans.js';
import { BULL_BOARD_PATH, registerBullBoard } from './queues.js';
import { SessionStore } from './sessions.js';

export interface DashboardOptions {
  config: IdsyncConfig;
  logger: Logger;
  /** The app's Redis connection (the caller closes it). */
  redis: Redis;
  /** IDSYNC_ADMIN_TOKEN: what the login page asks for. */
  adminToken: string;
}

/** Form bodies are small: a token, a CSRF token, a page's worth of job ids. */
const FORM_LIMIT = 64 * 1024;

// Our pages need nothing inline; bull-board's page has inline styles and a <base href>.
const CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const CSP_BULL_BOARD = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/**
 * The operator dashboard: server-rendered pages at /, JSON under /dashboard/api, bull-board at
 * /queues, all behind a login with IDSYNC_ADMIN_TOKEN. Registered in a scope of its own, so
 * its cookie parsing, form parser and hooks do not touch the ingest API.
 */
export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const { config, logger, redis } = options;
  // Made on first use: a BullMQ Queue writes its meta key when created, and a server nobody
  // approves a plan on should leave Redis as it found it.
  let syncQueue: Queue | undefined;
  const getSyncQueue = () => {
    if (!syncQueue) (syncQueue = new Queue(QUEUES.sync, { connection: redis, prefix: config.prefix })).on('error', () => undefined);
    return syncQueue;
  };
  app.addHook('onClose', async () => syncQueue?.close());
  const ctx: DashboardContext = { config, logger, redis, prefix: config.prefix, sessions: new SessionStore(redis, config.prefix), plans: new PlanStore(redis, config.prefix), syncQueue: getSyncQueue };

  await app.register(cookie);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_request, body, done) => {
    // Repeated fields (jobId) become arrays; everything else stays a string.
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(body as string)) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    done(null, out);
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('Content-Security-Policy', request.url.startsWith(BULL_BOARD_PATH) ? CSP_BULL_BOARD : CSP);
    reply.header('X-Frame-Options', 'DENY').header('Referrer-Policy', 'same-origin').header('X-Content-Type-Options', 'nosniff');
    // Pages show user data: keep them out of shared and back-button caches.
    if (!request.url.startsWith(`${BULL_BOARD_PATH}/static`) && request.url !== '/dashboard.css') reply.header('Cache-Control', 'no-store');
  });

  app.get('/dashboard.css', async (_request, reply) => reply.type('text/css').header('Cache-Control', 'max-age=3600').send(CSS));
  registerLogin(app, ctx, options.adminToken);
  await app.register(async (scope) => {
    protect(scope, ctx);
    scope.setErrorHandler(errorHandler);
    registerOpsPages(scope, ctx);
    registerPlanPages(scope, ctx);
    registerApi(scope, ctx);
    await registerBullBoard(scope, redis, config.prefix);
  });
};

/** Pages answer an HTML error page, APIs JSON; neither carries more than a generic message. */
function errorHandler(this: FastifyInstance, err: Error & { statusCode?: number }, request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status === 500) request.log.error({ err, method: request.method, url: request.routeOptions.url }, 'dashboard request failed');
  if (isApi(request.url)) return reply.code(status).send({ error: status === 500 ? 'internal' : 'bad-request' });
  const text = status === 500 ? 'Something went wrong reading Redis or the queues; the server log has the details. Try again in a moment.' : 'The request could not be read.';
  return reply.code(status).type('text/html').send(page({ title: 'Error', path: '', csrf: null, body: html`<p class="error">${text}</p><p><a href="/">Dashboard</a></p>` }));
}
