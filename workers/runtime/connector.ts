import type { Logger } from '../../shared/logger.js';
import type { Link } from '../../shared/links.js';
import type { RemoteUser, Target, UserRef, UserSnapshot } from '../../shared/jobs.js';

/**
 * What a target worker (workers/crowd, workers/entra) implements. The runtime owns
 * queues, retries, versions, links, audit and shutdown; a connector only talks to its
 * remote and throws errors from shared/errors.ts so the runtime can classify them.
 * Every method must be idempotent (design decision 4): jobs are delivered at least once.
 */
export interface TargetConnector {
  readonly target: Target;
  /** Make the remote user look like the snapshot (create, update, rename, activate, groups). */
  upsertUser(user: UserSnapshot & { version: number }, context: ConnectorContext): Promise<ApplyResult>;
  /** Apply the target's delete policy; a user already gone counts as done. */
  deleteUser(user: UserRef, context: ConnectorContext): Promise<ApplyResult>;
  /** The plaintext exists only for the duration of this call. */
  setPassword(user: UserRef, password: string, context: ConnectorContext): Promise<ApplyResult>;
  /** The remote user mapped to the application's shape, or null when it does not exist. */
  getUser(user: UserRef, context: ConnectorContext): Promise<RemoteUser | null>;
  /** A cheap authenticated call; throws a ConfigurationError while credentials are bad. */
  probe(options: { abortSignal?: AbortSignal }): Promise<void>;
  close?(): Promise<void>;
}

export interface ConnectorContext {
  /** The stored link for this user on this target, if any. */
  link: Link | undefined;
  /** Scoped to { target, jobId, jobName, userId, attempt }. */
  logger: Logger;
  /** Aborted on shutdown timeout; pass it to every HTTP call. */
  abortSignal: AbortSignal;
  jobId: string;
  attempt: number;
}

export type Operation =
  | 'create'
  | 'update'
  | 'rename'
  | 'disable'
  | 'delete'
  | 'restore'
  | 'password'
  | 'pull'
  | 'noop';

export interface ApplyResult {
  operation: Operation;
  /** Stable remote id to link (Crowd `key`, Entra object id). */
  remoteId?: string;
  /** The remote's current name for the user. */
  remoteName?: string;
  /** Hash of the mapped attributes now on the remote. */
  writtenHash?: string;
  /** Names (never values) of the attributes this write changed, for the audit log. */
  changedAttributes?: string[];
  /** The remote user no longer exists (hard delete): drop the link. */
  unlink?: boolean;
  /**
   * Set when the connector deliberately wrote nothing, with the reason (e.g. an Entra user
   * mastered on-premises): the job completes as `skipped` and the reason is audited.
   */
  skippedReason?: string;
}

/** One change from an incremental pull. `resync`: what follows is every user (a fresh round). */
export type RemoteChange =
  | { type: 'resync'; reason: string }
  | { type: 'upsert'; user: RemoteUser }
  | { type: 'removed'; remoteId: string; reason: 'changed' | 'deleted' };

export interface ListRemoteUsersOptions {
  abortSignal?: AbortSignal;
  /** Also read each user's groups (and, for Crowd, roles through CROWD_ROLE_MAP): costs requests per user. */
  groups?: boolean;
}

/**
 * What full syncs, imports and incremental pulls need beyond pushing (workers/sync). Both
 * connectors implement it; the test doubles of the push path need not.
 */
export interface SyncSource {
  /** Every remote user; throws when the listing fails or is cut short (never ends early). */
  listUsers(options?: ListRemoteUsersOptions): AsyncIterableIterator<RemoteUser>;
  /**
   * Users changed since the last completed round. `since` is the caller's bookmark for
   * targets without server-side tokens (Crowd); Graph keeps its own delta token.
   */
  listChanges(options: { since: Date | undefined; abortSignal?: AbortSignal }): AsyncIterableIterator<RemoteChange>;
  /** One remote user by stable id or remote name (Crowd name or key; Entra object id or UPN); `profileOnly` skips groups and photo. */
  readUser(idOrName: string, options?: { abortSignal?: AbortSignal; profileOnly?: boolean }): Promise<RemoteUser | null>;
  /**
   * What the remote user would look like, in the app's shape, once this snapshot is pushed:
   * the connector's own mapping there and back, so a full sync's diff agrees with what a
   * push would write.
   */
  expectedRemote(snapshot: UserSnapshot & { version: number }, options?: { abortSignal?: AbortSignal }): Promise<Omit<RemoteUser, 'remoteId'>>;
  /** The application username a remote user imports as: the inverse of the naming rule, when it has one. */
  appUsername(remote: RemoteUser, options?: { abortSignal?: AbortSignal }): Promise<string>;
}

export type SyncConnector = TargetConnector & SyncSource;

export const isSyncSource = (c: TargetConnector): c is SyncConnector => typeof (c as Partial<SyncSource>).readUser === 'function';
