import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from '../errors.js';
import { accept } from './accept.js';
import type { IngestContext } from './context.js';
import { passwordInput, pullInput, userDeletedInput, userSnapshotInput } from './input.js';

type UserRequest = FastifyRequest<{ Params: { id: string } }>;

/** `/users/{id}`: the client library's userChanged, userDeleted, passwordChanged and pull. */
export function userRoutes(app: FastifyInstance, ctx: IngestContext): void {
  const { client } = ctx;

  app.put('/users/:id', (request: UserRequest, reply) => {
    const user = userSnapshotInput(request.params.id, request.body);
    return accept(ctx, request, reply, () => client.userChanged(user));
  });

  app.delete('/users/:id', (request: UserRequest, reply) => {
    const user = userDeletedInput(request.params.id, request.body);
    return accept(ctx, request, reply, () => client.userDeleted(user));
  });

  app.post('/users/:id/password', (request: UserRequest, reply) => {
    if (!ctx.passwordsEnabled) {
      throw new HttpError(501, { error: 'passwords-disabled', message: 'this server has no IDSYNC_SECRET_KEY; passwords are never sent in clear text' });
    }
    // Encrypted by the client library before it reaches Redis; the plaintext lives only in
    // this request's memory.
    const { user, password } = passwordInput(request.params.id, request.body);
    return accept(ctx, request, reply, () => client.passwordChanged(user, password));
  });

  app.post('/users/:id/pull', (request: UserRequest, reply) => {
    const { user, targets } = pullInput(request.params.id, request.body, ctx.targets);
    return accept(ctx, request, reply, () => client.pull(user, targets && { targets }));
  });
}
