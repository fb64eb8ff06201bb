import type { Cluster, Redis } from 'ioredis';
import type { ProvisionResult, SyncProgress, Target } from '../shared/jobs.js';

export interface SyncClientOptions {
  /** @defaultValue `REDIS_URL`, else `redis://127.0.0.1:6379` */
  redisUrl?: string;
  /** An existing ioredis connection (a `Redis`, or a `Cluster` with a hash-tagged prefix) to share; the client then does not close it. */
  connection?: Redis | Cluster;
  /** BullMQ key prefix. @defaultValue `IDSYNC_PREFIX`, else `{idsync}` */
  prefix?: string;
  /** Targets every event goes to. @defaultValue `IDSYNC_TARGETS`, else every target with settings in the environment */
  targets?: readonly Target[];
  /** Key for password envelopes, base64 or hex (32 bytes). @defaultValue `IDSYNC_SECRET_KEY` */
  secretKey?: string;
  /** How long a password job may wait before it fails as stale. @defaultValue `IDSYNC_PASSWORD_TTL_MS`, else 1 hour */
  passwordTtlMs?: number;
  /** Attempts per job before it lands in the failed set. @defaultValue `IDSYNC_ATTEMPTS`, else 8 */
  attempts?: number;
  /** First retry delay; doubles per attempt, with jitter. @defaultValue `IDSYNC_BACKOFF_MS`, else 1000 */
  backoffMs?: number;
  /**
   * Per-user coalescing window: a user's first change is enqueued at once; further changes
   * within this many ms wait for the window's end and merge into one job (newest wins), so a
   * burst costs a leading and a trailing remote write. 0 = every change runs as soon as it can.
   * @defaultValue `IDSYNC_COALESCE_WINDOW_MS`, else 1000
   */
  coalesceWindowMs?: number;
}

export interface EnqueueOptions {
  /** Restrict this call to some of the client's targets. */
  targets?: readonly Target[];
}

export interface ProvisionOptions extends EnqueueOptions {
  /**
   * `to-target` pushes application users to the targets; `from-target` imports remote users
   * into the application (scope `{ remoteIds }`: Crowd names or keys, Entra object ids or UPNs).
   * @defaultValue 'to-target'
   */
  direction?: 'to-target' | 'from-target';
}

export interface RefreshOptions {
  target: Target;
  /** How long to wait for the worker's answer. @defaultValue 10000 */
  timeoutMs?: number;
}

/** One accepted job per target. */
export interface Enqueued {
  target: Target | 'sync';
  jobId: string;
}

/** An accepted provision job, to watch or await. */
export interface ProvisionRun {
  target: 'sync';
  jobId: string;
  /** The job's latest progress; undefined before it reported any, or once it is gone. */
  progress(): Promise<SyncProgress | undefined>;
  /** Resolves with the job's result, rejects with its failed reason (or after `timeoutMs`, when given). */
  finished(options?: { timeoutMs?: number; onProgress?: (progress: SyncProgress) => void }): Promise<ProvisionResult>;
}
