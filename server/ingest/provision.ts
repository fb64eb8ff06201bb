import type { FastifyInstance } from 'fastify';
import { accept } from './accept.js';
import type { IngestContext } from './context.js';
import { provisionInput } from './input.js';

/** `/provision`: the client library's provision; answers with the `sync` job, not its result. */
export function provisionRoutes(app: FastifyInstance, ctx: IngestContext): void {
  app.post('/provision', (request, reply) => {
    const { scope, direction, targets } = provisionInput(request.body, ctx.targets);
    return accept(ctx, request, reply, async () => {
      const run = await ctx.client.provision(scope, { direction, ...(targets && { targets }) });
      return [{ target: run.target, jobId: run.jobId }];
    });
  });
}
