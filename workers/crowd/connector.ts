import { TransientError } from '../../shared/errors.js';
import type { Link } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import type { RemoteUser, UserRef, UserSnapshot } from '../../shared/jobs.js';
import type { ApplyResult, ConnectorContext, ListRemoteUsersOptions, Operation, RemoteChange, SyncConnector } from '../runtime/connector.js';
import { sameValues, uniqueCaseless } from '../runtime/mapping-module.js';
import { randomPassword } from '../runtime/passwords.js';
import { listCrowdChanges } from './changes.js';
import type { CallOptions, CrowdClient } from './client.js';
import { APP_FIELD, PROFILE_FIELDS, profileOf, type CrowdUser, type ProfileField, type UserBody } from './entities.js';
import { isEmailChangeRefusal } from './errors.js';
import type { EventTokenStore } from './events.js';
import { applyGroupPlan, isEmptyPlan, planDirectGroups } from './groups.js';
import { crowdNames, type CrowdMapping, type DesiredUser, type NameField } from './mapping.js';
import {
  listUsers,
  listUsersChangedSince,
  toRemoteWithGroups,
  type ChangedSinceOptions,
  type ListUsersOptions,
  type PullDeps,
} from './pull.js';

export interface CrowdConnectorDeps {
  client: CrowdClient;
  mapping: CrowdMapping;
  deletePolicy: 'deactivate' | 'delete';
  roleMap: Readonly<Record<string, string>>;
  logger: Logger;
  /** Keeps the `/event` token between incremental rounds; without it they read by `updatedDate`. */
  eventTokens?: EventTokenStore | undefined;
}

/**
 * The Crowd side of idsync (TargetConnector). Every method is idempotent (design
 * decision 4) because BullMQ delivers jobs at least once and a write whose reply was lost
 * may have been applied: each retry starts by reading Crowd again.
 *
 * A user is found by the link's Crowd `key` (stable across renames), else by name,
 * case-insensitively. Updates are GET-merge-PUT (PUT /user replaces the whole profile),
 * sent only for what differs; renames are `POST /user/rename`, so the key and the link
 * survive them.
 */
export class CrowdConnector implements SyncConnector {
  readonly target = 'crowd' as const;
  readonly #client: CrowdClient;
  readonly #mapping: CrowdMapping;
  readonly #deletePolicy: 'deactivate' | 'delete';
  readonly #pull: PullDeps;
  readonly #logger: Logger;
  readonly #eventTokens: EventTokenStore | undefined;

  constructor(deps: CrowdConnectorDeps) {
    this.#eventTokens = deps.eventTokens;
    this.#client = deps.client;
    this.#mapping = deps.mapping;
    this.#deletePolicy = deps.deletePolicy;
    this.#pull = { client: deps.client, mapping: deps.mapping, roleMap: deps.roleMap };
    this.#logger = deps.logger;
  }

  async upsertUser(snapshot: UserSnapshot & { version: number }, ctx: ConnectorContext): Promise<ApplyResult> {
    const desired = await this.#mapping.toCrowd(snapshot);
    const call = { abortSignal: ctx.abortSignal };
    const read = { ...call, attributes: this.#mapping.needsAttributes(desired) };
    const link = ctx.link;
    let remote: CrowdUser | null = null;
    // A user idsync has never written is created straight away: Crowd names are unique, so
    // this cannot duplicate, and "already exists" falls through to a read and an update.
    // Retries too: an earlier attempt's create that may have landed is settled by Crowd's
    // "already exists" as surely as by a read first, and a create that failed before Crowd
    // acted on it (the usual 5xx) then costs one request, not two.
    if (link?.remoteId || link?.remoteName) {
      remote = await this.#locate(link, snapshot.username, read, ctx.logger);
    }
    if (!remote) {
      const created = await this.#create(desired, call);
      if (created !== 'exists') return created;
      remote = await this.#client.getUser({ username: desired.body.name }, read);
      if (!remote) throw new TransientError(`Crowd says user ${desired.body.name} already exists but does not return it`);
      ctx.logger.info({ remoteName: remote.name }, 'linked to an existing Crowd user with the same name');
    }
    return this.#update(remote, desired, call);
  }

  async deleteUser(user: UserRef, ctx: ConnectorContext): Promise<ApplyResult> {
    const call = { abortSignal: ctx.abortSignal };
    const remote = await this.#locate(ctx.link, user.username, call, ctx.logger);
    if (!remote) return { operation: 'noop', unlink: true };
    const ids = idsOf(remote);
    if (this.#deletePolicy === 'delete') {
      // false = already gone (a lost reply of an earlier attempt): done either way.
      await this.#client.deleteUser(remote.name, call);
      return { operation: 'delete', remoteName: remote.name, unlink: true };
    }
    if (!remote.active) return { operation: 'noop', ...ids };
    await this.#client.updateUser(remote.name, mergeBody(remote, { name: remote.name, active: false }), call);
    return { operation: 'disable', ...ids, changedAttributes: ['active'] };
  }

  /**
   * A user Crowd does not have yet is a TransientError, not a create: the password job may
   * simply have overtaken the push that creates the user (they travel on separate
   * deduplication lanes), and creating from here would make a profile-less user, or
   * resurrect one the app deleted. The retry finds it once the push has run; if it never
   * does, the job fails with this reason, and password jobs expire anyway.
   */
  async setPassword(user: UserRef, password: string, ctx: ConnectorContext): Promise<ApplyResult> {
    const call = { abortSignal: ctx.abortSignal };
    const remote = await this.#locate(ctx.link, user.username, call, ctx.logger);
    const who = user.username ?? `for app user ${user.id}`;
    if (!remote) throw new TransientError(`Crowd has no user ${who} yet; the password is retried after the push creates it`, { code: 'USER_NOT_FOUND' });
    if (!(await this.#client.setPassword(remote.name, password, call))) {
      throw new TransientError(`Crowd user ${remote.name} disappeared before its password could be set`, { code: 'USER_NOT_FOUND' });
    }
    return { operation: 'password', ...idsOf(remote), changedAttributes: ['password'] };
  }

  async getUser(user: UserRef, ctx: ConnectorContext): Promise<RemoteUser | null> {
    const call = { abortSignal: ctx.abortSignal };
    const remote = await this.#locate(ctx.link, user.username, { ...call, attributes: true }, ctx.logger);
    return remote ? toRemoteWithGroups(this.#pull, remote, call) : null;
  }

  async probe(options: { abortSignal?: AbortSignal }): Promise<void> {
    await this.#client.ping(options);
  }

  async close(): Promise<void> {
    this.#client.close();
  }

  /** Every Crowd user with attributes, in name order, one search page at a time. */
  listUsers(options: ListUsersOptions & ListRemoteUsersOptions = {}): AsyncIterableIterator<RemoteUser> {
    return listUsers(this.#pull, { attributes: true, ...options });
  }

  /**
   * The users Crowd's event feed names since the last round, else those updated since the
   * bookmark; without either, every user after a `resync` (see changes.ts). Removals are left
   * to full syncs (absence is not deletion).
   */
  listChanges(options: { since: Date | undefined; abortSignal?: AbortSignal }): AsyncIterableIterator<RemoteChange> {
    return listCrowdChanges(this.#pull, this.#eventTokens, this.#logger, { ...options, groups: this.#rolesMapped() });
  }

  /** By name, else by key. */
  async readUser(idOrName: string, options: { abortSignal?: AbortSignal; profileOnly?: boolean } = {}): Promise<RemoteUser | null> {
    const read = { abortSignal: options.abortSignal, attributes: true };
    // Keys look like `<directoryId>:<externalId>`; names cannot hold a colon in a key's place.
    const user = idOrName.includes(':')
      ? ((await this.#client.getUser({ key: idOrName }, read)) ?? (await this.#client.getUser({ username: idOrName }, read)))
      : await this.#client.getUser({ username: idOrName }, read);
    if (!user) return null;
    return options.profileOnly ? this.#mapping.toRemote(user) : toRemoteWithGroups(this.#pull, user, read);
  }

  /**
   * What a push makes of the snapshot, as the full sync compares it: a name the snapshot omits
   * is undefined (the push leaves it alone, so it is not compared). A cleared name is what
   * Crowd's rule refills it with when the snapshot decides all three names, else undefined:
   * the result then depends on Crowd's current names.
   */
  async expectedRemote(snapshot: UserSnapshot & { version: number }): Promise<Omit<RemoteUser, 'remoteId'>> {
    const desired = await this.#mapping.toCrowd(snapshot);
    const b = { ...desired.body };
    const decided = (['first-name', 'last-name', 'display-name'] as const).every((f) => b[f] !== undefined || desired.clears.includes(f));
    if (desired.clears.length && decided) {
      const stored = crowdNames(b.name, b['first-name'], b['last-name'], b['display-name']);
      for (const f of desired.clears) b[f] = stored[f];
    }
    const user: CrowdUser = {
      name: b.name, key: undefined, firstName: b['first-name'], lastName: b['last-name'], displayName: b['display-name'],
      email: b.email, active: b.active, attributes: desired.attributes, updatedAt: undefined,
    };
    const { remoteId: _id, ...remote } = await this.#mapping.toRemote(user, desired.groups ? { groups: desired.groups } : {});
    return remote;
  }

  async appUsername(remote: RemoteUser): Promise<string> {
    return remote.username;
  }

  #rolesMapped(): boolean {
    return Object.keys(this.#pull.roleMap).length > 0;
  }

  /** Users updated at or after `since` (CQL `updatedDate >`); see pull.ts for what it misses. */
  listUsersChangedSince(since: Date, options: ChangedSinceOptions = {}): AsyncIterableIterator<RemoteUser> {
    return listUsersChangedSince(this.#pull, since, options);
  }

  // ---- internals ----

  /** The linked Crowd user: by key, else by the linked name, else by the app's username. */
  async #locate(link: Link | undefined, username: string | undefined, options: CallOptions & { attributes?: boolean }, logger: Logger = this.#logger): Promise<CrowdUser | null> {
    // A user without a key (blank external id) is linked by name: no key lookup for it.
    if (link?.remoteId?.includes(':')) {
      const byKey = await this.#client.getUser({ key: link.remoteId }, options);
      if (byKey) return byKey;
    }
    const names = uniqueCaseless([link?.remoteName, username].filter((n): n is string => !!n));
    for (const name of names) {
      const user = await this.#client.getUser({ username: name }, options);
      if (!user) continue;
      const otherKey = link?.remoteId !== undefined && user.key !== undefined && user.key !== link.remoteId;
      // Someone else now holds the name the link remembers: never touch their account. The
      // app's own username is trusted whatever its case (Crowd names are case-insensitive).
      if (otherKey && name.toLowerCase() !== username?.toLowerCase()) continue;
      if (otherKey) {
        logger.warn({ remoteName: user.name }, 'the linked Crowd user is gone; relinking to the Crowd user with the same name');
      }
      return user;
    }
    return null;
  }

  async #create(desired: DesiredUser, call: CallOptions): Promise<ApplyResult | 'exists'> {
    // Never stored or logged; the real password comes with a password job.
    const created = await this.#client.createUser(desired.body, randomPassword(), desired.attributes, call);
    if (created === 'exists') return 'exists';
    const user = created ?? (await this.#client.getUser({ username: desired.body.name }, call));
    const name = user?.name ?? desired.body.name;
    const changed = [
      'username',
      ...PROFILE_FIELDS.filter((f) => desired.body[f] !== undefined).map((f) => APP_FIELD[f]),
      'active',
      ...Object.keys(desired.attributes).map((a) => `attributes.${a}`),
    ];
    if (desired.groups?.length) {
      await applyGroupPlan(this.#client, name, { add: desired.groups, remove: [] }, call);
      changed.push('groups');
    }
    return { operation: 'create', remoteId: user?.key ?? name, remoteName: name, writtenHash: desired.hash, changedAttributes: changed };
  }

  async #update(remote: CrowdUser, desired: DesiredUser, call: CallOptions): Promise<ApplyResult> {
    const changed: string[] = [];
    let operation: Operation = 'update';
    let user = remote;
    // Crowd names are case-insensitive: a case-only difference is the same user, and Crowd's case is kept.
    if (user.name.toLowerCase() !== desired.body.name.toLowerCase()) {
      const renamed = await this.#client.renameUser(user.name, desired.body.name, call);
      user = renamed ? { ...renamed, attributes: user.attributes } : { ...user, name: desired.body.name };
      changed.push('username');
      operation = 'rename';
    }
    let fields = diffProfile(user, desired);
    const attributes = diffAttributes(user.attributes ?? {}, desired);
    const groups = desired.groups ? await planDirectGroups(this.#client, user.name, desired.groups, call) : undefined;
    const result = () => ({ operation, ...idsOf(user), writtenHash: desired.hash, changedAttributes: changed });

    // Nothing differs (the usual case when the hash equals the link's writtenHash, and
    // also after a lost reply whose write did land): no write at all.
    if (!fields.length && !attributes.store.length && !attributes.remove.length && (!groups || isEmptyPlan(groups))) {
      return { ...result(), operation: changed.length ? operation : 'noop' };
    }
    let emailRefused: unknown;
    if (fields.length) {
      try {
        await this.#client.updateUser(user.name, mergeBody(user, desired.body, desired.clears), call);
      } catch (err) {
        // Crowd blocks e-mail changes by applications unless its admin allows them. The
        // rest of the snapshot still goes through; the job then fails with Crowd's reason.
        if (!isEmailChangeRefusal(err) || !fields.includes('email')) throw err;
        emailRefused = err;
        fields = fields.filter((f) => f !== 'email');
        if (fields.length) await this.#client.updateUser(user.name, mergeBody(user, { ...desired.body, email: undefined }, desired.clears), call);
      }
      changed.push(...fields.map((f) => APP_FIELD[f]));
      if (operation === 'update' && fields.length === 1 && fields[0] === 'active') operation = desired.body.active ? 'restore' : 'disable';
    }
    if (attributes.store.length) {
      await this.#client.storeAttributes(user.name, Object.fromEntries(attributes.store.map((a) => [a, desired.attributes[a]!])), call);
    }
    for (const a of attributes.remove) await this.#client.deleteAttribute(user.name, a, call);
    changed.push(...[...attributes.store, ...attributes.remove].map((a) => `attributes.${a}`));
    if (groups && !isEmptyPlan(groups) && (await applyGroupPlan(this.#client, user.name, groups, call))) changed.push('groups');
    if (emailRefused) throw emailRefused;
    return result();
  }
}

/** A user without a key (blank external id) is identified by its name, as pulls do (mapping.toRemote). */
const idsOf = (u: CrowdUser) => ({ remoteId: u.key ?? u.name, remoteName: u.name });

/**
 * Profile fields (and `active`) where Crowd's value differs from what the desired body sets,
 * or, for a cleared name, from what Crowd's rule makes of it (so a clear Crowd refills is
 * written once, not on every push).
 */
function diffProfile(user: CrowdUser, desired: DesiredUser): (ProfileField | 'active')[] {
  const { body, clears } = desired;
  const current = profileOf(user);
  const stored = clears.length ? storedNames(user, body, clears) : undefined;
  const out: (ProfileField | 'active')[] = PROFILE_FIELDS.filter((f) => {
    if (body[f] !== undefined) return body[f] !== current[f];
    return stored !== undefined && f !== 'email' && clears.includes(f) && stored[f] !== (current[f] ?? '');
  });
  if (body.active !== user.active) out.push('active');
  return out;
}

/**
 * The full profile for PUT /user: Crowd's current values overlaid with the desired ones.
 * A field the mapping leaves unset keeps Crowd's value (PUT would otherwise null it); a
 * cleared name is left out, so Crowd applies its own rule to it.
 */
function mergeBody(user: CrowdUser, body: Partial<UserBody> & Pick<UserBody, 'active'>, clears: readonly NameField[] = []): UserBody {
  const current = profileOf(user);
  const out: UserBody = { name: user.name, active: body.active };
  for (const f of PROFILE_FIELDS) {
    const v = body[f] ?? (clears.includes(f as NameField) ? undefined : current[f]);
    if (v !== undefined) out[f] = v;
  }
  return out;
}

/** The names Crowd stores after a PUT of `mergeBody(user, body, clears)`. */
function storedNames(user: CrowdUser, body: UserBody, clears: readonly NameField[]): Record<NameField, string> {
  const sent = mergeBody(user, body, clears);
  return crowdNames(user.name, sent['first-name'], sent['last-name'], sent['display-name']);
}

function diffAttributes(current: Record<string, string[]>, desired: DesiredUser): { store: string[]; remove: string[] } {
  const same = (a: readonly string[] | undefined, b: readonly string[]) => a !== undefined && sameValues(a, b);
  return {
    store: Object.keys(desired.attributes).filter((a) => !same(current[a], desired.attributes[a]!)),
    remove: desired.managedAttributes.filter((a) => desired.attributes[a] === undefined && current[a] !== undefined),
  };
}
