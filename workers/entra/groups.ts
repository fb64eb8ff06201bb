import { PermanentError, TransientError } from '../../shared/errors.js';
import type { CallOptions, GraphClient, GraphReply } from './client.js';
import { INVISIBLE } from './consistency.js';
import { directoryObjectSchema, pageSchema } from './entities.js';
import { malformedSuccess } from './errors.js';
import { PERMISSION } from './permissions.js';

/**
 * Direct group memberships: make a user's direct groups equal to the app's list of display
 * names by sending only the difference as `members/$ref` writes (reference §4). Adding an
 * existing membership (400 "already exist") and removing a missing one (404) count as done.
 *
 * Groups are administered in Entra: a name Entra does not have is not created (a typo would
 * become a new, empty group). The rest of the difference is applied, then the job fails
 * naming the missing groups. Dynamic groups are neither added to nor removed from: Entra
 * computes their members from a rule and refuses member writes.
 */

export interface GroupRef {
  id: string;
  displayName: string;
  dynamic: boolean;
}

export interface GroupPlan {
  add: GroupRef[];
  remove: GroupRef[];
  /** Desired names Entra has no group for. */
  missing: string[];
}

export interface GroupDirectoryOptions {
  /** How long a name → id resolution is trusted. @defaultValue 600000 */
  cacheTtlMs?: number;
}

/** Display name → group, cached: memberships are set on every push, group names rarely change. */
export class GroupDirectory {
  readonly #client: GraphClient;
  readonly #ttlMs: number;
  readonly #byName = new Map<string, { group: GroupRef; at: number }>();

  constructor(client: GraphClient, options: GroupDirectoryOptions = {}) {
    this.#client = client;
    this.#ttlMs = options.cacheTtlMs ?? 600_000;
  }

  /** The group of each name (case-insensitive); null when Entra has none. Two groups of one name are an error. */
  async resolve(names: readonly string[], options: CallOptions): Promise<Map<string, GroupRef | null>> {
    const out = new Map<string, GroupRef | null>();
    await Promise.all(
      names.map(async (name) => {
        const key = name.toLowerCase();
        const cached = this.#byName.get(key);
        if (cached && Date.now() - cached.at < this.#ttlMs) return out.set(key, cached.group);
        const reply = await this.#client.get('/groups', {
          ...options,
          query: { $filter: `displayName eq ${odataString(name)}`, $select: 'id,displayName,groupTypes', $top: 2 },
          subject: name,
          permission: PERMISSION.readGroups,
        });
        const found = parseObjects(reply).items.filter((g) => g.displayName?.toLowerCase() === key);
        if (found.length > 1) {
          throw new PermanentError(`Entra has ${found.length} groups named "${name}" (${found.map((g) => g.id).join(', ')}); rename one so idsync can tell them apart`, { code: 'AMBIGUOUS_GROUP' });
        }
        const g = found[0];
        const group = g ? { id: g.id, displayName: g.displayName ?? name, dynamic: isDynamic(g.groupTypes) } : null;
        // A miss is not cached: the operator who creates the group replays the job at once.
        if (group) this.#byName.set(key, { group, at: Date.now() });
        out.set(key, group);
      }),
    );
    return out;
  }

  /** Drops every cached name (a group vanished or was renamed). */
  forget(): void {
    this.#byName.clear();
  }
}

/** The user's direct group memberships (directory roles and other object types left out). */
export async function directGroups(client: GraphClient, userId: string, options: CallOptions & { subject?: string }): Promise<GroupRef[]> {
  const out: GroupRef[] = [];
  let link: string | undefined = `/users/${userId}/memberOf`;
  let query: Record<string, string | number> | undefined = { $select: 'id,displayName,groupTypes', $top: 999 };
  while (link) {
    const reply: GraphReply = await client.get(link, { ...options, query, subject: options.subject, permission: PERMISSION.readGroups });
    const page = parseObjects(reply);
    for (const g of page.items) {
      if (g['@odata.type'] !== undefined && g['@odata.type'] !== '#microsoft.graph.group') continue;
      out.push({ id: g.id, displayName: g.displayName ?? g.id, dynamic: isDynamic(g.groupTypes) });
    }
    link = page.nextLink;
    query = undefined;
  }
  return out;
}

export function planGroups(current: readonly GroupRef[], desired: readonly string[], resolved: ReadonlyMap<string, GroupRef | null>): GroupPlan {
  const want = new Map<string, GroupRef>();
  const missing: string[] = [];
  for (const name of desired) {
    const g = resolved.get(name.toLowerCase());
    if (g) want.set(g.id, g);
    else missing.push(name);
  }
  const have = new Set(current.map((g) => g.id));
  return {
    add: [...want.values()].filter((g) => !have.has(g.id) && !g.dynamic),
    remove: current.filter((g) => !want.has(g.id) && !g.dynamic),
    missing,
  };
}

export const isEmptyPlan = (plan: GroupPlan): boolean => plan.add.length === 0 && plan.remove.length === 0;

export interface ApplyGroupsOptions extends CallOptions {
  subject: string;
  /** The user was created or restored by this job: a 404 on its membership is eventual consistency, not a vanished group. */
  justCreated: boolean;
  /** Waits out eventual consistency after a create. */
  whileInvisible<T>(step: () => Promise<T | typeof INVISIBLE>): Promise<T>;
}

/** Sends the planned adds and removes at once (they share `$batch`es); resolves whether anything changed. */
export async function applyGroupPlan(client: GraphClient, groups: GroupDirectory, userId: string, plan: GroupPlan, options: ApplyGroupsOptions): Promise<boolean> {
  const ref = { '@odata.id': `${client.baseUrl}v1.0/directoryObjects/${userId}` };
  const call = { abortSignal: options.abortSignal, permission: PERMISSION.writeMembers };
  const results = await Promise.allSettled([
    ...plan.add.map((g) =>
      options.whileInvisible(async () => {
        const reply = await client.write('POST', `/groups/${g.id}/members/$ref`, { ...call, json: ref, accept: [400, 404], subject: `${options.subject} → ${g.displayName}`, idempotent: true });
        if (reply.status === 400 && /already exist/i.test(reply.error?.message ?? '')) return false;
        if (reply.status === 404) {
          // The user may not be visible yet, or the group is gone: either way, names are resolved afresh next time.
          groups.forget();
          if (options.justCreated) return INVISIBLE;
          throw new TransientError(`Entra group "${g.displayName}" or user ${options.subject} vanished while adding the membership; retried with fresh names`, { status: 404, code: reply.error?.code });
        }
        if (reply.status >= 400) throw client.refusal(reply);
        return true;
      }),
    ),
    ...plan.remove.map(async (g) => {
      const reply = await client.write('DELETE', `/groups/${g.id}/members/${userId}/$ref`, { ...call, accept: [404], subject: `${options.subject} ✕ ${g.displayName}` });
      return reply.status !== 404;
    }),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  if (plan.missing.length) {
    throw new PermanentError(
      `Entra has no group ${plan.missing.map((g) => `"${g}"`).join(', ')} for user ${options.subject}; idsync does not create groups: create ${plan.missing.length === 1 ? 'it' : 'them'} in Entra (or fix the app's group list) and replay this job. The other membership changes were applied.`,
      { code: 'GROUP_NOT_FOUND', status: 404 },
    );
  }
  return results.some((r) => r.status === 'fulfilled' && r.value === true);
}

/** An OData string literal: quotes doubled (reference §12.5); the client percent-encodes it. */
export const odataString = (value: string): string => `'${value.replace(/'/g, "''")}'`;

const isDynamic = (types: readonly string[] | null | undefined): boolean => (types ?? []).includes('DynamicMembership');

function parseObjects(reply: GraphReply) {
  const page = pageSchema.safeParse(reply.json);
  if (!page.success) throw malformedSuccess(reply.call, reply.raw, 'a body without a "value" list');
  const items = page.data.value.flatMap((v) => {
    const o = directoryObjectSchema.safeParse(v);
    return o.success ? [o.data] : [];
  });
  return { items, nextLink: page.data['@odata.nextLink'] };
}
