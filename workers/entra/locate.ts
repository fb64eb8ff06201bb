import { PermanentError } from '../../shared/errors.js';
import type { CallOptions, GraphClient } from './client.js';
import { pageSchema, type GraphUser } from './entities.js';
import { malformedSuccess } from './errors.js';
import { odataString } from './groups.js';
import { PERMISSION } from './permissions.js';
import { parseUser } from './pull.js';

/**
 * Finding the Entra user a snapshot belongs to (design decision 3, reference §3.5): by the
 * linked object id, in deleted items when a soft-deleted linked user comes back, else by
 * the configured match attributes in order. A match attribute that finds two users is an
 * error for an operator, never a guess (design decision 9).
 */

export interface FindOptions extends CallOptions {
  /** `$select` for the user read. */
  select: string;
  subject?: string | undefined;
}

/** Attributes that only `ConsistencyLevel: eventual` + `$count=true` may filter on (reference §3.1). */
const ADVANCED = new Set(['onPremisesImmutableId']);

/** `/users/{key}`; a UPN starting with `$` needs the key syntax (reference §3.1). */
export function userPath(key: string): string {
  return key.startsWith('$') ? `/users('${encodeURIComponent(key.replace(/'/g, "''"))}')` : `/users/${encodeURIComponent(key)}`;
}

/** The live user by object id or UPN; null on 404. */
export async function findUser(client: GraphClient, key: string, options: FindOptions): Promise<GraphUser | null> {
  const reply = await client.get(userPath(key), {
    abortSignal: options.abortSignal,
    query: { $select: options.select },
    accept: [404],
    subject: options.subject ?? key,
    permission: PERMISSION.readUsers,
  });
  return reply.status === 404 ? null : parseUser(reply);
}

/** Whether the object id is in deleted items (a soft-deleted user, restorable for 30 days). */
export async function isDeleted(client: GraphClient, id: string, options: CallOptions & { subject?: string }): Promise<boolean> {
  const reply = await client.get(`/directory/deletedItems/${id}`, {
    ...options,
    query: { $select: 'id' },
    accept: [404],
    permission: PERMISSION.restoreUsers,
  });
  return reply.status !== 404;
}

/** `POST /directory/deletedItems/{id}/restore`; false when it is no longer there. */
export async function restoreUser(client: GraphClient, id: string, options: CallOptions & { subject?: string }): Promise<boolean> {
  const reply = await client.write('POST', `/directory/deletedItems/${id}/restore`, { ...options, accept: [404], permission: PERMISSION.restoreUsers });
  return reply.status !== 404;
}

/** The one user whose attribute equals the value; null when none; an error when several. */
export async function findByAttribute(client: GraphClient, attribute: string, value: string, options: FindOptions): Promise<GraphUser | null> {
  if (attribute === 'userPrincipalName') return findUser(client, value, options);
  const advanced = ADVANCED.has(attribute);
  const reply = await client.get('/users', {
    abortSignal: options.abortSignal,
    query: { $filter: `${attribute} eq ${odataString(value)}`, $select: options.select, $top: 2, ...(advanced && { $count: 'true' }) },
    ...(advanced && { headers: { ConsistencyLevel: 'eventual' } }),
    subject: `${attribute} ${value}`,
    permission: PERMISSION.readUsers,
  });
  const page = pageSchema.safeParse(reply.json);
  if (!page.success) throw malformedSuccess(reply.call, reply.raw, 'a body without a "value" list');
  const users = page.data.value.map((u) => parseUser(reply, u));
  if (users.length > 1) {
    throw new PermanentError(
      `${users.length} Entra users have ${attribute} "${value}" (${users.map((u) => u.userPrincipalName || u.id).join(', ')}); idsync will not guess: link the right one or fix the data`,
      { code: 'AMBIGUOUS_MATCH' },
    );
  }
  return users[0] ?? null;
}
