import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { loadConfig } from '../shared/config.js';
import { Keyring, parseKey } from '../shared/crypto.js';
import { ValidationError } from '../shared/errors.js';
import {
  JOB_NAMES,
  QUEUES,
  SCHEMA_VERSION,
  TARGETS,
  dedupId,
  passwordAad,
  passwordSchema,
  toUserRef,
  userRefSchema,
  userSnapshotSchema,
  type PushUserData,
  type QueueName,
  type RemoteUser,
  type Target,
  type TargetJobResult,
  type UserRef,
  type UserSnapshotInput,
} from '../shared/jobs.js';
import { createRedis, isCluster, sibling, whenReady } from '../shared/redis.js';
import { queueEventsFromNow } from '../shared/queue-events.js';
import { clusterPrefixProblem, isClusterUrl } from '../shared/redis-url.js';
import { toIssues, validate } from '../shared/validation.js';
import { withRedisErrors } from '../shared/redis-errors.js';
import type { Enqueued, EnqueueOptions, ProvisionOptions, ProvisionRun, RefreshOptions, SyncClientOptions } from './client-options.js';
import { parseProvision, provisionRun } from './provision.js';
import { subscribePulledChanges, type PulledChangeHandler, type PulledChangeOptions, type PulledChangeSubscription } from './pulled-changes.js';
import { addPushJobs, type PushJob } from './push-jobs.js';
import { CoalesceWindows } from './coalesce-window.js';
import { readKeyFile, SECRET_KEY_FILE } from './client-key-file.js';
import { passwordJobOptions, standardJobOptions } from './retention.js';


export interface SyncClient {
  /** The user was created or changed in the application. */
  userChanged(user: UserSnapshotInput): Promise<Enqueued[]>;
  /** Many users at once, through `addBulk`; one invalid user rejects the whole call. */
  userChangedMany(users: readonly UserSnapshotInput[]): Promise<Enqueued[]>;
  /** The user was deleted in the application; each target applies its delete policy. */
  userDeleted(user: UserRef & { version?: number }): Promise<Enqueued[]>;
  /** Encrypted here, decrypted only inside the target worker. */
  passwordChanged(user: UserRef, password: string): Promise<Enqueued[]>;
  /**
   * Push the given application users (or all of them) to the targets, or with
   * `direction: 'from-target'` import remote users into the application.
   */
  provision(scope: 'all' | { ids: readonly string[] } | { remoteIds: readonly string[] }, options?: ProvisionOptions): Promise<ProvisionRun>;
  /** Read the user from the targets and apply it to the application. */
  pull(user: Pick<UserRef, 'id'> & Partial<UserRef>, options?: EnqueueOptions): Promise<Enqueued[]>;
  /** Read the user from one target and answer with it (null when the target has no such user). */
  refresh(user: Pick<UserRef, 'id'> & Partial<UserRef>, options: RefreshOptions): Promise<RemoteUser | null>;
  /**
   * Apply pulled changes (the `app` queue) in this process instead of through idsync's SQL or
   * webhook adapter. Resolves once the worker listens; a throwing handler retries the change.
   */
  onPulledChange(handler: PulledChangeHandler, options?: PulledChangeOptions): Promise<PulledChangeSubscription>;
  /** Also closes every `onPulledChange` subscription. */
  close(): Promise<void>;
}

const targetsSchema = z.array(z.enum(TARGETS)).min(1, 'name at least one target');
const targetSchema = z.enum(TARGETS, { error: `expected one of ${TARGETS.join(', ')}` });
const windowSchema = z.number().int('must be a whole number of ms').min(0).max(3_600_000);
// The same bounds as the IDSYNC_* variables they default from (shared/config.ts).
const attemptsSchema = z.number('must be a number').int('must be a whole number').min(1).max(1000);
const backoffSchema = z.number('must be a number').int('must be a whole number of ms').min(1);
const passwordTtlSchema = z.number('must be a number').int('must be a whole number of ms').min(1000);
/** How long a call may wait for a worker's answer: at most an hour (a refresh is one read). */
const timeoutSchema = z.number('must be a number of ms').int('must be a whole number of ms').positive('must be positive').max(3_600_000, 'must be at most 3600000 (one hour)');

/**
 * Creates the tiny client library applications use to enqueue user events.
 * Every method resolves only after Redis accepted the job(s), and rejects with a
 * `ValidationError` naming each bad field, before anything is enqueued, on bad input.
 */
export function createSyncClient(options: SyncClientOptions = {}): SyncClient {
  const env = loadConfig();
  const prefix = options.prefix ?? env.prefix;
  const configured = options.targets ?? (env.targets.length ? env.targets : undefined);
  if (!configured) {
    // Nothing set anywhere: say where targets come from rather than "name at least one".
    throw new ValidationError([{ path: 'targets', message: "no targets: set IDSYNC_TARGETS (e.g. crowd,entra) or pass the targets option (e.g. targets: ['crowd', 'entra'])" }], 'client options');
  }
  const targets = validate(targetsSchema, configured, 'client options', ['targets']);
  // Without a configured key, the file the zero-config `idsync start` writes in the working
  // directory; read only when a password is sent, and never when a key is configured.
  let keyring: Keyring | undefined = options.secretKey ? new Keyring(parseKey(options.secretKey)) : env.keyring;
  const getKeyring = () => (keyring ??= readKeyFile());
  const attempts = validate(attemptsSchema, options.attempts ?? env.jobs.attempts, 'client options', ['attempts']);
  const backoffMs = validate(backoffSchema, options.backoffMs ?? env.jobs.backoffMs, 'client options', ['backoffMs']);
  const passwordTtlMs = validate(passwordTtlSchema, options.passwordTtlMs ?? env.jobs.passwordTtlMs, 'client options', ['passwordTtlMs']);
  const jobOptions = standardJobOptions(attempts, backoffMs);
  const windows = new CoalesceWindows(validate(windowSchema, options.coalesceWindowMs ?? env.jobs.coalesceWindowMs, 'client options', ['coalesceWindowMs']));

  const ownsConnection = !options.connection;
  const redisUrl = options.redisUrl ?? env.redisUrl;
  const clustered = options.connection ? isCluster(options.connection) : isClusterUrl(redisUrl);
  const prefixProblem = clustered ? clusterPrefixProblem(prefix) : undefined;
  if (prefixProblem) throw new ValidationError([{ path: 'prefix', message: prefixProblem }], 'client options');
  // A Cluster answers the client's commands as Redis does (see createRedis).
  const redis = (options.connection as Redis | undefined) ?? createRedis(redisUrl, 'producer');
  // The blocking stream reads need connections without the producer's fail-fast settings:
  // BullMQ opens (and owns) a copy of this one per QueueEvents; it never connects itself.
  let eventsConnection: Redis | undefined;
  // Connection errors reach callers as rejected calls; the listener keeps ioredis quiet.
  const quiet = () => undefined;
  redis.on('error', quiet);
  const ensureReady = () => whenReady(redis, { timeoutMs: 5000, failOnError: true });

  const queues = new Map<string, Queue>();
  const events = new Map<QueueName, Promise<QueueEvents>>();
  const subscriptions = new Set<PulledChangeSubscription>();
  const queue = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: redis, prefix });
      q.on('error', () => undefined); // callers see failures as rejected calls
      queues.set(name, q);
    }
    return q;
  };
  let version = 0;
  const nextVersion = () => (version = Math.max(Date.now(), version + 1));
  const chooseTargets = (opts?: EnqueueOptions) => {
    if (opts?.targets === undefined) return targets;
    const chosen = validate(targetsSchema, opts.targets, 'options', ['targets']);
    const unknown = chosen.filter((t) => !targets.includes(t));
    if (unknown.length) throw new ValidationError([{ path: 'targets', message: `not configured on this client: ${unknown.join(', ')}` }], 'options');
    return chosen;
  };
  const add = async (target: Target | 'sync', name: string, data: unknown, opts: JobsOptions): Promise<Enqueued> => {
    const job = await queue(QUEUES[target]).add(name, data, opts);
    return { target, jobId: job.id! };
  };

  const pushData = (user: ReturnType<typeof parseSnapshot>): PushUserData => ({
    schemaVersion: SCHEMA_VERSION,
    enqueuedAt: Date.now(),
    op: 'upsert',
    user,
  });
  // Inside the user's window the job waits for its end, where later changes merge into it.
  const pushJob = (data: PushUserData, now = Date.now()): PushJob => {
    const delay = windows.delayFor(data.user.id, now);
    return { data, opts: { ...jobOptions, deduplication: { id: dedupId.push(data.user.id), ...coalesce }, ...(delay > 0 && { delay }) } };
  };
  // Every push goes through addPushJobs: the newest snapshot wins even while the user's job waits.
  const push = (jobs: PushJob[]) =>
    Promise.all(targets.map(async (t) => (await addPushJobs(queue(QUEUES[t]), jobs, { windowMs: windows.windowMs })).map((jobId): Enqueued => ({ target: t, jobId }))))
      .then((perTarget) => perTarget.flat());
  const parseSnapshot = (input: unknown, path: (string | number)[] = []) => {
    const user = validate(userSnapshotSchema, input, 'user', path);
    return { ...user, version: user.version ?? nextVersion() };
  };
  const coalesce = { keepLastIfActive: true } as const;

  // Connection failures (ioredis says it a dozen ways) reach callers as one RedisUnavailableError.
  return withRedisErrors<SyncClient>({
    async userChanged(input) {
      const user = parseSnapshot(input);
      await ensureReady();
      return push([pushJob(pushData(user))]);
    },

    async userChangedMany(inputs) {
      if (!Array.isArray(inputs)) throw new ValidationError([{ path: 'users', message: 'expected an array of users' }], 'users');
      const issues = [];
      const latest = new Map<string, ReturnType<typeof parseSnapshot>>();
      for (const [i, input] of inputs.entries()) {
        const parsed = userSnapshotSchema.safeParse(input);
        if (!parsed.success) {
          issues.push(...toIssues(parsed.error, ['users', i]));
          continue;
        }
        // Within one call the later entry for a user wins, as it would across calls. (The
        // parsed object is zod's fresh copy: the version is set on it, not on another copy.)
        const user = parsed.data as typeof parsed.data & { version: number };
        user.version ??= nextVersion();
        const prev = latest.get(user.id);
        if (!prev || user.version >= prev.version) latest.set(user.id, user);
      }
      if (issues.length) throw new ValidationError(issues, 'users');
      await ensureReady();
      return push([...latest.values()].map((user) => pushJob(pushData(user))));
    },

    async userDeleted(input) {
      const parsed = validate(userRefSchema.extend({ version: z.number().int().nonnegative().optional() }), input, 'user');
      const data: PushUserData = {
        schemaVersion: SCHEMA_VERSION,
        enqueuedAt: Date.now(),
        op: 'delete',
        user: { ...toUserRef(parsed), version: parsed.version ?? nextVersion() },
      };
      await ensureReady();
      return push([pushJob(data)]);
    },

    async passwordChanged(input, password) {
      const ref = toUserRef(validate(userRefSchema, input, 'user'));
      validate(passwordSchema, password, 'password', ['password']);
      const keyring = getKeyring();
      if (!keyring) {
        throw new Error(`passwordChanged needs an encryption key: set IDSYNC_SECRET_KEY (32 bytes, base64 or hex), pass secretKey, or run where ${SECRET_KEY_FILE} is (written by the zero-config idsync start); passwords never travel in clear text`);
      }
      await ensureReady();
      const enqueuedAt = Date.now();
      const expiresAt = enqueuedAt + passwordTtlMs;
      return Promise.all(
        targets.map(async (t) => {
          const [jobId] = await addPushJobs(queue(QUEUES[t]), [{
            name: JOB_NAMES.setPassword,
            data: { schemaVersion: SCHEMA_VERSION, enqueuedAt, user: ref, password: keyring.encrypt(password, passwordAad(t, ref.id)), expiresAt },
            opts: { ...passwordJobOptions(attempts, backoffMs, passwordTtlMs), deduplication: { id: dedupId.password(ref.id), ...coalesce } },
          }]);
          return { target: t, jobId: jobId! };
        }),
      );
    },

    async provision(scope, opts) {
      const chosen = chooseTargets(opts);
      const parsed = parseProvision(scope, opts);
      await ensureReady();
      const { jobId } = await add('sync', JOB_NAMES.provision, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), ...parsed, targets: chosen }, jobOptions);
      return provisionRun(queue(QUEUES.sync), jobId, () => queueEvents(QUEUES.sync));
    },

    async pull(input, opts) {
      const chosen = chooseTargets(opts);
      const ref = toUserRef(validate(userRefSchema, input, 'user'));
      await ensureReady();
      return Promise.all(
        chosen.map((t) =>
          add(t, JOB_NAMES.pullUser, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), user: ref, mode: 'pull' }, {
            ...jobOptions,
            deduplication: { id: dedupId.pull(ref.id), ...coalesce },
          }),
        ),
      );
    },

    async refresh(input, opts) {
      // A refresh reads one target: a missing or unknown one is named as `target`, the option it came from.
      const wanted = validate(targetSchema, opts?.target, 'options', ['target']);
      const [target] = chooseTargets({ targets: [wanted] });
      const ref = toUserRef(validate(userRefSchema, input, 'user'));
      const timeoutMs = validate(timeoutSchema, opts.timeoutMs === undefined ? 10_000 : opts.timeoutMs, 'options', ['timeoutMs']);
      await ensureReady();
      const qe = await queueEvents(QUEUES[target!]);
      // No deduplication: every caller waits for its own answer. A refresh is a read,
      // so it gets few attempts and a short life.
      const job: Job = await queue(QUEUES[target!]).add(
        JOB_NAMES.pullUser,
        { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), user: ref, mode: 'refresh' },
        { ...jobOptions, attempts: Math.min(attempts, 3), removeOnComplete: { age: 300 }, removeOnFail: { age: 3600 } },
      );
      const result = (await job.waitUntilFinished(qe, timeoutMs)) as TargetJobResult;
      return result.remote ?? null;
    },

    async onPulledChange(handler, opts) {
      const sub = await subscribePulledChanges({ connection: redis, prefix, backoffMs, stalls: env.stalls }, handler, opts);
      subscriptions.add(sub);
      return {
        async close() {
          subscriptions.delete(sub);
          await sub.close();
        },
      };
    },

    async close() {
      await Promise.allSettled([...subscriptions].map((s) => s.close()));
      await Promise.allSettled([...events.values()].map(async (p) => (await p).close()));
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
      eventsConnection?.disconnect();
      if (ownsConnection) redis.disconnect();
      else redis.off('error', quiet); // a shared connection outlives many clients
    },
  });

  function queueEvents(name: QueueName): Promise<QueueEvents> {
    let p = events.get(name);
    if (!p) {
      p = (async () => {
        eventsConnection ??= sibling(redis, 'worker', { lazyConnect: true });
        return queueEventsFromNow(queue(name), redis, eventsConnection);
      })();
      // A failed start is not cached: the next call tries again.
      p.catch(() => events.delete(name));
      events.set(name, p);
    }
    return p;
  }
}

