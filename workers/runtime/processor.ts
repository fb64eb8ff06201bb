import type { Job, Queue } from 'bullmq';
import { ZodError } from 'zod';
import type { AuditEntry, AuditLog, AuditStatus } from '../../shared/audit.js';
import type { Keyring } from '../../shared/crypto.js';
import { PermanentError } from '../../shared/errors.js';
import {
  JOB_NAMES,
  SCHEMA_VERSION,
  parseJobData,
  passwordAad,
  type ApplyUserData,
  type PullUserData,
  type PushUserData,
  type SetPasswordData,
  type Target,
  type TargetJobResult,
  type UserSnapshot,
} from '../../shared/jobs.js';
import type { LinkStore, LinkUpdate } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import type { Authority } from '../../shared/config.js';
import type { AppField } from '../../shared/jobs.js';
import { ownedByTarget, withTargetValues } from './authority.js';
import { isSyncSource, type ApplyResult, type ConnectorContext, type TargetConnector } from './connector.js';
import { decideFailure } from './failures.js';
import type { RuntimeMetrics } from './metrics.js';
import type { Quarantine } from './quarantine.js';

/** From 1e12 a version reads as ms since the epoch (Sep 2001 on); row versions stay far below. */
const CLOCK_VERSION_MIN = 1e12;
const isClockVersion = (version: number) => version >= CLOCK_VERSION_MIN;
const MIXED_SCHEMES = '; versions must come from one scheme per user (a row version, or an updated-at in ms as the client uses when version is omitted), not both';

interface PendingLink {
  userId: string;
  update: LinkUpdate;
}

export interface ProcessorDeps {
  target: Target;
  connector: TargetConnector;
  links: LinkStore;
  audit: AuditLog;
  queue: Queue;
  /** Where pulled users go to be applied to the application. */
  appQueue: Queue;
  quarantine: Quarantine;
  keyring: Keyring | undefined;
  logger: Logger;
  metrics: RuntimeMetrics;
  /** True once shutdown has given up waiting and aborted active jobs. */
  isReleasing(): boolean;
  /** Which side wins each attribute (SYNC_AUTHORITY_*): a push never overwrites what the target owns. */
  authority?: Readonly<Record<AppField, Authority>>;
}

/**
 * The processor every target worker runs: validates the payload, skips stale
 * snapshots, calls the connector, records the link, and audits and logs every
 * attempt outcome. Failures are classified in failures.ts.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { target, connector, links, audit } = deps;
  const owned = ownedByTarget(deps.authority);

  return async function process(job: Job, _token?: string, signal?: AbortSignal): Promise<TargetJobResult> {
    const started = Date.now();
    const attempt = job.attemptsMade + 1;
    const subject = String((job.data as { user?: { id?: unknown } })?.user?.id ?? 'unknown');
    const logger = deps.logger.child({ target, jobId: job.id, jobName: job.name, userId: subject, attempt });
    const abortSignal = signal ?? new AbortController().signal;
    let operation = job.name === JOB_NAMES.setPassword ? 'password' : job.name === JOB_NAMES.pullUser ? 'pull' : 'upsert';

    // The link a successful write leaves, sent together with the job's audit entry.
    let pendingLink: PendingLink | undefined;
    const record = async (status: AuditStatus, extra: { error?: string; changedAttributes?: string[] } = {}) => {
      const durationMs = Date.now() - started;
      deps.metrics.outcomes.inc({ target, job: job.name, operation, status });
      deps.metrics.duration.observe({ target, job: job.name }, durationMs / 1000);
      const entry: AuditEntry = {
        time: Date.now(), target, operation, resource: 'user', subject, status, attempt, durationMs,
        jobId: job.id, ...extra,
      };
      const link = pendingLink;
      pendingLink = undefined;
      // Sent back to back on one connection, so Redis applies the link first; one wait instead
      // of two. Should the link write fail, the job is retried and audited again after this
      // entry. (An ioredis pipeline costs more here: it copies every script BullMQ defined.)
      await Promise.all([link && links.update(target, link.userId, link.update), audit.append(entry)]);
    };

    try {
      const data = parse(job);
      const link = await links.get(target, data.user.id);
      const context: ConnectorContext = { link, logger, abortSignal, jobId: job.id!, attempt };
      let result: TargetJobResult;

      if (job.name === JOB_NAMES.pushUser) {
        const push = data as PushUserData;
        operation = push.op;
        // Live events must be newer than what was applied; provisioning, syncs and replays
        // re-assert the app's current state, so the same version passes for them.
        const reassert = push.origin !== undefined && push.origin !== 'event';
        if (link?.version !== undefined && (reassert ? push.user.version < link.version : push.user.version <= link.version)) {
          const mixed = isClockVersion(push.user.version) !== isClockVersion(link.version);
          const reason = `stale: version ${push.user.version} is not newer than applied version ${link.version}${mixed ? MIXED_SCHEMES : ''}`;
          // A row version after a clock-based one (or the reverse) means every later event of
          // this user is skipped, silently for the caller: say so loudly.
          if (mixed) logger.warn({ version: push.user.version, appliedVersion: link.version }, `skipped snapshot: versions of one user mixed schemes${MIXED_SCHEMES}`);
          else logger.info({ version: push.user.version, appliedVersion: link.version }, 'skipped stale snapshot');
          await record('skipped', { error: reason });
          return { outcome: 'skipped', operation: push.op, reason };
        }
        const applied = push.op === 'upsert'
          ? await connector.upsertUser(await asTargetOwns(push.user, context), context)
          : await connector.deleteUser(push.user, context);
        pendingLink = await saveLink(push.user.id, push.user.version, applied);
        operation = applied.operation;
        if (applied.skippedReason) {
          logger.info({ operation: applied.operation, reason: applied.skippedReason }, 'skipped by the connector');
          await record('skipped', { error: applied.skippedReason });
          return { outcome: 'skipped', operation: applied.operation, reason: applied.skippedReason, ...(applied.remoteId && { remoteId: applied.remoteId }) };
        }
        deps.metrics.latency.observe({ target }, (Date.now() - push.enqueuedAt) / 1000);
        result = { outcome: 'applied', operation: applied.operation, ...(applied.remoteId && { remoteId: applied.remoteId }), ...(applied.changedAttributes && { changedAttributes: applied.changedAttributes }) };
      } else if (job.name === JOB_NAMES.setPassword) {
        const pw = data as SetPasswordData;
        if (Date.now() > pw.expiresAt) {
          throw new PermanentError(`password change expired at ${new Date(pw.expiresAt).toISOString()} before it could be applied; it was not applied (ask the user to set it again)`);
        }
        if (!deps.keyring) throw new PermanentError('this worker has no IDSYNC_SECRET_KEY, so it cannot decrypt the password');
        let password: string;
        try {
          password = deps.keyring.decrypt(pw.password, passwordAad(target, pw.user.id));
        } catch {
          // Sealed for another user or target, tampered with, or under a key this worker does not
          // hold: retrying cannot change that, and the connector is never called.
          throw new PermanentError('the password envelope does not open for this user and target (moved from another job, tampered with, or sealed under a key this worker lacks); it was not applied');
        }
        const applied = await connector.setPassword(pw.user, password, context);
        pendingLink = await saveLink(pw.user.id, undefined, applied);
        result = { outcome: 'applied', operation: applied.operation };
      } else {
        const pull = data as PullUserData;
        const remote = await connector.getUser(pull.user, context);
        if (remote) await links.update(target, pull.user.id, { remoteId: remote.remoteId, remoteName: remote.username });
        if (pull.mode === 'pull') {
          const apply: ApplyUserData = { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), appUserId: pull.user.id, remote, source: target, action: 'pull' };
          await deps.appQueue.add(JOB_NAMES.applyUser, apply, { removeOnComplete: { age: 3600 }, removeOnFail: { age: 30 * 86_400 }, attempts: job.opts.attempts ?? 1 });
        }
        result = { outcome: 'applied', operation: 'pull', remote };
      }

      logger.info({ operation: result.operation, durationMs: Date.now() - started, changedAttributes: result.changedAttributes }, 'job applied');
      await record('succeeded', result.changedAttributes ? { changedAttributes: result.changedAttributes } : {});
      return result;
    } catch (err) {
      const decision = await decideFailure(err, job, { queue: deps.queue, quarantine: deps.quarantine, released: deps.isReleasing() && abortSignal.aborted });
      const level = decision.status === 'failed' ? 'error' : 'warn';
      logger[level]({ status: decision.status, reason: decision.reason }, `job ${decision.status}`);
      await record(decision.status, { error: decision.reason }).catch((e) => logger.error({ err: e }, 'audit write failed'));
      throw decision.toThrow;
    }
  };

  // Fields the target owns take its current values (one extra read, only when the
  // configuration gives the target a pushed field and the user is linked).
  async function asTargetOwns(user: UserSnapshot & { version: number }, context: ConnectorContext): Promise<UserSnapshot & { version: number }> {
    if (!owned.length || !context.link?.remoteId || !isSyncSource(connector)) return user;
    const remote = await connector.readUser(context.link.remoteId, { abortSignal: context.abortSignal, profileOnly: true });
    if (!remote) return user;
    const appUsername = owned.includes('username') ? await connector.appUsername(remote, { abortSignal: context.abortSignal }) : undefined;
    return withTargetValues(user, remote, owned, appUsername);
  }

  // An unlink is sent at once; an update is returned, to go out with the audit entry (see record).
  async function saveLink(userId: string, version: number | undefined, applied: ApplyResult): Promise<PendingLink | undefined> {
    if (applied.unlink) {
      await links.remove(target, userId);
      return undefined;
    }
    return {
      userId,
      update: {
        ...(version !== undefined && { version }),
        ...(applied.remoteId && { remoteId: applied.remoteId }),
        ...(applied.remoteName && { remoteName: applied.remoteName }),
        ...(applied.writtenHash && { writtenHash: applied.writtenHash }),
      },
    };
  }

  function parse(job: Job) {
    try {
      return parseJobData(target, job.name, job.data) as PushUserData | SetPasswordData | PullUserData;
    } catch (err) {
      const detail = err instanceof ZodError ? err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') : (err as Error).message;
      throw new PermanentError(`invalid ${job.name} payload: ${detail}`);
    }
  }
}
