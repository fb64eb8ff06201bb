import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { OPERATOR_QUEUES } from '../../operators/operator-queues.js';
import { QUEUES } from '../../shared/jobs.js';

export const BULL_BOARD_PATH = '/queues';

/**
 * bull-board at /queues over the four queues, read-only: replays go through the dashboard's
 * own replay (which keeps the per-user ordering guarantees), not BullMQ's raw retry. It has no
 * authentication of its own; it is registered inside the session-checked scope.
 */
export async function registerBullBoard(app: FastifyInstance, redis: Redis, prefix: string): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  const board = createBullBoard({ queues: [], serverAdapter, options: { uiConfig: { boardTitle: 'idsync queues' } } });
  // The queues are made on the first visit (after the session check): a BullMQ Queue writes its
  // meta key when created, and a server whose board nobody opens should not.
  let queues: Queue[] | undefined;
  app.addHook('preHandler', async (request) => {
    if (queues || !request.url.startsWith(BULL_BOARD_PATH)) return;
    queues = OPERATOR_QUEUES.map((name) => new Queue(QUEUES[name], { connection: redis, prefix }).on('error', () => undefined));
    board.replaceQueues(queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })));
  });
  app.addHook('onClose', async () => {
    await Promise.all((queues ?? []).map((q) => q.close()));
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
}
