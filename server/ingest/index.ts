import type { FastifyInstance } from 'fastify';
import { createIngestAuth } from '../auth.js';
import { unauthorized } from '../errors.js';
import { parseJsonBody, rawBody, readRawBodies } from './body.js';
import type { IngestContext } from './context.js';
import { provisionRoutes } from './provision.js';
import { userRoutes } from './users.js';

export type { IngestContext } from './context.js';

export interface IngestPluginOptions {
  context: IngestContext;
  /** IDSYNC_INGEST_TOKEN */
  token?: string | undefined;
  /** IDSYNC_INGEST_SECRET */
  secret?: string | undefined;
  /** Largest accepted body in bytes (413 above). */
  bodyLimit: number;
}

/**
 * The ingest API, to register under `/api/v1`. Fastify encapsulates it: its raw-body parsing
 * and its credential check apply to these routes only, not to plugins registered beside it.
 *
 * Order per request: credentials (bearer, or a signed request's timestamp) before the body is
 * read; the body, up to the limit; the signature over the raw body; JSON; the route.
 */
export async function ingestPlugin(app: FastifyInstance, options: IngestPluginOptions): Promise<void> {
  const auth = createIngestAuth({ token: options.token, secret: options.secret });
  const signed = new WeakSet<object>();
  readRawBodies(app, options.bodyLimit);

  app.addHook('onRequest', async (request) => {
    const verdict = auth.check(request.headers);
    // The body is not read: close the connection after the answer rather than drain it.
    if (!verdict.ok) throw unauthorized(verdict.message, hasBody(request.headers) ? { Connection: 'close' } : {});
    if (verdict.signed) signed.add(request);
  });

  app.addHook('preValidation', async (request) => {
    if (signed.has(request)) {
      const verdict = auth.verifySignature(request.headers, rawBody(request));
      if (!verdict.ok) throw unauthorized(verdict.message);
    }
    request.body = parseJsonBody(request);
  });

  userRoutes(app, options.context);
  provisionRoutes(app, options.context);
}

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}
