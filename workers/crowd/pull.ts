import type { RemoteUser } from '../../shared/jobs.js';
import type { CallOptions, CrowdClient } from './client.js';
import type { CrowdUser } from './entities.js';
import { rolesFor } from './groups.js';
import type { CrowdMapping } from './mapping.js';

/**
 * Reading users out of Crowd: one user with its groups and roles, and all users (or those
 * changed since a date) as async iterators over name-ordered search pages.
 */

export interface ListUsersOptions extends CallOptions {
  /** Users per search page (Crowd's default and usual cap is 1000). @defaultValue 1000 */
  pageSize?: number;
  /** Also read custom attributes (`expand=user,attributes`). @defaultValue false */
  attributes?: boolean;
  /** Also read each user's direct and nested groups and map roles: two requests per user. @defaultValue false */
  groups?: boolean;
}

export interface ChangedSinceOptions extends ListUsersOptions {
  /**
   * Look this much further back, for clock skew between idsync and Crowd. Results may then
   * repeat users seen by the previous pull, which pulls tolerate (they are idempotent).
   * @defaultValue 0
   */
  overlapMs?: number;
}

export interface PullDeps {
  client: CrowdClient;
  mapping: CrowdMapping;
  roleMap: Readonly<Record<string, string>>;
}

/** The user in the app's shape, with direct groups and roles from nested groups (as the Drupal module did). */
export async function toRemoteWithGroups(deps: PullDeps, user: CrowdUser, options: CallOptions): Promise<RemoteUser> {
  const [direct, nested] = await Promise.all([
    deps.client.listUserGroups(user.name, 'direct', options),
    deps.client.listUserGroups(user.name, 'nested', options),
  ]);
  return deps.mapping.toRemote(user, { groups: direct ?? [], roles: rolesFor(nested ?? [], deps.roleMap) });
}

/**
 * Every user, page by page in name order. Pages are offset-based and Crowd gives no total,
 * so the walk stops at the first short page; a user seen twice (inserts shift offsets
 * between pages) is yielded once.
 */
export async function* listUsers(deps: PullDeps, options: ListUsersOptions & { restriction?: string } = {}): AsyncIterableIterator<RemoteUser> {
  const pageSize = Math.max(1, Math.min(options.pageSize ?? 1000, 1000));
  const seen = new Set<string>();
  for (let start = 0; ; start += pageSize) {
    const page = await deps.client.searchUsers(
      { startIndex: start, maxResults: pageSize, restriction: options.restriction, attributes: options.attributes ?? false },
      options,
    );
    for (const user of page) {
      const id = user.name.toLowerCase();
      if (seen.has(id)) continue;
      seen.add(id);
      yield options.groups ? await toRemoteWithGroups(deps, user, options) : await deps.mapping.toRemote(user);
    }
    if (page.length < pageSize) return;
  }
}

/**
 * Users whose `updatedDate` is at or after `since` (CQL has only `>`, so one millisecond is
 * taken off). Crowd does not bump `updatedDate` on membership changes and deletions never
 * show up here, so incremental pulls still need periodic full reconciles (reference §6, §15).
 */
export function listUsersChangedSince(deps: PullDeps, since: Date, options: ChangedSinceOptions = {}): AsyncIterableIterator<RemoteUser> {
  const from = new Date(since.getTime() - 1 - (options.overlapMs ?? 0));
  return listUsers(deps, { ...options, restriction: `updatedDate > "${cqlDate(from)}"` });
}

/** `2024-05-01T10:00:00.000+0000`, the one CQL date form with milliseconds and an offset. */
export function cqlDate(d: Date): string {
  return `${d.toISOString().slice(0, 23)}+0000`;
}
