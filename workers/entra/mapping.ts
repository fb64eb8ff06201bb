import { PermanentError } from '../../shared/errors.js';
import type { RemoteUser, UserSnapshot } from '../../shared/jobs.js';
import { importMappingModule, pickHooks, refuseSharedTargets, refuseUnknownExports, runHook, stableHash, uniqueCaseless } from '../runtime/mapping-module.js';
import type { GraphUser } from './entities.js';

/**
 * App snapshot ↔ Graph user. Defaults: username → userPrincipalName (by the UPN rule),
 * email → mail, firstName → givenName, lastName → surname, displayName (else "first last",
 * else the username) → displayName, active → accountEnabled. An omitted name is left as
 * Graph has it (an omitted displayName gets the default on create only, since Graph requires
 * one); a name set to null or "" is cleared, except displayName, which Graph cannot clear:
 * it falls back to the default. Custom attributes whose names
 * are writable Graph user properties (`department`, `employeeId`, …), `extensionAttribute1`–
 * `15` (into onPremisesExtensionAttributes) or directory extensions (`extension_<appId>_<name>`)
 * go there under the same name; others are ignored, since Graph refuses unknown properties.
 * An optional ESM module (ENTRA_MAPPING_MODULE) adjusts this:
 *
 * ```js
 * // entra-mapping.mjs
 * export const attributeMap = { costCentre: 'department', badge: 'employeeId', team: 'extensionAttribute3' }; // app → Graph
 * export function userPrincipalName(snapshot, { domain }) { return `${snapshot.username}@${domain}`; }
 * export function initialPassword(snapshot) { return undefined; } // undefined = a generated one
 * export function alterEntraUser(body, snapshot) { body.usageLocation = 'DE'; }
 * export function alterRemoteUser(remote, graphUser) { remote.attributes = { ...remote.attributes, upn: graphUser.userPrincipalName }; }
 * ```
 * Hooks may mutate their argument or return a replacement, and may be async. Exports may
 * also sit on a default export object.
 */
export interface EntraMappingModule {
  /**
   * App attribute name → Graph property. When set, only these attributes are pushed and
   * pulled, and a mapped attribute missing from a snapshot is cleared in Entra.
   */
  attributeMap?: Readonly<Record<string, string>>;
  /** The UPN rule; the default is the sanitised username at the domain. */
  userPrincipalName?(snapshot: UserSnapshot, context: { domain: string }): string | Promise<string>;
  /** The password of a new user; undefined = 32 random characters nobody knows. Never stored or logged. */
  initialPassword?(snapshot: UserSnapshot): string | undefined | Promise<string | undefined>;
  alterEntraUser?(body: GraphUserBody, snapshot: UserSnapshot): GraphUserBody | void | Promise<GraphUserBody | void>;
  alterRemoteUser?(remote: RemoteUser, graphUser: Readonly<Record<string, unknown>>): RemoteUser | void | Promise<RemoteUser | void>;
}

/** A Graph user body: property → value (null clears it). */
export type GraphUserBody = Record<string, unknown> & { userPrincipalName: string; displayName: string; accountEnabled: boolean };

/** What a snapshot should look like in Entra. */
export interface DesiredUser {
  /** Every property idsync manages for this user; compared with Graph and PATCHed when different. */
  body: GraphUserBody;
  /**
   * Properties of `body` only a create writes: defaults Graph requires on a new user that the
   * snapshot did not ask for (an omitted displayName), so an update leaves Graph's value alone.
   */
  createOnly: readonly string[];
  /** Set on create only: it is the Exchange alias, and renaming it has effects beyond the directory. */
  mailNickname: string;
  /** Direct groups by display name; undefined = leave memberships alone. */
  groups: string[] | undefined;
  /** Stable hash of body + groups (the link's `writtenHash`). */
  hash: string;
}

/** Writable string properties a custom attribute may set by its own name (reference §3.2, §3.5). */
const STRING_PROPERTIES = new Set([
  'ageGroup', 'city', 'companyName', 'consentProvidedForMinor', 'country', 'department', 'employeeHireDate', 'employeeId',
  'employeeLeaveDateTime', 'employeeType', 'faxNumber', 'jobTitle', 'mobilePhone', 'officeLocation', 'onPremisesImmutableId',
  'postalCode', 'preferredDataLocation', 'preferredLanguage', 'state', 'streetAddress', 'usageLocation',
]);
const COLLECTION_PROPERTIES = new Set(['businessPhones', 'otherMails']);
const DATE_PROPERTIES = new Set(['employeeHireDate', 'employeeLeaveDateTime']);
const EXTENSION_ATTRIBUTE = /^extensionAttribute(1[0-5]|[1-9])$/;
const DIRECTORY_EXTENSION = /^extension_[0-9a-f]{32}_\w+$/i;
export const EXTENSION_ATTRIBUTES = 'onPremisesExtensionAttributes';

export const isMappableProperty = (name: string): boolean =>
  STRING_PROPERTIES.has(name) || COLLECTION_PROPERTIES.has(name) || EXTENSION_ATTRIBUTE.test(name) || DIRECTORY_EXTENSION.test(name);

/** App-side names of the standard properties, for `changedAttributes`. */
const APP_NAME: Readonly<Record<string, string>> = {
  userPrincipalName: 'username',
  displayName: 'displayName',
  givenName: 'firstName',
  surname: 'lastName',
  mail: 'email',
  accountEnabled: 'active',
};

export class EntraMapping {
  readonly #module: EntraMappingModule;
  /** Graph property (or extension attribute name) → app attribute name. */
  readonly #appNames: ReadonlyMap<string, string> | undefined;

  constructor(module: EntraMappingModule = {}) {
    this.#module = module;
    const map = module.attributeMap;
    this.#appNames = map ? new Map(Object.entries(map).map(([app, graph]) => [graph, app])) : undefined;
  }

  /** Graph properties to `$select` so that pulls and comparisons see every mapped value. */
  selectFor(desired?: DesiredUser): string[] {
    const names = new Set<string>();
    const add = (p: string) => names.add(EXTENSION_ATTRIBUTE.test(p) ? EXTENSION_ATTRIBUTES : p);
    for (const p of this.#appNames?.keys() ?? [...STRING_PROPERTIES, ...COLLECTION_PROPERTIES]) add(p);
    if (!this.#appNames) names.add(EXTENSION_ATTRIBUTES);
    for (const p of Object.keys(desired?.body ?? {})) add(p);
    return [...names];
  }

  async toEntra(snapshot: UserSnapshot, context: { domain: string }): Promise<DesiredUser> {
    // Omitted (undefined) = not in the body, so Graph's value stays; null or "" = null, which
    // a PATCH clears and a create leaves out.
    const name = (v: string | null | undefined) => (v === undefined ? undefined : v === null || v.trim() === '' ? null : v.trim());
    const text = (v: string | null | undefined) => name(v) ?? undefined;
    const upn = this.#module.userPrincipalName
      ? await hook('userPrincipalName', () => this.#module.userPrincipalName!(snapshot, context))
      : defaultUserPrincipalName(snapshot.username, context.domain);
    // Graph requires a displayName (it cannot be cleared): without one given, or when the
    // snapshot clears it, the derived default stands in. An omitted one is written on create
    // only (`createOnly`); a cleared one is written on updates too.
    const derived = text([text(snapshot.firstName), text(snapshot.lastName)].filter(Boolean).join(' ')) ?? snapshot.username;
    const displayName = text(snapshot.displayName) ?? derived;
    const givenName = name(snapshot.firstName);
    const surname = name(snapshot.lastName);
    let body: GraphUserBody = {
      userPrincipalName: upn,
      displayName,
      ...(givenName !== undefined && { givenName }),
      ...(surname !== undefined && { surname }),
      mail: snapshot.email,
      accountEnabled: snapshot.active,
      ...this.#attributes(snapshot),
    };
    if (this.#module.alterEntraUser) {
      body = (await hook('alterEntraUser', () => this.#module.alterEntraUser!(body, snapshot))) ?? body;
    }
    const nickname = typeof body?.mailNickname === 'string' && body.mailNickname !== '' ? body.mailNickname : undefined;
    body = checkBody(body);
    // The hook may set a displayName of its own: that one is managed like any other property.
    const createOnly = snapshot.displayName === undefined && body.displayName === derived ? ['displayName'] : [];
    const groups = snapshot.groups && uniqueCaseless(snapshot.groups);
    return { body, createOnly, mailNickname: nickname ?? mailNicknameFor(body.userPrincipalName), groups, hash: hashDesired(body, groups) };
  }

  /**
   * The UPN of a user known only by id and username (deletes, passwords and pulls of unlinked
   * users): a custom rule sees a snapshot with just those two fields.
   */
  async userPrincipalNameFor(ref: { id: string; username: string }, context: { domain: string }): Promise<string> {
    if (!this.#module.userPrincipalName) return defaultUserPrincipalName(ref.username, context.domain);
    const snapshot = { id: ref.id, username: ref.username, email: '', active: true } as UserSnapshot;
    return hook('userPrincipalName', () => this.#module.userPrincipalName!(snapshot, context));
  }

  async initialPassword(snapshot: UserSnapshot): Promise<string | undefined> {
    if (!this.#module.initialPassword) return undefined;
    const pw = await hook('initialPassword', () => this.#module.initialPassword!(snapshot));
    if (pw !== undefined && (typeof pw !== 'string' || pw === '')) throw new PermanentError("the Entra mapping module's initialPassword returned something other than a non-empty string");
    return pw;
  }

  /** The app-side name of a changed Graph property, for the audit log. */
  appName(property: string): string {
    if (APP_NAME[property]) return APP_NAME[property];
    const app = this.#appNames ? this.#appNames.get(property) : isMappableProperty(property) ? property : undefined;
    return app === undefined ? property : `attributes.${app}`;
  }

  /** A Graph user in the app's shape. */
  async toRemote(user: GraphUser, extra: Pick<RemoteUser, 'groups' | 'photo'> = {}): Promise<RemoteUser> {
    const v = user.values;
    const str = (k: string) => (typeof v[k] === 'string' && v[k] !== '' ? (v[k] as string) : undefined);
    let remote: RemoteUser = {
      target: 'entra',
      remoteId: user.id,
      username: user.userPrincipalName,
      active: user.accountEnabled,
      ...(str('mail') !== undefined && { email: str('mail') }),
      ...(str('givenName') !== undefined && { firstName: str('givenName') }),
      ...(str('surname') !== undefined && { lastName: str('surname') }),
      ...(str('displayName') !== undefined && { displayName: str('displayName') }),
      ...(extra.groups && { groups: extra.groups }),
      ...(extra.photo !== undefined && { photo: extra.photo }),
    };
    const attributes = this.#pullAttributes(v);
    if (Object.keys(attributes).length) remote.attributes = attributes;
    if (this.#module.alterRemoteUser) remote = (await hook('alterRemoteUser', () => this.#module.alterRemoteUser!(remote, v))) ?? remote;
    return remote;
  }

  #attributes(snapshot: UserSnapshot): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const extensions: Record<string, string | null> = {};
    // An empty value clears, as a null or "" profile field does: Graph refuses "" where it
    // expects a date or a country code, and a list holding "" is not an empty list.
    const set = (graph: string, value: string | string[] | undefined, app: string) => {
      const values = (value === undefined ? [] : Array.isArray(value) ? value : [value]).filter((v) => v !== '');
      if (COLLECTION_PROPERTIES.has(graph)) out[graph] = values;
      else if (EXTENSION_ATTRIBUTE.test(graph)) extensions[graph] = single(values, app, graph);
      else out[graph] = single(values, app, graph);
    };
    // Like groups: attributes omitted = leave them all alone.
    if (snapshot.attributes === undefined) return out;
    const given = snapshot.attributes;
    if (this.#module.attributeMap) {
      // Mapped attributes are idsync's to manage: one missing from the given set is cleared.
      for (const [app, graph] of Object.entries(this.#module.attributeMap)) set(graph, given[app], app);
    } else {
      for (const [name, value] of Object.entries(given)) if (isMappableProperty(name)) set(name, value, name);
    }
    if (Object.keys(extensions).length) out[EXTENSION_ATTRIBUTES] = extensions;
    return out;
  }

  #pullAttributes(v: Readonly<Record<string, unknown>>): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const put = (graph: string, value: unknown) => {
      const app = this.#appNames ? this.#appNames.get(graph) : graph;
      if (app === undefined || value === null || value === undefined || value === '') return;
      if (Array.isArray(value)) {
        if (value.length) out[app] = value.map(String);
      } else out[app] = String(value);
    };
    for (const [k, value] of Object.entries(v)) {
      if (k === EXTENSION_ATTRIBUTES && value && typeof value === 'object') {
        for (const [ek, ev] of Object.entries(value as Record<string, unknown>)) put(ek, ev);
      } else if (this.#appNames ? this.#appNames.has(k) : isMappableProperty(k) && !EXTENSION_ATTRIBUTE.test(k)) put(k, value);
    }
    return out;
  }
}

/**
 * The default UPN rule: the username with accents stripped and every character Entra does
 * not allow in a UPN's local part (`A–Z a–z 0–9 ' . - _ ! # ^ ~`, reference §3.2) replaced
 * by `_`, at most 64 characters, at the domain. `alice@example.com` → `alice_example.com@dom`.
 */
export function defaultUserPrincipalName(username: string, domain: string): string {
  const local = username
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9'.\-_!#^~]/g, '_')
    .replace(/\.{2,}/g, '.')
    .slice(0, 64)
    .replace(/^\.+|\.+$/g, '');
  return `${local || 'user'}@${domain}`;
}

/** The mail alias: the UPN's local part, whose allowed characters all suit mailNickname. */
export function mailNicknameFor(upn: string): string {
  const local = upn.slice(0, upn.lastIndexOf('@') < 0 ? undefined : upn.lastIndexOf('@'));
  return local.replace(/[^\x21-\x7e]|[@()\\[\]";:<>,]/g, '_').slice(0, 64) || 'user';
}

/** Whether Graph's current value already equals the desired one. */
export function sameValue(property: string, current: unknown, desired: unknown): boolean {
  const empty = (v: unknown) => v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0);
  if (empty(current) && empty(desired)) return true;
  if (property === 'userPrincipalName' && typeof current === 'string' && typeof desired === 'string') return current.toLowerCase() === desired.toLowerCase();
  if (DATE_PROPERTIES.has(property) && typeof current === 'string' && typeof desired === 'string') return Date.parse(current) === Date.parse(desired);
  return JSON.stringify(current) === JSON.stringify(desired);
}

/** Loads ENTRA_MAPPING_MODULE (a path, relative to the working directory, or a file: URL). */
export async function loadMappingModule(specifier: string | undefined): Promise<EntraMappingModule> {
  if (!specifier) return {};
  const source = await importMappingModule('Entra', specifier);
  const hooks = ['userPrincipalName', 'initialPassword', 'alterEntraUser', 'alterRemoteUser'] as const;
  refuseUnknownExports('Entra', specifier, source, [...hooks, 'attributeMap']);
  const module = pickHooks<EntraMappingModule>('Entra', specifier, source, hooks);
  const map = source['attributeMap'];
  if (map !== undefined) {
    const bad = typeof map === 'object' && map !== null && !Array.isArray(map) ? Object.values(map).filter((v) => typeof v !== 'string' || !isMappableProperty(v)) : [map];
    if (bad.length) {
      throw new Error(
        `the Entra mapping module ${specifier} exports attributeMap with ${bad.map((b) => JSON.stringify(b)).join(', ')}: expected app attribute → a writable Graph user property (e.g. department, employeeId), extensionAttribute1–15 or extension_<appId>_<name>`,
      );
    }
    refuseSharedTargets('Entra', specifier, map as Record<string, string>, 'Graph property');
    module.attributeMap = { ...(map as Record<string, string>) };
  }
  return module;
}

export function hashDesired(body: Readonly<Record<string, unknown>>, groups: string[] | undefined): string {
  return stableHash([
    sortedEntries(body),
    groups ? groups.map((g) => g.toLowerCase()).sort() : null,
  ]);
}

// Nested objects too (onPremisesExtensionAttributes): equal states hash alike whatever the key order.
const sortedEntries = (o: Readonly<Record<string, unknown>>): unknown[] =>
  Object.keys(o).sort().map((k) => [k, isPlainObject(o[k]) ? sortedEntries(o[k] as Record<string, unknown>) : o[k]]);
const isPlainObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

function single(values: string[], app: string, graph: string): string | null {
  if (values.length <= 1) return values[0] ?? null;
  throw new PermanentError(`attribute ${app} has ${values.length} values, but Graph's ${graph} holds one`);
}

const hook = <T>(name: string, run: () => T | Promise<T>): Promise<T> => runHook('Entra', name, run);

/** What a hook left must still be a creatable user; Graph validates the rest itself. */
function checkBody(body: GraphUserBody): GraphUserBody {
  if (typeof body !== 'object' || body === null) throw new PermanentError('the Entra mapping module\'s alterEntraUser returned no object');
  const upn = body.userPrincipalName;
  if (typeof upn !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(upn)) throw new PermanentError(`the user principal name ${JSON.stringify(upn)} is not of the form local@domain`);
  if (typeof body.displayName !== 'string' || body.displayName.trim() === '') throw new PermanentError('the Graph user body has no displayName');
  const { passwordProfile: _password, mailNickname: _nickname, ...rest } = body as Record<string, unknown>;
  return { ...rest, userPrincipalName: upn, displayName: body.displayName, accountEnabled: body.accountEnabled !== false };
}
