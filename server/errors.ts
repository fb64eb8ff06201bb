import type { FastifyError, FastifyInstance } from 'fastify';
import { isValidationError, type ValidationIssue } from '../shared/errors.js';

/**
 * Every answer of the HTTP server is JSON, errors included. Error bodies carry a stable
 * `error` code and never a value from the request: a rejected password or e-mail must not
 * come back in a response (or a log line) just because it was invalid.
 */

/** An answer decided by the server itself, with its status, JSON body and extra headers. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly body: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(statusCode: number, body: Record<string, unknown> & { error: string }, headers: Record<string, string> = {}) {
    super(body.error);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.body = body;
    this.headers = headers;
  }
}

export const unauthorized = (message: string, headers: Record<string, string> = {}) =>
  new HttpError(401, { error: 'unauthorized', message }, { 'WWW-Authenticate': 'Bearer', ...headers });

/** Redis did not take the request; the client should try again (nothing of it was enqueued). */
export const unavailable = () => new HttpError(503, { error: 'unavailable' }, { 'Retry-After': '1' });

export const validationBody = (issues: readonly ValidationIssue[]) => ({ error: 'validation', issues: issues.map(({ path, message }) => ({ path, message })) });

export interface ErrorHandlingOptions {
  /** For the 413 answer, so callers learn the limit without reading the docs. */
  bodyLimit: number;
}

/** JSON error answers for the whole app (plugins registered later inherit them). */
export function installErrorHandling(app: FastifyInstance, options: ErrorHandlingOptions): void {
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not-found' }));
  app.setErrorHandler((err: FastifyError | HttpError, request, reply) => {
    if (isValidationError(err)) return reply.code(400).send(validationBody(err.issues));
    if (err instanceof HttpError) return reply.code(err.statusCode).headers(err.headers).send(err.body);
    const status = err.statusCode ?? 500;
    // The rest of the body is not read: close the connection after the answer rather than drain it.
    if (status === 413) return reply.code(413).header('Connection', 'close').send({ error: 'payload-too-large', limitBytes: options.bodyLimit });
    if (status === 415) return reply.code(415).send({ error: 'unsupported-media-type' });
    // Fastify's own 4xx (a malformed Content-Length, a bad URL): its message may quote the
    // request, so only the code goes out.
    if (status >= 400 && status < 500) return reply.code(status).send({ error: 'bad-request', code: (err as FastifyError).code });
    request.log.error({ err, method: request.method, url: request.routeOptions.url }, 'request failed');
    return reply.code(500).send({ error: 'internal' });
  });
}
