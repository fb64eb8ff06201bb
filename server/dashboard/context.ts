import type { Queue } from 'bullmq';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { IdsyncConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import type { PlanStore } from '../../workers/sync/plan-store.js';
import type { Session, SessionStore } from './sessions.js';

/** What every dashboard route works with; one of each per app. */
export interface DashboardContext {
  config: IdsyncConfig;
  logger: Logger;
  /** The app's producer connection (fail-fast: a page errors instead of hanging when Redis is away). */
  redis: Redis;
  prefix: string;
  sessions: SessionStore;
  plans: PlanStore;
  /** Where an approved plan's apply job goes. */
  syncQueue: () => Queue;
}

// Set by the session check before any protected handler runs.
const sessionByRequest = new WeakMap<FastifyRequest, Session>();

export const setSession = (request: FastifyRequest, session: Session) => sessionByRequest.set(request, session);

export function sessionOf(request: FastifyRequest): Session {
  const session = sessionByRequest.get(request);
  if (!session) throw new Error('route registered outside the session check');
  return session;
}

/** JSON APIs answer 401/403 with JSON; pages redirect or render HTML. */
export const isApi = (url: string) => url.startsWith('/dashboard/api/') || url.startsWith('/queues/api/');

/** A form field or query parameter as one string (the first, when repeated). */
export function field(source: unknown, name: string): string | undefined {
  const v = (source as Record<string, unknown> | undefined)?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' && first !== '' ? first : undefined;
}

/** Every value of a repeated form field. */
export function fields(source: unknown, name: string): string[] {
  const v = (source as Record<string, unknown> | undefined)?.[name];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string' && x !== '');
}
