import type { Target } from '../../shared/jobs.js';
import type { AppUserValues } from '../runtime/authority.js';

/**
 * The application side of idsync: one port, three adapters (the application's SQL users
 * table through pg or embedded PGlite, a signed webhook, or the application's own
 * `client.onPulledChange` handler). Full syncs and provisioning read application users
 * through `list` / `get`; pulled changes, imports and disables arrive through `apply`,
 * `setRoles` and `setPhoto`, always from an `apply-user` job on the `app` queue.
 *
 * Every method must be idempotent: jobs are delivered at least once.
 */

/** An application user as idsync sees it. */
export interface AppUser {
  id: string;
  username: string;
  email: string;
  firstName?: string;
  lastName?: string;
  displayName?: string;
  active: boolean;
  groups?: string[];
  roles?: string[];
  attributes?: Record<string, string | string[]>;
  /** SHA-256 (hex) of the stored photo, when the application keeps one. */
  photoHash?: string;
  /** Grows on every change (a row version or updated-at in ms); undefined = compare hashes. */
  version?: number;
}

/** Profile values a change sets (absent = left alone, `null` = cleared); shared with the push side. */
export type { AppUserValues } from '../runtime/authority.js';

export interface AppPhoto {
  /** SHA-256 (hex) of `data`. */
  hash: string;
  contentType: string;
  data: Buffer;
}

/**
 * A change to apply. Without `id` the user is created, unless one with the same username
 * (case-insensitively) or, failing that, the same e-mail exists, which is then updated
 * instead: an import retried after a lost reply must not create a second user.
 */
export interface AppChange {
  id?: string;
  values: AppUserValues;
  /** Where the change comes from, for the adapter's own audit (webhook body, SQL nothing). */
  source: Target;
  /** The remote user's stable id on `source`. */
  remoteId?: string;
}

export interface AppApplyResult {
  /** The application user's id (new when the change created one). */
  id: string;
  created: boolean;
  /** Names of the fields whose stored value changed (empty = nothing to do). */
  changed: string[];
}

export interface DirectoryCallOptions {
  abortSignal?: AbortSignal;
}

export interface ListAppUsersOptions extends DirectoryCallOptions {
  /** Users per page. @defaultValue 1000 */
  pageSize?: number;
}

export interface UserDirectory {
  /** What backs it, for logs and `idsync doctor`: `sql`, `embedded`, `webhook`, `client`. */
  readonly kind: string;
  /**
   * Every application user, one page at a time, in a stable order, never the whole table
   * at once. A failure mid-way throws: a caller must never take a cut-short listing as
   * complete (absence is not deletion).
   */
  list(options?: ListAppUsersOptions): AsyncIterableIterator<AppUser[]>;
  get(id: string, options?: DirectoryCallOptions): Promise<AppUser | null>;
  apply(change: AppChange, options?: DirectoryCallOptions): Promise<AppApplyResult>;
  /** Replaces the user's roles; false when the user does not exist. */
  setRoles(id: string, roles: readonly string[], options?: DirectoryCallOptions): Promise<boolean>;
  /** Stores (or with null, removes) the user's photo; false when the user does not exist. */
  setPhoto(id: string, photo: AppPhoto | null, options?: DirectoryCallOptions): Promise<boolean>;
  close(): Promise<void>;
}
