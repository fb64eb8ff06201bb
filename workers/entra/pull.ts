import { PermanentError } from '../../shared/errors.js';
import type { RemoteUser } from '../../shared/jobs.js';
import type { CallOptions, GraphClient, GraphReply } from './client.js';
import { BASE_SELECT, graphUserSchema, pageSchema, toGraphUser, type GraphUser } from './entities.js';
import { malformedSuccess } from './errors.js';
import { directGroups } from './groups.js';
import type { DesiredUser, EntraMapping } from './mapping.js';
import { PERMISSION } from './permissions.js';
import type { PhotoStore } from './photos.js';

/**
 * Reading users out of Entra: one user with its groups and photo, and every user as an async
 * iterator over `GET /users?$select=…&$top=999` pages (1 resource unit per page with
 * `$select`, reference §7.1), following the opaque `@odata.nextLink` as given.
 */

export interface PullOptions extends CallOptions {
  /** Also read each user's direct groups (one more request per user). @defaultValue false */
  groups?: boolean;
  /** Also read each user's photo, bytes only when changed (one more request per user). @defaultValue false */
  photos?: boolean;
}

export interface ListUsersOptions extends PullOptions {
  /** Users per page, 1–999. @defaultValue 999 */
  pageSize?: number;
  /** An OData `$filter` of default (non-advanced) properties, e.g. `accountEnabled eq true`. */
  filter?: string;
}

export interface PullDeps {
  client: GraphClient;
  mapping: EntraMapping;
  photos: PhotoStore;
}

/** `$select` for user reads: what the app shape needs plus everything the mapping manages. */
export function userSelect(mapping: EntraMapping, desired?: DesiredUser): string {
  return [...new Set([...BASE_SELECT, ...mapping.selectFor(desired)])].join(',');
}

/** A user object from a reply body; a body of another shape is a malformed reply. */
export function parseUser(reply: GraphReply, body: unknown = reply.json): GraphUser {
  const parsed = graphUserSchema.safeParse(body);
  if (!parsed.success) throw malformedSuccess(reply.call, reply.raw, 'a body that is not a user object');
  return toGraphUser(parsed.data);
}

/** The user in the app's shape, with direct group names and the photo when asked for. */
export async function toRemoteUser(deps: PullDeps, user: GraphUser, options: PullOptions): Promise<RemoteUser> {
  const call = { abortSignal: options.abortSignal, subject: user.userPrincipalName };
  const [groups, photo] = await Promise.all([
    options.groups ? directGroups(deps.client, user.id, call) : undefined,
    options.photos ? deps.photos.read(deps.client, user.id, call) : undefined,
  ]);
  return deps.mapping.toRemote(user, {
    ...(groups && { groups: groups.map((g) => g.displayName) }),
    ...(photo !== undefined && { photo }),
  });
}

/** Every user, page by page; pages are never re-requested, so nothing repeats or goes missing between them. */
export async function* listUsers(deps: PullDeps, options: ListUsersOptions = {}): AsyncIterableIterator<RemoteUser> {
  const top = Math.max(1, Math.min(999, options.pageSize ?? 999));
  let link: string | undefined = '/users';
  let query: Record<string, string | number> | undefined = { $select: userSelect(deps.mapping), $top: top, ...(options.filter && { $filter: options.filter }) };
  let empty = 0;
  while (link) {
    const reply: GraphReply = await deps.client.get(link, { abortSignal: options.abortSignal, query, permission: PERMISSION.readUsers });
    const page = pageSchema.safeParse(reply.json);
    if (!page.success) throw malformedSuccess(reply.call, reply.raw, 'a body without a "value" list');
    for (const item of page.data.value) yield toRemoteUser(deps, parseUser(reply, item), options);
    empty = page.data.value.length ? 0 : empty + 1;
    link = page.data['@odata.nextLink'];
    if (link !== undefined) checkEmptyPages(empty, reply);
    query = undefined;
  }
}

/** Graph may send an empty page with a nextLink, but not forever (reference §2.5): stop instead of looping. */
export function checkEmptyPages(emptyInARow: number, reply: GraphReply, limit = 100): void {
  if (emptyInARow < limit) return;
  throw new PermanentError(`Graph answered ${reply.call.method} ${reply.call.path} with ${emptyInARow} empty pages in a row, each with a nextLink; stopping instead of looping`, { code: 'NEXTLINK_LOOP' });
}
