import { ConfigurationError, PermanentError, TransientError } from '../../shared/errors.js';
import type { RemoteUser, UserRef, UserSnapshot } from '../../shared/jobs.js';
import type { Link } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import type { ApplyResult, ConnectorContext, ListRemoteUsersOptions, Operation, RemoteChange, SyncConnector } from '../runtime/connector.js';
import { randomPassword } from '../runtime/passwords.js';
import type { CallOptions, GraphClient } from './client.js';
import { listUsersDelta, type DeltaChange, type DeltaOptions, type DeltaStore } from './delta.js';
import { organizationSchema, type GraphUser } from './entities.js';
import { malformedSuccess } from './errors.js';
import { applyGroupPlan, directGroups, isEmptyPlan, planGroups, type GroupDirectory } from './groups.js';
import { findByAttribute, findUser, isDeleted, restoreUser } from './locate.js';
import { createBody, diff, keysAre, writtenProperties } from './changes.js';
import { Consistency, INVISIBLE, type ConsistencyOptions } from './consistency.js';
import type { DesiredUser, EntraMapping, GraphUserBody } from './mapping.js';
import { PASSWORD_PERMISSION, PERMISSION, holds } from './permissions.js';
import type { PhotoStore } from './photos.js';
import { listUsers, parseUser, toRemoteUser, userSelect, type ListUsersOptions, type PullDeps } from './pull.js';

export interface EntraConnectorDeps {
  client: GraphClient;
  mapping: EntraMapping;
  groups: GroupDirectory;
  photos: PhotoStore;
  delta: DeltaStore;
  deletePolicy: 'disable' | 'delete';
  /** Tried in order to match an unlinked user. */
  matchAttributes: readonly string[];
  /** Domain of derived UPNs; undefined = the tenant's default verified domain. */
  upnDomain: string | undefined;
  logger: Logger;
  consistency?: ConsistencyOptions;
  /** `forceChangePasswordNextSignIn` of password jobs (the app's user chose it). @defaultValue false */
  forcePasswordChange?: boolean;
  /** Read the photo on pull-user jobs. @defaultValue true */
  pullPhotos?: boolean;
}

/**
 * The Entra ID side of idsync (TargetConnector). Every method is idempotent (design decision
 * 4): jobs arrive at least once and a write whose reply was lost may have been applied, so a
 * retry reads Graph again before writing. Users are found by the linked object id, in
 * deleted items (and restored) when soft-deleted, else by the configured match attributes.
 * Updates PATCH only the managed properties that differ from what Graph returns; no write
 * at all when nothing differs. Writes travel as `$batch` items under the shared write budget.
 */
export class EntraConnector implements SyncConnector {
  readonly target = 'entra' as const;
  readonly #d: EntraConnectorDeps;
  readonly #pull: PullDeps;
  readonly #consistency: Consistency;
  #domain: Promise<string> | undefined;

  constructor(deps: EntraConnectorDeps) {
    this.#d = deps;
    this.#pull = { client: deps.client, mapping: deps.mapping, photos: deps.photos };
    this.#consistency = new Consistency(deps.consistency);
  }

  async upsertUser(snapshot: UserSnapshot & { version: number }, ctx: ConnectorContext): Promise<ApplyResult> {
    const call = { abortSignal: ctx.abortSignal };
    const desired = await this.#d.mapping.toEntra(snapshot, { domain: await this.#upnDomain(call) });
    const select = userSelect(this.#d.mapping, desired);
    const subject = desired.body.userPrincipalName;
    let found: { user: GraphUser; restored: boolean } | null = null;
    // A user idsync has never written is created straight away when the UPN is the only
    // match attribute: UPNs are unique, so a duplicate comes back as ObjectConflict and is
    // linked. Retries too: an earlier attempt's create that may have landed is settled by the
    // conflict as surely as by a read first, and a create that failed before Graph acted on
    // it (the usual 5xx) then costs one request, not two.
    const createFirst = !ctx.link?.remoteId && this.#d.matchAttributes.every((a) => a === 'userPrincipalName');
    if (!createFirst) found = await this.#locate(ctx.link, desired.body, { ...call, select, subject }, ctx.logger);
    if (!found) {
      const created = await this.#create(snapshot, desired, select, call);
      if ('result' in created) return created.result;
      found = { user: created.existing, restored: false };
      ctx.logger.info({ remoteId: created.existing.id }, 'linked to an existing Entra user with the same userPrincipalName');
    }
    return this.#update(found.user, desired, found.restored, call);
  }

  async deleteUser(user: UserRef, ctx: ConnectorContext): Promise<ApplyResult> {
    const call = { abortSignal: ctx.abortSignal };
    const select = userSelect(this.#d.mapping);
    const remote = await this.#locateRef(ctx.link, user, select, call);
    if (!remote) {
      // Already soft-deleted (an earlier attempt, or someone else): done, and the link stays
      // so that the user can be restored when the app brings it back.
      if (ctx.link?.remoteId && (await isDeleted(this.#d.client, ctx.link.remoteId, call))) return { operation: 'noop', remoteId: ctx.link.remoteId };
      return { operation: 'noop', unlink: true };
    }
    const ids = { remoteId: remote.id, remoteName: remote.userPrincipalName };
    if (remote.onPremisesSyncEnabled) return { operation: 'noop', ...ids, skippedReason: onPremises(remote) };
    if (this.#d.deletePolicy === 'delete') {
      // 404 = an earlier attempt's lost reply did delete it: done either way. The link stays
      // (a soft delete is restorable for 30 days, and an upsert restores it).
      await this.#d.client.write('DELETE', `/users/${remote.id}`, { ...call, accept: [404], subject: remote.userPrincipalName, permission: PERMISSION.writeUsers });
      return { operation: 'delete', ...ids };
    }
    if (!remote.accountEnabled) return { operation: 'noop', ...ids };
    await this.#patch(remote, { accountEnabled: false }, call);
    return { operation: 'disable', ...ids, changedAttributes: ['active'] };
  }

  /**
   * A user Entra does not have yet is a TransientError, not a create: the password job may
   * simply have overtaken the push that creates the user (separate deduplication lanes).
   * A 403 is a PermanentError naming the permission and role (see errors.ts): it must not
   * quarantine the queue and hold back every other update.
   */
  async setPassword(user: UserRef, password: string, ctx: ConnectorContext): Promise<ApplyResult> {
    const call = { abortSignal: ctx.abortSignal };
    const remote = await this.#locateRef(ctx.link, user, 'id,userPrincipalName,accountEnabled,onPremisesSyncEnabled', call);
    const who = user.username ?? `for app user ${user.id}`;
    if (!remote) throw new TransientError(`Entra has no user ${who} yet; the password is retried after the push creates it`, { code: 'USER_NOT_FOUND' });
    // Graph refuses the change for a user synced from Active Directory; failing would blame
    // a missing permission, so it is skipped with the reason like every other write.
    if (remote.onPremisesSyncEnabled) return { operation: 'noop', remoteId: remote.id, remoteName: remote.userPrincipalName, skippedReason: onPremises(remote) };
    const json = { passwordProfile: { password, forceChangePasswordNextSignIn: this.#d.forcePasswordChange ?? false } };
    const reply = await this.#d.client.write('PATCH', `/users/${remote.id}`, { ...call, json, accept: [404], subject: remote.userPrincipalName, permission: PASSWORD_PERMISSION });
    if (reply.status === 404) throw new TransientError(`Entra user ${remote.userPrincipalName} disappeared before its password could be set`, { code: 'USER_NOT_FOUND', status: 404 });
    return { operation: 'password', remoteId: remote.id, remoteName: remote.userPrincipalName, changedAttributes: ['password'] };
  }

  async getUser(user: UserRef, ctx: ConnectorContext): Promise<RemoteUser | null> {
    const call = { abortSignal: ctx.abortSignal };
    const remote = await this.#locateRef(ctx.link, user, userSelect(this.#d.mapping), call);
    return remote ? toRemoteUser(this.#pull, remote, { ...call, groups: true, photos: this.#d.pullPhotos ?? true }) : null;
  }

  /**
   * A fresh token (so permissions granted since are seen), one cheap authenticated read, and
   * the token's roles checked for every permission whose absence quarantined the target:
   * without that check the probe would pass, the queue resume and fail again at once.
   */
  async probe(options: { abortSignal?: AbortSignal }): Promise<void> {
    this.#d.client.renewToken();
    const org = await this.#organization(options, true);
    if (!this.#d.upnDomain) this.#domain = Promise.resolve(org.domain);
    const roles = this.#d.client.roles();
    const missing = this.#d.client.missingPermissions;
    const lacking = roles ? [...missing].filter((p) => !holds(roles, p)) : [];
    if (lacking.length) throw new ConfigurationError(`the app ENTRA_CLIENT_ID still lacks the application permission ${lacking.join(', ')} (admin consent)`);
    missing.clear();
  }

  async close(): Promise<void> {
    this.#d.client.close();
  }

  /** Every Entra user (`$select`, `$top=999`, following nextLinks). */
  listUsers(options: ListUsersOptions & ListRemoteUsersOptions = {}): AsyncIterableIterator<RemoteUser> {
    return listUsers(this.#pull, options);
  }

  /** One delta round: Graph keeps the bookmark (the stored deltaLink), so `since` is not needed. */
  listChanges(options: { since: Date | undefined; abortSignal?: AbortSignal }): AsyncIterableIterator<RemoteChange> {
    return this.listUsersDelta({ abortSignal: options.abortSignal });
  }

  /** By object id or UPN (Graph's `/users/{id | userPrincipalName}`). */
  async readUser(idOrName: string, options: { abortSignal?: AbortSignal; profileOnly?: boolean } = {}): Promise<RemoteUser | null> {
    const remote = await findUser(this.#d.client, idOrName, { abortSignal: options.abortSignal, select: userSelect(this.#d.mapping) });
    const full = !options.profileOnly;
    return remote ? toRemoteUser(this.#pull, remote, { abortSignal: options.abortSignal, groups: full, photos: full && (this.#d.pullPhotos ?? true) }) : null;
  }

  async expectedRemote(snapshot: UserSnapshot & { version: number }, options: { abortSignal?: AbortSignal } = {}): Promise<Omit<RemoteUser, 'remoteId'>> {
    const desired = await this.#d.mapping.toEntra(snapshot, { domain: await this.#upnDomain(options) });
    const b = desired.body;
    // What an update writes: a create-only default (an omitted displayName) is left out, so
    // the full sync does not compare what a push leaves alone.
    const values = Object.fromEntries(Object.entries(b).filter(([k]) => !desired.createOnly.includes(k)));
    const user: GraphUser = { id: '', userPrincipalName: b.userPrincipalName, accountEnabled: b.accountEnabled, onPremisesSyncEnabled: false, values };
    const { remoteId: _id, ...remote } = await this.#d.mapping.toRemote(user, desired.groups ? { groups: desired.groups } : {});
    // A cleared name is expected empty (compared), not unknown (skipped).
    if (b['givenName'] === null) remote.firstName = '';
    if (b['surname'] === null) remote.lastName = '';
    return remote;
  }

  /** The UPN's local part when the UPN rule maps it back to the same UPN, else the whole UPN. */
  async appUsername(remote: RemoteUser, options: { abortSignal?: AbortSignal } = {}): Promise<string> {
    const upn = remote.username;
    const at = upn.lastIndexOf('@');
    if (at <= 0) return upn;
    const local = upn.slice(0, at);
    const again = await this.#d.mapping.userPrincipalNameFor({ id: remote.remoteId, username: local }, { domain: await this.#upnDomain(options) });
    return again.toLowerCase() === upn.toLowerCase() ? local : upn;
  }

  /** One delta round (see delta.ts): re-syncs fully on the first call, after expiry and on reset. */
  listUsersDelta(options: DeltaOptions = {}): AsyncIterableIterator<DeltaChange> {
    return listUsersDelta(this.#pull, this.#d.delta, options);
  }

  // ---- internals ----

  /** By link (restoring a soft-deleted user), else by the match attributes in order. */
  async #locate(link: Link | undefined, body: GraphUserBody, options: CallOptions & { select: string; subject: string }, logger: Logger): Promise<{ user: GraphUser; restored: boolean } | null> {
    const client = this.#d.client;
    if (link?.remoteId) {
      const byId = await findUser(client, link.remoteId, options);
      if (byId) return { user: byId, restored: false };
      if (await isDeleted(client, link.remoteId, options)) {
        if (await restoreUser(client, link.remoteId, options)) {
          logger.info({ remoteId: link.remoteId }, 'restored the soft-deleted Entra user');
          return { user: await this.#visible(link.remoteId, options), restored: true };
        }
      }
      logger.warn({ remoteId: link.remoteId }, 'the linked Entra user is gone; matching again');
    }
    for (const attribute of this.#d.matchAttributes) {
      const value = body[attribute];
      if (typeof value !== 'string' || value === '') continue;
      const user = await findByAttribute(client, attribute, value, options);
      if (user) return { user, restored: false };
    }
    return null;
  }

  /**
   * For deletes, passwords and pulls: by link, else by the UPN the username maps to. A linked
   * user that is gone stays gone: another account that now holds the UPN is someone else's,
   * and disabling it or setting its password would be a serious mistake.
   */
  async #locateRef(link: Link | undefined, ref: UserRef, select: string, call: CallOptions): Promise<GraphUser | null> {
    const options = { ...call, select };
    if (link?.remoteId) return findUser(this.#d.client, link.remoteId, options);
    if (!ref.username) return null;
    const upn = await this.#d.mapping.userPrincipalNameFor({ id: ref.id, username: ref.username }, { domain: await this.#upnDomain(call) });
    return findUser(this.#d.client, upn, options);
  }

  async #create(snapshot: UserSnapshot, desired: DesiredUser, select: string, call: CallOptions): Promise<{ result: ApplyResult } | { existing: GraphUser }> {
    const given = await this.#d.mapping.initialPassword(snapshot);
    // Never stored or logged. A password from the mapping is a temporary one to change; a
    // generated one is known to nobody, so forcing a change would change nothing.
    const passwordProfile = { password: given ?? randomPassword(), forceChangePasswordNextSignIn: given !== undefined };
    const body = createBody(desired.body);
    const json = { ...body, mailNickname: desired.mailNickname, passwordProfile };
    const subject = desired.body.userPrincipalName;
    // A repeat of a create that landed is answered ObjectConflict, settled below by a read.
    const reply = await this.#d.client.write('POST', '/users', { ...call, json, accept: [400], subject, permission: PERMISSION.writeUsers, idempotent: true });
    if (reply.status === 400) {
      const conflict = reply.error?.details.some((d) => d.code === 'ObjectConflict' && d.target === 'userPrincipalName');
      if (!conflict) throw this.#d.client.refusal(reply);
      // Someone (perhaps this job's earlier attempt, whose reply was lost) made it already.
      return { existing: await this.#visible(subject, { ...call, select, subject }) };
    }
    const user = parseUser(reply);
    const changed = writtenProperties(body);
    const result: ApplyResult = {
      operation: 'create',
      remoteId: user.id,
      remoteName: user.userPrincipalName || subject,
      writtenHash: desired.hash,
      changedAttributes: [...new Set(changed.map((k) => this.#d.mapping.appName(k)))],
    };
    if (desired.groups?.length) {
      if (await this.#syncGroups(user.id, subject, desired.groups, 'created', call)) result.changedAttributes!.push('groups');
    }
    return { result };
  }

  async #update(user: GraphUser, desired: DesiredUser, restored: boolean, call: CallOptions): Promise<ApplyResult> {
    const ids = { remoteId: user.id, remoteName: user.userPrincipalName };
    // Skipped, not failed: the user's source of authority is Active Directory, which is a fact
    // about the directory, not an error to retry or alarm on; in a hybrid tenant every profile
    // edit would otherwise land in the failed set. The link is kept and the reason audited.
    if (user.onPremisesSyncEnabled) return { operation: restored ? 'restore' : 'noop', ...ids, skippedReason: onPremises(user) };
    const patch = diff(user, desired.body, desired.createOnly);
    const changed = writtenProperties(patch).map((k) => this.#d.mapping.appName(k));
    let operation: Operation = restored ? 'restore' : 'noop';
    if (Object.keys(patch).length) {
      await this.#patch(user, patch, call);
      if (!restored) operation = 'userPrincipalName' in patch ? 'rename' : keysAre(patch, 'accountEnabled') ? (desired.body.accountEnabled ? 'restore' : 'disable') : 'update';
    }
    if (desired.groups && (await this.#syncGroups(user.id, user.userPrincipalName, desired.groups, restored ? 'restored' : 'existing', call))) {
      changed.push('groups');
      if (operation === 'noop') operation = 'update';
    }
    return { operation, ...ids, remoteName: desired.body.userPrincipalName, writtenHash: desired.hash, changedAttributes: [...new Set(changed)] };
  }

  async #patch(user: GraphUser, json: Record<string, unknown>, call: CallOptions): Promise<void> {
    const reply = await this.#d.client.write('PATCH', `/users/${user.id}`, { ...call, json, accept: [404], subject: user.userPrincipalName, permission: PERMISSION.writeUsers });
    if (reply.status === 404) throw new TransientError(`Entra user ${user.userPrincipalName} disappeared while being updated`, { status: 404, code: reply.error?.code });
  }

  /** `created`: no memberships yet; `created` and `restored`: a 404 on the user may be eventual consistency. */
  async #syncGroups(userId: string, subject: string, desired: readonly string[], state: 'created' | 'restored' | 'existing', call: CallOptions): Promise<boolean> {
    const [current, resolved] = await Promise.all([
      state === 'created' ? [] : directGroups(this.#d.client, userId, { ...call, subject }),
      this.#d.groups.resolve(desired, call),
    ]);
    const plan = planGroups(current, desired, resolved);
    if (isEmptyPlan(plan) && !plan.missing.length) return false;
    return applyGroupPlan(this.#d.client, this.#d.groups, userId, plan, {
      ...call,
      subject,
      justCreated: state !== 'existing',
      whileInvisible: (step) => this.#consistency.whileInvisible(step, subject, call.abortSignal),
    });
  }

  /** A user just created or restored: read until Graph shows it. */
  async #visible(key: string, options: CallOptions & { select: string; subject?: string }): Promise<GraphUser> {
    return this.#consistency.whileInvisible(async () => (await findUser(this.#d.client, key, options)) ?? INVISIBLE, options.subject ?? key, options.abortSignal);
  }

  #upnDomain(call: CallOptions): Promise<string> {
    if (this.#d.upnDomain) return Promise.resolve(this.#d.upnDomain);
    this.#domain ??= this.#organization(call).then((org) => org.domain);
    this.#domain.catch(() => (this.#domain = undefined));
    return this.#domain;
  }

  async #organization(call: CallOptions, once = false): Promise<{ domain: string }> {
    const reply = await this.#d.client.get('/organization', { ...call, query: { $select: 'id,verifiedDomains' }, permission: PERMISSION.readOrganization, ...(once && { once }) });
    const org = organizationSchema.safeParse(reply.json);
    if (!org.success) throw malformedSuccess(reply.call, reply.raw, 'a body that is not an organization list');
    const domains = org.data.value[0]?.verifiedDomains ?? [];
    const domain = (domains.find((d) => d.isDefault) ?? domains[0])?.name;
    if (!domain) throw new PermanentError('the Entra tenant reports no verified domain; set ENTRA_UPN_DOMAIN');
    return { domain };
  }
}

const onPremises = (user: GraphUser): string =>
  `Entra user ${user.userPrincipalName} is mastered on-premises (onPremisesSyncEnabled): Entra Connect or cloud sync writes it from Active Directory and Graph refuses most changes, so idsync leaves it alone; change it in Active Directory`;
