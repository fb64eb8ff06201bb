// Bulk loading of users and groups (from code or the admin endpoint). Seeding bypasses the
// REST write rules on purpose (explicit keys and dates, no automatic password attributes) so
// tests can build exact fixtures, but names still go through Crowd's validation.
import type { DirectoryStore, GroupType } from './store.js';
import { hashPassword } from './password.js';
import { checkGroupName, checkUserName, populateNames, truncate } from './user-rules.js';

export interface SeedUser {
  name: string;
  firstName?: string;
  lastName?: string;
  displayName?: string;
  email?: string;
  /** Default true. */
  active?: boolean;
  /** Stored hashed; omit for a user without a password. */
  password?: string;
  attributes?: Record<string, string[]>;
  /** The part of `key` after `directoryId:`; default a random UUID. */
  externalId?: string;
  /** Epoch ms or an ISO-8601 string; default now. */
  createdDate?: number | string;
  /** Epoch ms or an ISO-8601 string; default createdDate. */
  updatedDate?: number | string;
  /** Direct group memberships; missing groups are created. */
  groups?: string[];
}

export interface SeedGroup {
  name: string;
  description?: string;
  /** Default 'GROUP'. */
  type?: GroupType;
  /** Default true. */
  active?: boolean;
  attributes?: Record<string, string[]>;
  /** Direct user members; each must be seeded in the same call or already exist. */
  users?: string[];
  /** Direct child groups; missing groups are created. */
  childGroups?: string[];
  createdDate?: number | string;
  updatedDate?: number | string;
}

function epoch(value: number | string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const t = typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(t)) throw new Error(`${field}: not a date: ${String(value)}`);
  return t;
}

const attrMap = (attrs: Record<string, string[]> | undefined): Map<string, string[]> =>
  new Map(Object.entries(attrs ?? {}).map(([k, v]) => [k, [...v]]));

/** Upserts: an existing user or group with the same name (any case) is replaced. */
export function applySeed(store: DirectoryStore, users: readonly SeedUser[], groups: readonly SeedGroup[]): void {
  const ensureGroup = (name: string) =>
    store.getGroup(name) ??
    store.addGroup({ name: checkGroupName(name), description: null, type: 'GROUP', active: true, attributes: new Map() });

  for (const g of groups) {
    const existing = store.getGroup(g.name);
    if (existing) store.removeGroup(existing);
    const createdDate = epoch(g.createdDate, `group ${g.name} createdDate`);
    store.addGroup({
      name: checkGroupName(g.name),
      description: truncate(g.description ?? null),
      type: g.type ?? 'GROUP',
      active: g.active ?? true,
      attributes: attrMap(g.attributes),
      createdDate,
      updatedDate: epoch(g.updatedDate, `group ${g.name} updatedDate`) ?? createdDate,
    });
  }

  for (const u of users) {
    const existing = store.getUser(u.name);
    if (existing) store.removeUser(existing);
    const name = checkUserName(u.name);
    const names = populateNames(name, u.firstName ?? null, u.lastName ?? null, u.displayName ?? null);
    const createdDate = epoch(u.createdDate, `user ${u.name} createdDate`);
    const user = store.addUser({
      name,
      firstName: truncate(names.firstName),
      lastName: truncate(names.lastName),
      displayName: truncate(names.displayName),
      email: truncate(u.email ?? null),
      active: u.active ?? true,
      passwordHash: u.password === undefined ? null : hashPassword(u.password),
      attributes: attrMap(u.attributes),
      externalId: u.externalId,
      createdDate,
      updatedDate: epoch(u.updatedDate, `user ${u.name} updatedDate`) ?? createdDate,
    });
    for (const g of u.groups ?? []) store.addMember(user, ensureGroup(g));
  }

  for (const g of groups) {
    const group = store.getGroup(g.name);
    if (!group) continue;
    for (const member of g.users ?? []) {
      const user = store.getUser(member);
      if (!user) throw new Error(`group ${g.name}: unknown user ${member}`);
      store.addMember(user, group);
    }
    for (const child of g.childGroups ?? []) {
      const c = ensureGroup(child);
      if (c === group || store.descendantsOf([c.lowerName]).has(group.lowerName)) {
        throw new Error(`group ${g.name}: child ${child} would create a cycle`);
      }
      store.addChild(group, c);
    }
  }
}
