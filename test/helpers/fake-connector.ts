import type { ApplyResult, ConnectorContext, TargetConnector } from '../../workers/runtime/connector.js';
import type { RemoteUser, Target, UserRef, UserSnapshot } from '../../shared/jobs.js';

export interface Call {
  method: 'upsertUser' | 'deleteUser' | 'setPassword' | 'getUser';
  userId: string;
  version?: number;
  password?: string;
  at: number;
  attempt: number;
}

type Behaviour = (call: Call, ctx: ConnectorContext) => Promise<ApplyResult | RemoteUser | null | void> | ApplyResult | RemoteUser | null | void;

/**
 * A scripted connector: each call runs the next queued behaviour (or the default,
 * which succeeds), and every call is recorded so tests can assert on what the
 * runtime asked the remote to do.
 */
export class FakeConnector implements TargetConnector {
  readonly calls: Call[] = [];
  readonly users = new Map<string, UserSnapshot & { version: number }>();
  readonly #queue: Behaviour[] = [];
  probeError: Error | undefined;
  probes = 0;
  onCall: ((call: Call) => void) | undefined;

  constructor(readonly target: Target = 'crowd') {}

  /** The next calls behave like this, in order. */
  then(...behaviours: Behaviour[]): this {
    this.#queue.push(...behaviours);
    return this;
  }

  async #run(call: Call, ctx: ConnectorContext, fallback: () => unknown) {
    this.calls.push(call);
    this.onCall?.(call);
    const behaviour = this.#queue.shift();
    if (behaviour) {
      const out = await behaviour(call, ctx);
      if (out !== undefined) return out;
    }
    return fallback();
  }

  upsertUser(user: UserSnapshot & { version: number }, ctx: ConnectorContext): Promise<ApplyResult> {
    return this.#run({ method: 'upsertUser', userId: user.id, version: user.version, at: Date.now(), attempt: ctx.attempt }, ctx, () => {
      const existed = this.users.has(user.id);
      this.users.set(user.id, user);
      return { operation: existed ? 'update' : 'create', remoteId: `remote-${user.id}`, remoteName: user.username, changedAttributes: ['email'] };
    }) as Promise<ApplyResult>;
  }

  deleteUser(user: UserRef, ctx: ConnectorContext): Promise<ApplyResult> {
    return this.#run({ method: 'deleteUser', userId: user.id, at: Date.now(), attempt: ctx.attempt }, ctx, () => {
      this.users.delete(user.id);
      return { operation: 'delete', unlink: true };
    }) as Promise<ApplyResult>;
  }

  setPassword(user: UserRef, password: string, ctx: ConnectorContext): Promise<ApplyResult> {
    return this.#run({ method: 'setPassword', userId: user.id, password, at: Date.now(), attempt: ctx.attempt }, ctx, () => ({ operation: 'password' })) as Promise<ApplyResult>;
  }

  getUser(user: UserRef, ctx: ConnectorContext): Promise<RemoteUser | null> {
    return this.#run({ method: 'getUser', userId: user.id, at: Date.now(), attempt: ctx.attempt }, ctx, () => {
      const u = this.users.get(user.id);
      return u ? { target: this.target, remoteId: `remote-${u.id}`, username: u.username, email: u.email, active: u.active } : null;
    }) as Promise<RemoteUser | null>;
  }

  async probe(): Promise<void> {
    this.probes++;
    if (this.probeError) throw this.probeError;
  }
}
