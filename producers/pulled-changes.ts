import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { QUEUES, applyUserDataSchema, userIdSchema, type AppField, type RemoteUser, type Target } from '../shared/jobs.js';
import { ValidationError } from '../shared/errors.js';
import { LinkStore, remoteHash } from '../shared/links.js';
import { sibling, whenReady } from '../shared/redis.js';
import { toIssues, validate } from '../shared/validation.js';
import { workerBackoffSettings } from '../workers/runtime/backoff.js';
import { stallOptions } from '../workers/runtime/stalls.js';
import type { StallSettings } from '../shared/config.js';

/** A remote user for the application to apply, from an `apply-user` job on the `app` queue. */
export interface PulledChange {
  jobId: string;
  /**
   * - `pull`: take the attributes the target is the authority for;
   * - `update`: take `fields`;
   * - `import`: create the user (or adopt the one with the same username or e-mail) and return its `id`;
   * - `disable`: deactivate the user.
   */
  action: 'pull' | 'update' | 'import' | 'disable';
  /** Absent on an import of a user the application does not have yet. */
  appUserId?: string;
  source: Target;
  /** `null` = the user no longer exists on `source`. */
  remote: RemoteUser | null;
  /** For `update`: the fields to take from `remote`. */
  fields?: AppField[];
  /** The plan this change belongs to. */
  planId?: string;
  /** For `import`: the application username to give the user. Default: `remote.username`. */
  appUsername?: string;
}

/** Throwing retries the change; for an import without `appUserId`, return the application user's `{ id }`. */
export type PulledChangeHandler = (change: PulledChange) => Promise<{ id?: string } | void> | { id?: string } | void;

export interface PulledChangeOptions {
  /** Changes handled at once by this process. @defaultValue 10 */
  concurrency?: number;
}

export interface PulledChangeSubscription {
  /** Lets running handlers finish, then stops taking changes. */
  close(): Promise<void>;
}

const optionsSchema = z.object({ concurrency: z.number().int().min(1).max(1000).default(10) });

export interface PulledChangeDeps {
  /** The client's connection (a server or a cluster); the subscription opens its own beside it. */
  connection: Redis;
  prefix: string;
  /** First retry delay of the `idsync` backoff. */
  backoffMs: number;
  /** Job lock and stall check (IDSYNC_LOCK_DURATION_MS…). @defaultValue STALL_DEFAULTS */
  stalls?: StallSettings;
}

/**
 * A BullMQ worker on the `app` queue that hands each pulled change to the application's
 * handler, then links the remote user to the application user, as idsync's own adapters do.
 */
export async function subscribePulledChanges(deps: PulledChangeDeps, handler: PulledChangeHandler, options: PulledChangeOptions = {}): Promise<PulledChangeSubscription> {
  if (typeof handler !== 'function') throw new ValidationError([{ path: 'handler', message: 'must be a function' }], 'onPulledChange arguments');
  const { concurrency } = validate(optionsSchema, options, 'onPulledChange options');
  // A worker connection (BullMQ's blocking reads need `maxRetriesPerRequest: null`), shared
  // with the link store; BullMQ duplicates it for the blocking read and leaves it to us.
  const redis = sibling(deps.connection, 'worker');
  redis.on('error', () => undefined); // ioredis reconnects; failed changes stay in the failed set
  const links = new LinkStore(redis, deps.prefix);

  const apply = async (job: Job) => {
    const change = parse(job);
    // A change retried after a lost reply finds the link its first attempt made.
    if (!change.appUserId && change.remote) {
      const linked = await links.findByRemoteId(change.source, change.remote.remoteId);
      if (linked) change.appUserId = linked;
    }
    const reply = await handler(change);
    // The reply matters only when the job does not name the application user (an import).
    const id = change.appUserId ?? returnedId(reply);
    if (change.action === 'import' && !id) {
      throw new UnrecoverableError('import: the handler must return { id } of the application user it created or adopted');
    }
    if (id && change.remote) {
      await links.update(change.source, id, { remoteId: change.remote.remoteId, remoteName: change.remote.username, readHash: remoteHash(change.remote) });
    }
    return id ? { appUserId: id } : {};
  };

  const worker = new Worker(QUEUES.app, apply, {
    connection: redis,
    prefix: deps.prefix,
    concurrency,
    name: `app-client-${process.pid}`,
    settings: workerBackoffSettings({ baseMs: deps.backoffMs, maxMs: 300_000 }),
    ...stallOptions(deps.stalls),
  });
  worker.on('error', () => undefined);
  const close = async () => {
    await worker.close();
    redis.disconnect();
  };
  try {
    // Bounded, like the client's other calls: an unreachable Redis rejects instead of hanging.
    await whenReady(redis, { timeoutMs: 10_000 });
    await worker.waitUntilReady();
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}

function parse(job: Job): PulledChange {
  const parsed = applyUserDataSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(new ValidationError(toIssues(parsed.error), `${job.name} payload`).message);
  const { appUserId, action, source, remote, fields, planId, appUsername } = parsed.data;
  return {
    jobId: job.id!, action, source, remote,
    ...(appUserId && { appUserId }), ...(fields && { fields }), ...(planId && { planId }), ...(appUsername && { appUsername }),
  };
}

function returnedId(reply: unknown): string | undefined {
  const id = (reply as { id?: unknown } | undefined | null)?.id;
  if (id === undefined) return undefined;
  const parsed = userIdSchema.safeParse(id);
  if (!parsed.success) throw new UnrecoverableError(new ValidationError(toIssues(parsed.error, ['id']), 'handler reply').message);
  return parsed.data;
}
