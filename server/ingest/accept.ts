import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from '../../shared/logger.js';
import { isValidationError } from '../../shared/errors.js';
import { whenReady } from '../../shared/redis.js';
import type { Enqueued } from '../../producers/client-options.js';
import { HttpError, unavailable } from '../errors.js';
import { parseIdempotencyKey, type IdempotencyStore } from '../idempotency.js';
import { rawBody } from './body.js';

export interface AcceptContext {
  redis: Redis;
  idempotency: IdempotencyStore;
  logger: Logger;
}

/**
 * The one way an ingest route answers: with the Idempotency-Key honoured, the job(s)
 * enqueued, and 202 `{ jobs }` only after Redis accepted them. The route has validated its
 * input before calling this, so nothing here can fail half-way because of bad input.
 */
export async function accept(ctx: AcceptContext, request: FastifyRequest, reply: FastifyReply, enqueue: () => Promise<Enqueued[]>): Promise<FastifyReply> {
  const key = parseIdempotencyKey(request.headers['idempotency-key']);
  await redisUp(ctx.redis);

  let reservation;
  if (key !== undefined) {
    try {
      reservation = await ctx.idempotency.reserve(key, ctx.idempotency.bodyHash(request.method, request.url, rawBody(request)));
    } catch (err) {
      ctx.logger.warn({ err }, 'ingest: Redis refused the idempotency reservation');
      throw unavailable();
    }
    if (reservation.kind === 'replay') return reply.code(reservation.status).header('Idempotent-Replayed', 'true').send(reservation.body);
    if (reservation.kind === 'conflict') throw new HttpError(409, { error: 'idempotency-key-reused', message: 'this Idempotency-Key was used with another request body' });
    if (reservation.kind === 'in-progress') {
      throw new HttpError(409, { error: 'idempotency-key-in-progress', message: 'a request with this Idempotency-Key is still being processed' }, { 'Retry-After': '1' });
    }
  }

  let jobs: Enqueued[];
  try {
    jobs = await enqueue();
  } catch (err) {
    await reservation?.release().catch(() => undefined);
    if (isValidationError(err)) throw err;
    ctx.logger.warn({ err, method: request.method, url: request.url }, 'ingest: jobs not enqueued');
    throw unavailable();
  }
  const body = { jobs: jobs.map(({ target, jobId }) => ({ target, jobId })) };
  // The jobs are in: a failure to remember the answer must not turn it into an error (a retry
  // then enqueues again, which the per-user coalescing absorbs).
  await reservation?.complete(202, body).catch((err: unknown) => ctx.logger.warn({ err }, 'ingest: answer not stored for its Idempotency-Key'));
  return reply.code(202).send(body);
}

/** Fails fast while Redis is known to be away; waits briefly while it is (re)connecting. */
async function redisUp(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'connecting' || redis.status === 'connect') {
    await whenReady(redis, { timeoutMs: 2000, failOnError: true }).catch(() => {
      throw unavailable();
    });
    return;
  }
  throw unavailable();
}
