import type { FastifyInstance } from 'fastify';
import { traceUser } from '../../operators/trace.js';
import { field, fields, sessionOf, type DashboardContext } from './context.js';
import { approve, failed, failedQuery, reject, replay, status, unresolvedMatches } from './data.js';

/**
 * The same reads and actions as JSON under /dashboard/api, for scripts holding a session
 * cookie. Mutations take the session's CSRF token in `X-CSRF-Token`; `GET
 * /dashboard/api/session` hands it out.
 */
export function registerApi(app: FastifyInstance, ctx: DashboardContext): void {
  app.get('/dashboard/api/session', async (request) => ({ csrfToken: sessionOf(request).csrf }));
  app.get('/dashboard/api/status', async () => status(ctx));

  app.get('/dashboard/api/failed', async (request, reply) => {
    const q = failedQuery(request.query);
    if (q.errors.length) return reply.code(400).send({ error: 'validation', issues: q.errors.map((message) => ({ message })) });
    return failed(ctx, q.filter);
  });

  app.post('/dashboard/api/failed/replay', async (request, reply) => {
    const body = request.body as { jobIds?: unknown } | undefined;
    const ids = Array.isArray(body?.jobIds) ? body.jobIds.filter((x): x is string => typeof x === 'string') : fields(body, 'jobId');
    if (!ids.length) return reply.code(400).send({ error: 'validation', issues: [{ path: 'jobIds', message: 'name at least one job (queue/jobId)' }] });
    return replay(ctx, ids);
  });

  app.get('/dashboard/api/plans', async () => ctx.plans.list({ limit: 50 }));
  app.get<{ Params: { id: string } }>('/dashboard/api/plans/:id', async (request, reply) => {
    const plan = await ctx.plans.get(request.params.id);
    if (!plan) return reply.code(404).send({ error: 'not-found' });
    const offset = Math.max(0, Number(field(request.query, 'offset') ?? 0) || 0);
    return { plan, entries: await ctx.plans.entries(plan.id, offset, 500), entryCount: await ctx.plans.entryCount(plan.id) };
  });
  for (const [verb, act] of [['approve', approve], ['reject', reject]] as const) {
    app.post<{ Params: { id: string } }>(`/dashboard/api/plans/:id/${verb}`, async (request, reply) => {
      try {
        return await act(ctx, request.params.id);
      } catch (err) {
        // approvePlan / rejectPlan refuse with a message saying why (unknown plan, wrong status).
        return reply.code(409).send({ error: 'conflict', message: (err as Error).message });
      }
    });
  }
  app.get('/dashboard/api/matches', async () => {
    const { matches } = await unresolvedMatches(ctx);
    return matches.map(({ plan, entry }) => ({ planId: plan.id, target: plan.target, ...entry }));
  });
  app.get('/dashboard/api/trace', async (request, reply) => {
    const user = field(request.query, 'user');
    if (!user) return reply.code(400).send({ error: 'validation', issues: [{ path: 'user', message: 'required' }] });
    return traceUser({ redis: ctx.redis, prefix: ctx.prefix }, user, ctx.config.targets.length ? { targets: ctx.config.targets } : {});
  });
}
