import { z } from 'zod';
import { encryptedEnvelopeSchema } from './crypto.js';
import { checkedText, formatBytes, hasLoneSurrogate, jsonBytes, requiredText } from './text.js';

/**
 * The job contract: queue names, job names, a versioned zod schema for every payload
 * and the typed queue → job name → payload map that producers and workers share.
 *
 * Jobs carry state, not diffs (design decision 1): `push-user` says "make user X on
 * this target look like this snapshot", or, with `op: 'delete'`, "user X is gone".
 * Upserts and deletes share one job name and one deduplication id per (target, user),
 * so the newest state always wins and a delete can never overtake an older upsert.
 */

export const SCHEMA_VERSION = 1 as const;

/** Remote systems idsync keeps in step; each has its own queue. */
export const TARGETS = ['crowd', 'entra'] as const;
export type Target = (typeof TARGETS)[number];

/** Queue names: one per target, `sync` for full-sync orchestration, `app` for pulled changes. */
export const QUEUES = { crowd: 'crowd', entra: 'entra', sync: 'sync', app: 'app' } as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const JOB_NAMES = {
  pushUser: 'push-user',
  setPassword: 'set-password',
  pullUser: 'pull-user',
  provision: 'provision',
  fullSync: 'full-sync',
  applyUser: 'apply-user',
  pullChanges: 'pull-changes',
} as const;

/**
 * Who asked for a push. Live events must be newer than what was applied; provisioning, full
 * syncs and replays re-assert the application's current state, so an equal version passes
 * (a remote edited behind idsync's back is put right even though the app did not change).
 */
export const PUSH_ORIGINS = ['event', 'provision', 'sync', 'replay'] as const;
export type PushOrigin = (typeof PUSH_ORIGINS)[number];

/** BullMQ priority of bulk work (provisioning, plan apply): live events (no priority) always go first. */
export const BULK_PRIORITY = 10;

/**
 * Limits, in UTF-16 code units as Crowd and Graph count them (see shared/text.ts), set to
 * what either target refuses: Crowd refuses usernames over 255 (it truncates longer names and
 * e-mails); Graph refuses givenName / surname over 64 and displayName over 256. The whole
 * snapshot is capped so one call cannot put megabytes into Redis once per target.
 */
export const LIMITS = {
  id: 256,
  username: 255,
  email: 254,
  name: 64,
  displayName: 256,
  groupName: 255,
  groups: 5000,
  attributeName: 255,
  attributeValue: 4096,
  attributeValues: 100,
  attributes: 256,
  /** UTF-8 bytes of the snapshot as JSON (the job payload carries it once per target). */
  snapshotBytes: 64 * 1024,
  remoteId: 1024,
} as const;

const text = requiredText;
/**
 * A profile field the caller may omit or clear: omitted (undefined) = leave the remote value
 * alone; null or "" = clear it where the target allows (see each target's mapping).
 */
const clearableText = (max: number) => checkedText({ max }).nullable().optional();

export const userIdSchema = text(LIMITS.id);
export const usernameSchema = text(LIMITS.username);

const attributeValue = checkedText({ max: LIMITS.attributeValue, trim: false, lines: true });

/** What the application says a user looks like now. */
const userSnapshotShape = {
  id: userIdSchema,
  username: usernameSchema,
  email: checkedText({ max: LIMITS.email }).pipe(z.email('must be an e-mail address')),
  /** Omitted = leave the remote value alone; null or "" = clear it where the target allows. */
  firstName: clearableText(LIMITS.name),
  lastName: clearableText(LIMITS.name),
  displayName: clearableText(LIMITS.displayName),
  active: z.boolean().default(true),
  /** Direct group names on the target; omitted = leave memberships alone. */
  groups: z.array(text(LIMITS.groupName)).max(LIMITS.groups, `at most ${LIMITS.groups} groups`).optional(),
  /** Custom attributes for the target's attribute mapping. */
  attributes: z
    .record(checkedText({ max: LIMITS.attributeName, min: 1, trim: false }), z.union([attributeValue, z.array(attributeValue).max(LIMITS.attributeValues, `at most ${LIMITS.attributeValues} values`)]))
    .check((ctx) => {
      const keys = Object.keys(ctx.value).length;
      if (keys > LIMITS.attributes) ctx.issues.push({ code: 'custom', message: `has ${keys} attributes; at most ${LIMITS.attributes}`, input: ctx.value });
    })
    .optional(),
  /**
   * Monotonic per user, from one scheme: a row version or an updated-at in ms. A snapshot
   * not newer than the one already applied is skipped. Assigned from the clock when omitted.
   */
  version: z.number().int().nonnegative().optional(),
};

/**
 * Caller input is strict: an unknown field (`firstname` for `firstName`) is a mistake the
 * caller must hear about, not a value silently dropped.
 */
export const userSnapshotSchema = z.strictObject(userSnapshotShape).check((ctx) => {
  const bytes = jsonBytes(ctx.value);
  if (bytes > LIMITS.snapshotBytes) {
    ctx.issues.push({ code: 'custom', message: `the snapshot is ${formatBytes(bytes)} as JSON; the limit is ${formatBytes(LIMITS.snapshotBytes)}`, input: ctx.value });
  }
});
export type UserSnapshotInput = z.input<typeof userSnapshotSchema>;
export type UserSnapshot = z.output<typeof userSnapshotSchema>;

export const MAX_PASSWORD_LENGTH = 1024;
const passwordLength = `must be a string of 1 to ${MAX_PASSWORD_LENGTH} characters`;
/**
 * A new password, as sent: never trimmed, any character but an unpaired surrogate (UTF-8
 * cannot carry it, so the remote would store U+FFFD instead of what the user typed).
 */
export const passwordSchema = z.string(passwordLength).check((ctx) => {
  const { length } = ctx.value;
  if (length < 1 || length > MAX_PASSWORD_LENGTH) ctx.issues.push({ code: 'custom', message: passwordLength, input: ctx.value });
  else if (hasLoneSurrogate(ctx.value)) ctx.issues.push({ code: 'custom', message: 'must not contain unpaired surrogates (not valid Unicode)', input: ctx.value });
});

const userRefShape = {
  id: userIdSchema,
  username: usernameSchema.optional(),
};

/**
 * A reference to a user, as callers pass it. Strict like the snapshot, but a whole snapshot
 * is accepted too (`userDeleted(user)` with the row at hand); `toUserRef` keeps the reference.
 */
export const userRefSchema = z.strictObject({
  ...userRefShape,
  ...(Object.fromEntries(Object.keys(userSnapshotShape).filter((k) => !(k in userRefShape)).map((k) => [k, z.unknown().optional()])) as Record<Exclude<keyof typeof userSnapshotShape, keyof typeof userRefShape>, z.ZodOptional<z.ZodUnknown>>),
});
export interface UserRef {
  id: string;
  username?: string | undefined;
}

/** The reference part of a parsed `userRefSchema` input. */
export const toUserRef = ({ id, username }: { id: string; username?: string | undefined }): UserRef => (username === undefined ? { id } : { id, username });

// Job payloads are written by idsync itself and read by workers that may be older or newer
// than the writer, so they strip unknown fields instead of refusing the job.
const jobSnapshotSchema = z.object(userSnapshotShape);
const jobRefSchema = z.object(userRefShape);

const targetSchema = z.enum(TARGETS);
const envelope = { schemaVersion: z.literal(SCHEMA_VERSION), enqueuedAt: z.number().int() };

export const pushUserDataSchema = z.discriminatedUnion('op', [
  z.object({ ...envelope, op: z.literal('upsert'), user: jobSnapshotSchema.required({ version: true }), origin: z.enum(PUSH_ORIGINS).optional() }),
  z.object({
    ...envelope,
    op: z.literal('delete'),
    user: jobRefSchema.extend({ version: z.number().int().nonnegative() }),
    origin: z.enum(PUSH_ORIGINS).optional(),
  }),
]);
export type PushUserData = z.infer<typeof pushUserDataSchema>;

export const setPasswordDataSchema = z.object({
  ...envelope,
  user: jobRefSchema,
  /** AES-256-GCM envelope bound to `${target}:${user.id}`; decrypted only inside the worker. */
  password: encryptedEnvelopeSchema,
  /** After this instant the job fails instead of applying a stale password. */
  expiresAt: z.number().int(),
});
export type SetPasswordData = z.infer<typeof setPasswordDataSchema>;

export const pullUserDataSchema = z.object({
  ...envelope,
  user: jobRefSchema,
  /** `refresh` answers the caller with the remote user; `pull` also applies it to the app. */
  mode: z.enum(['pull', 'refresh']),
});
export type PullUserData = z.infer<typeof pullUserDataSchema>;

/**
 * `to-target`: push application users (`{ ids }` = app user ids, or `'all'`) to the targets.
 * `from-target`: import remote users into the application (`{ remoteIds }` = Crowd names or
 * keys, Entra object ids or UPNs; `{ ids }` = linked app users, re-read; or `'all'`).
 */
export const provisionScopeSchema = z.union([
  z.literal('all'),
  z.object({ ids: z.array(userIdSchema).min(1).max(100_000) }),
  z.object({ remoteIds: z.array(text(LIMITS.remoteId)).min(1).max(100_000) }),
]);
export type ProvisionScope = z.infer<typeof provisionScopeSchema>;

export const provisionDataSchema = z.object({
  ...envelope,
  scope: provisionScopeSchema,
  targets: z.array(targetSchema).min(1),
  direction: z.enum(['to-target', 'from-target']).default('to-target'),
});
export type ProvisionData = z.infer<typeof provisionDataSchema>;

/**
 * `plan` / `dry-run`: compute and store a plan, apply nothing. `apply`: plan, then apply
 * unless the plan is staged. With `planId`, apply (or finish applying) that stored plan.
 */
export const fullSyncDataSchema = z.object({
  ...envelope,
  targets: z.array(targetSchema).min(1),
  mode: z.enum(['plan', 'apply', 'dry-run']),
  /** The cron slot this run belongs to, for one enqueue per slot across replicas. */
  slot: z.string().optional(),
  planId: z.string().min(1).max(200).optional(),
});
export type FullSyncData = z.infer<typeof fullSyncDataSchema>;

/** A remote user mapped back to the application's shape. */
export const remoteUserSchema = z.object({
  target: targetSchema,
  remoteId: z.string().min(1),
  username: z.string(),
  email: z.string().optional(),
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  displayName: z.string().optional(),
  active: z.boolean(),
  groups: z.array(z.string()).optional(),
  roles: z.array(z.string()).optional(),
  attributes: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
  /**
   * The profile photo, when the target has one (Entra). `hash` is the SHA-256 (hex) of the
   * bytes; `data` (base64) is present only when the bytes differ from what idsync last
   * handed to the application, so unchanged photos are not copied again. `null` = the
   * target has no photo any more. Absent = not read.
   */
  photo: z.object({ hash: z.string(), contentType: z.string(), data: z.string().optional() }).nullable().optional(),
});
export type RemoteUser = z.infer<typeof remoteUserSchema>;

/** Incremental pull between full syncs: Graph delta round, Crowd changed-since. */
export const pullChangesDataSchema = z.object({
  ...envelope,
  targets: z.array(targetSchema).min(1),
  slot: z.string().optional(),
});
export type PullChangesData = z.infer<typeof pullChangesDataSchema>;

/** Application-side fields a pulled change may set. */
export const APP_FIELDS = ['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'roles', 'attributes', 'photo'] as const;
export type AppField = (typeof APP_FIELDS)[number];

/**
 * What the application should do with a remote user:
 * - `pull`: take the attributes the target is the authority for (roles, photo, …);
 * - `update`: take `fields` (a plan's appUpdate);
 * - `import`: create the application user from the remote one (or adopt the one with the
 *   same username / e-mail), then link it;
 * - `disable`: deactivate the application user (a plan's appDisable).
 */
export const applyUserDataSchema = z.object({
  ...envelope,
  appUserId: userIdSchema.optional(),
  /** `null` = the user no longer exists on the source target. */
  remote: remoteUserSchema.nullable(),
  source: targetSchema,
  action: z.enum(['pull', 'update', 'import', 'disable']).default('pull'),
  /** For `update`: the fields to take from the remote user. */
  fields: z.array(z.enum(APP_FIELDS)).optional(),
  /** The plan this change belongs to, for the audit log and the per-user trace. */
  planId: z.string().optional(),
  /**
   * For `import`: the application username the source's naming rule maps back to (an Entra
   * UPN `bob@contoso.com` made by the default rule comes back as `bob`). Default: remote.username.
   */
  appUsername: z.string().trim().min(1, 'must not be empty').max(255).optional(),
});
export type ApplyUserData = z.infer<typeof applyUserDataSchema>;

/** Job name → payload schema, per queue. */
export const JOB_SCHEMAS = {
  crowd: { 'push-user': pushUserDataSchema, 'set-password': setPasswordDataSchema, 'pull-user': pullUserDataSchema },
  entra: { 'push-user': pushUserDataSchema, 'set-password': setPasswordDataSchema, 'pull-user': pullUserDataSchema },
  sync: { provision: provisionDataSchema, 'full-sync': fullSyncDataSchema, 'pull-changes': pullChangesDataSchema },
  app: { 'apply-user': applyUserDataSchema },
} as const;

type Schemas = typeof JOB_SCHEMAS;
/** The typed map: `JobMap['crowd']['push-user']` is the payload type. */
export type JobMap = { [Q in keyof Schemas]: { [N in keyof Schemas[Q]]: z.infer<Schemas[Q][N] & z.ZodType> } };
export type TargetJobName = keyof JobMap['crowd'];
export type TargetJobData = JobMap['crowd'][TargetJobName];

/** What the runtime returns from a target job (kept as the job's return value). */
export interface TargetJobResult {
  outcome: 'applied' | 'skipped';
  operation: string;
  reason?: string;
  remoteId?: string;
  changedAttributes?: string[];
  /** Only for `pull-user` in `refresh` mode: the remote user, or null when absent. */
  remote?: RemoteUser | null;
}

/** Deduplication ids: one waiting + one running job per (queue, kind, user). */
export const dedupId = {
  push: (userId: string) => `push-user-${userId}`,
  password: (userId: string) => `set-password-${userId}`,
  pull: (userId: string) => `pull-user-${userId}`,
  apply: (source: Target, key: string) => `apply-user-${source}-${key}`,
};

/** The associated data that binds a password envelope to one (target, user). */
export const passwordAad = (target: Target, userId: string) => `idsync:password:${target}:${userId}`;

/** Backoff type registered by the worker runtime: Retry-After aware, exponential with jitter. */
export const BACKOFF_TYPE = 'idsync';

/** Validates a payload against its schema; the runtime calls this before processing. */
export function parseJobData<Q extends keyof Schemas>(queue: Q, name: string, data: unknown): JobMap[Q][keyof JobMap[Q]] {
  const schema = (JOB_SCHEMAS[queue] as Record<string, z.ZodType>)[name];
  if (!schema) throw new Error(`unknown job name "${name}" on queue "${queue}"`);
  return schema.parse(data) as JobMap[Q][keyof JobMap[Q]];
}

/**
 * Progress of long sync-queue work (provision, full sync), in users, kept on the job
 * (`job.progress`) so the CLI, the client and the dashboard read one shape.
 */
export interface SyncProgress {
  phase: 'listing' | 'planning' | 'applying' | 'done';
  /** Users handled so far in this phase. */
  done: number;
  /** Users this phase will handle; undefined while still counting. */
  total?: number;
  /** Estimated milliseconds left, from the rate so far; undefined until it can be told. */
  etaMs?: number;
  target?: Target;
}

/** What a finished `provision` job returns. */
export interface ProvisionResult {
  direction: 'to-target' | 'from-target';
  /**
   * Per target: users taken into account (= the other four added up), jobs that succeeded or
   * were skipped, users that failed (a job that failed, or an application row too bad to push),
   * and named ids (`{ ids }` to a target, `{ remoteIds }`) that name nobody.
   */
  targets: Partial<Record<Target, { users: number; succeeded: number; skipped: number; failed: number; notFound: number }>>;
  durationMs: number;
}
