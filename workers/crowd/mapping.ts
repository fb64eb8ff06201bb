import { PermanentError } from '../../shared/errors.js';
import type { RemoteUser, UserSnapshot } from '../../shared/jobs.js';
import { importMappingModule, pickHooks, refuseSharedTargets, refuseUnknownExports, runHook, stableHash, uniqueCaseless } from '../runtime/mapping-module.js';
import type { CrowdUser, UserBody } from './entities.js';

/**
 * App snapshot ↔ Crowd user. Defaults: username→name, email→email, firstName→first-name,
 * lastName→last-name, displayName→display-name, active→active; custom attributes go to
 * Crowd user attributes under the same names. A name field the snapshot omits keeps Crowd's
 * value; one it sets to null or "" is cleared, and Crowd refills it by its own rule
 * (`crowdNames`: the display name falls back to "first last", the last name is never blank). An optional ESM module (CROWD_MAPPING_MODULE)
 * adjusts this, in the spirit of the Drupal module's `hook_crowd_push_user_data_alter`:
 *
 * ```js
 * // crowd-mapping.mjs
 * export const attributeMap = { department: 'dept', costCentre: 'cost-centre' }; // app → Crowd
 * export function alterCrowdUser(body, snapshot) {
 *   body['display-name'] = `${snapshot.lastName}, ${snapshot.firstName}`;
 * }
 * export function alterCrowdAttributes(attributes, snapshot) {
 *   attributes['employee-id'] = [snapshot.id];
 * }
 * export function alterRemoteUser(remote, crowdUser) { // on pull
 *   remote.attributes = { ...remote.attributes, crowdKey: crowdUser.key ?? '' };
 * }
 * ```
 * Hooks may mutate their argument or return a replacement, and may be async. Exports may
 * also sit on a default export object.
 */
export interface CrowdMappingModule {
  /**
   * App attribute name → Crowd attribute name. When set, only these attributes are pushed
   * and pulled, and a mapped attribute missing from a snapshot is deleted in Crowd.
   * Without it, every snapshot attribute is pushed under its own name and never deleted
   * (idsync cannot tell its attributes from other applications').
   */
  attributeMap?: Readonly<Record<string, string>>;
  alterCrowdUser?(body: UserBody, snapshot: UserSnapshot): UserBody | void | Promise<UserBody | void>;
  alterCrowdAttributes?(attributes: Record<string, string[]>, snapshot: UserSnapshot): Record<string, string[]> | void | Promise<Record<string, string[]> | void>;
  alterRemoteUser?(remote: RemoteUser, crowdUser: CrowdUser): RemoteUser | void | Promise<RemoteUser | void>;
}

export type NameField = 'first-name' | 'last-name' | 'display-name';

const isBlank = (s: string | null | undefined): boolean => s === null || s === undefined || s.trim() === '';

/**
 * What Crowd's internal directory stores for the names it is sent (its UserUtils.populateNames,
 * applied on every create and update): a blank display name becomes "first last" (or whichever
 * is set, else the username); a blank first or last name is split off the display name, and
 * the last name is never left blank. So a cleared first name may come back as the display
 * name's first word, and a cleared last name always comes back as something.
 */
export function crowdNames(username: string, firstName: string | undefined, lastName: string | undefined, displayName: string | undefined): Record<NameField, string> {
  let display: string;
  if (!isBlank(displayName)) display = displayName!;
  else if (!isBlank(firstName) && !isBlank(lastName)) display = `${firstName} ${lastName}`;
  else if (!isBlank(firstName)) display = firstName!;
  else if (!isBlank(lastName)) display = lastName!;
  else display = username;
  if (!isBlank(displayName) || isBlank(lastName)) {
    const [splitFirst, splitLast] = splitName(display);
    const first = !isBlank(firstName) ? firstName! : splitFirst;
    const last = !isBlank(lastName) ? lastName! : !isBlank(splitLast) ? splitLast : display;
    return { 'first-name': abbreviate(first), 'last-name': abbreviate(last), 'display-name': abbreviate(display) };
  }
  return { 'first-name': abbreviate(firstName ?? ''), 'last-name': abbreviate(lastName!), 'display-name': abbreviate(display) };
}

// Crowd's StringUtils.split(full, " ", 2), trimmed: the first word and the rest.
function splitName(full: string): [string, string] {
  const s = full.replace(/^ +/, '');
  if (s === '') return ['', ''];
  const cut = s.indexOf(' ');
  if (cut < 0) return ['', s.trim()];
  const rest = s.slice(cut).replace(/^ +/, '');
  return rest === '' ? ['', s.slice(0, cut).trim()] : [s.slice(0, cut).trim(), rest.trim()];
}

/** What a snapshot should look like in Crowd. */
export interface DesiredUser {
  body: UserBody;
  /** Name fields the snapshot clears (null or ""): sent empty, and Crowd fills them by its rule. */
  clears: NameField[];
  attributes: Record<string, string[]>;
  /** Crowd attribute names idsync manages (deleted when absent); empty = add/replace only. */
  managedAttributes: readonly string[];
  /** Direct groups; undefined = leave memberships alone. */
  groups: string[] | undefined;
  /** Stable hash of body + attributes + groups (the link's `writtenHash`). */
  hash: string;
}

// Crowd truncates longer values with StringUtils.abbreviate; doing the same here keeps the
// comparison with what Crowd stored stable (no endless updates of a 256-char display name).
const MAX_FIELD = 255;
export const abbreviate = (v: string): string => (v.length <= MAX_FIELD ? v : `${v.slice(0, MAX_FIELD - 3)}...`);

/** Attributes Crowd's internal directory writes by itself; never the app's. */
export const CROWD_INTERNAL_ATTRIBUTES = new Set([
  'passwordLastChanged',
  'requiresPasswordChange',
  'invalidPasswordAttempts',
  'lastAuthenticated',
  'lastActive',
  'autoGroupsAdded',
  'lastPasswordChangeReminderSent',
]);

export class CrowdMapping {
  readonly #module: CrowdMappingModule;
  readonly #reverse: ReadonlyMap<string, string> | undefined;

  constructor(module: CrowdMappingModule = {}) {
    this.#module = module;
    const map = module.attributeMap;
    this.#reverse = map ? new Map(Object.entries(map).map(([app, crowd]) => [crowd, app])) : undefined;
  }

  /** Whether reads must fetch attributes (`expand=attributes`) to compare them. */
  needsAttributes(desired: DesiredUser): boolean {
    return Object.keys(desired.attributes).length > 0 || desired.managedAttributes.length > 0;
  }

  async toCrowd(snapshot: UserSnapshot): Promise<DesiredUser> {
    // Omitted = leave Crowd's value alone (no key in the body, so the update keeps it);
    // null or "" = clear it, which Crowd resolves by its own rule (see crowdNames).
    const cleared: NameField[] = [];
    const name = (field: NameField, v: string | null | undefined): string | undefined => {
      if (v === undefined) return undefined;
      if (v === null || v.trim() === '') {
        cleared.push(field);
        return undefined;
      }
      return abbreviate(v);
    };
    const firstName = name('first-name', snapshot.firstName);
    const lastName = name('last-name', snapshot.lastName);
    const displayName = name('display-name', snapshot.displayName);
    let body: UserBody = {
      name: snapshot.username,
      ...(firstName !== undefined && { 'first-name': firstName }),
      ...(lastName !== undefined && { 'last-name': lastName }),
      ...(displayName !== undefined && { 'display-name': displayName }),
      email: abbreviate(snapshot.email),
      active: snapshot.active,
    };
    if (this.#module.alterCrowdUser) {
      body = (await hook('alterCrowdUser', () => this.#module.alterCrowdUser!(body, snapshot))) ?? body;
      body = checkBody(body);
    }

    const map = this.#module.attributeMap;
    let attributes: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(snapshot.attributes ?? {})) {
      // Own keys only: `constructor` is not a mapped attribute. The attributes Crowd writes
      // itself are never written (a map may name them, to pull them).
      const crowdName = map ? (Object.hasOwn(map, name) ? map[name] : undefined) : name;
      if (crowdName === undefined || CROWD_INTERNAL_ATTRIBUTES.has(crowdName)) continue;
      attributes[crowdName] = (Array.isArray(value) ? value : [value]).map(abbreviate);
    }
    if (this.#module.alterCrowdAttributes) {
      attributes = (await hook('alterCrowdAttributes', () => this.#module.alterCrowdAttributes!(attributes, snapshot))) ?? attributes;
      attributes = checkAttributes(attributes);
    }

    const groups = snapshot.groups && uniqueCaseless(snapshot.groups);
    // Like groups: attributes omitted = leave them all alone; given = the full set, so a
    // mapped attribute missing from it is deleted.
    const managedAttributes = map && snapshot.attributes !== undefined ? Object.values(map).filter((a) => !CROWD_INTERNAL_ATTRIBUTES.has(a)) : [];
    // A value the hook set wins over a clear of the same field.
    const clears = cleared.filter((f) => body[f] === undefined);
    return { body, clears, attributes, managedAttributes, groups, hash: hashDesired(body, attributes, groups, clears) };
  }

  /** A Crowd user in the app's shape; `roles` come from the caller (role map over nested groups). */
  async toRemote(user: CrowdUser, extra: { groups?: string[]; roles?: string[] } = {}): Promise<RemoteUser> {
    let remote: RemoteUser = {
      target: 'crowd',
      // A directory without external ids has no key; the name is the next best handle.
      remoteId: user.key ?? user.name,
      username: user.name,
      active: user.active,
      ...(user.email !== undefined && { email: user.email }),
      ...(user.firstName !== undefined && { firstName: user.firstName }),
      ...(user.lastName !== undefined && { lastName: user.lastName }),
      ...(user.displayName !== undefined && { displayName: user.displayName }),
      ...(extra.groups && { groups: extra.groups }),
      ...(extra.roles && { roles: extra.roles }),
    };
    if (user.attributes) {
      const attributes: Record<string, string | string[]> = {};
      for (const [name, values] of Object.entries(user.attributes)) {
        const appName = this.#reverse ? this.#reverse.get(name) : CROWD_INTERNAL_ATTRIBUTES.has(name) ? undefined : name;
        if (appName !== undefined) attributes[appName] = values.length === 1 ? values[0]! : values;
      }
      if (Object.keys(attributes).length) remote.attributes = attributes;
    }
    if (this.#module.alterRemoteUser) {
      remote = (await hook('alterRemoteUser', () => this.#module.alterRemoteUser!(remote, user))) ?? remote;
    }
    return remote;
  }
}

/** Loads CROWD_MAPPING_MODULE (a path, relative to the working directory, or a file: URL). */
export async function loadMappingModule(specifier: string | undefined): Promise<CrowdMappingModule> {
  if (!specifier) return {};
  const source = await importMappingModule('Crowd', specifier);
  const hooks = ['alterCrowdUser', 'alterCrowdAttributes', 'alterRemoteUser'] as const;
  refuseUnknownExports('Crowd', specifier, source, [...hooks, 'attributeMap']);
  const module = pickHooks<CrowdMappingModule>('Crowd', specifier, source, hooks);
  const map = source['attributeMap'];
  if (map !== undefined) {
    if (typeof map !== 'object' || map === null || Array.isArray(map) || Object.values(map).some((v) => typeof v !== 'string' || v === '')) {
      throw new Error(`the Crowd mapping module ${specifier} exports attributeMap, but it is not an object of app attribute → Crowd attribute names`);
    }
    refuseSharedTargets('Crowd', specifier, map as Record<string, string>, 'Crowd attribute');
    module.attributeMap = { ...(map as Record<string, string>) };
  }
  return module;
}

export function hashDesired(body: UserBody, attributes: Record<string, string[]>, groups: string[] | undefined, clears: readonly NameField[] = []): string {
  return stableHash([
    ...(clears.length ? [[...clears].sort()] : []),
    body.name,
    body['first-name'] ?? null,
    body['last-name'] ?? null,
    body['display-name'] ?? null,
    body.email ?? null,
    body.active,
    Object.keys(attributes).sort().map((k) => [k, attributes[k]]),
    groups ? groups.map((g) => g.toLowerCase()).sort() : null,
  ]);
}

const hook = <T>(name: string, run: () => T | Promise<T>): Promise<T> => runHook('Crowd', name, run);

function checkBody(body: UserBody): UserBody {
  if (typeof body !== 'object' || body === null || typeof body.name !== 'string' || body.name.trim() === '') {
    throw new PermanentError('the Crowd mapping module\'s alterCrowdUser left the user without a name');
  }
  const out: UserBody = { name: body.name, active: body.active !== false };
  for (const k of ['first-name', 'last-name', 'display-name', 'email'] as const) {
    const v = body[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new PermanentError(`the Crowd mapping module's alterCrowdUser set ${k} to a ${typeof v}, not a string`);
    if (v.trim() !== '') out[k] = abbreviate(v);
  }
  return out;
}

function checkAttributes(attributes: Record<string, string[]>): Record<string, string[]> {
  if (typeof attributes !== 'object' || attributes === null) throw new PermanentError('the Crowd mapping module\'s alterCrowdAttributes returned no object');
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(attributes)) {
    const values = Array.isArray(v) ? v : [v];
    if (values.some((x) => typeof x !== 'string')) throw new PermanentError(`the Crowd mapping module's alterCrowdAttributes set ${k} to something other than strings`);
    out[k] = values.map(abbreviate);
  }
  return out;
}
