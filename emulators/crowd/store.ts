// In-memory directory: one internal directory as seen by one application. Names are keyed by
// their lower-cased form (Crowd's `lowerName` columns) and keep the stored case for output.
// Everything a request touches by name or key is a Map lookup; only listings walk a set.
import { randomUUID } from 'node:crypto';
import { EventLog } from './event-log.js';
import { SortedNames } from './sorted-names.js';

export type GroupType = 'GROUP' | 'LEGACY_ROLE';

export interface UserRecord {
  name: string;
  lowerName: string;
  firstName: string | null;
  lastName: string | null;
  displayName: string | null;
  email: string | null;
  active: boolean;
  /** The part after `directoryId:` in `key`; stable across renames. */
  externalId: string;
  createdDate: number;
  updatedDate: number;
  passwordHash: string | null;
  /** Attribute name (case-sensitive, as Crowd stores it) → values. */
  attributes: Map<string, string[]>;
  /** Lower-cased names of the groups this user is a direct member of. */
  groups: SortedNames;
}

export interface GroupRecord {
  name: string;
  lowerName: string;
  description: string | null;
  type: GroupType;
  active: boolean;
  createdDate: number;
  updatedDate: number;
  attributes: Map<string, string[]>;
  /** Direct user members (lower-cased names). */
  users: SortedNames;
  /** Direct child groups (lower-cased names). */
  children: SortedNames;
  /** Direct parent groups (lower-cased names). */
  parents: SortedNames;
}

export type NewUser = Omit<UserRecord, 'lowerName' | 'groups' | 'externalId' | 'createdDate' | 'updatedDate'> & {
  externalId?: string;
  createdDate?: number;
  updatedDate?: number;
};

export type NewGroup = Omit<GroupRecord, 'lowerName' | 'users' | 'children' | 'parents' | 'createdDate' | 'updatedDate'> & {
  createdDate?: number;
  updatedDate?: number;
};

export const lower = (name: string): string => name.toLowerCase();

export class DirectoryStore {
  readonly directoryId: number;
  /** What `/event` reads: every change made through the store, seeds included. */
  readonly events = new EventLog();
  private readonly users = new Map<string, UserRecord>();
  private readonly usersByExternalId = new Map<string, UserRecord>();
  private readonly userOrder = new SortedNames();
  private readonly groups = new Map<string, GroupRecord>();
  private readonly groupOrder = new SortedNames();
  /** Monotonic clock so two writes in one millisecond still order by `updated-date`. */
  private lastStamp = 0;

  constructor(directoryId: number) {
    this.directoryId = directoryId;
  }

  now(): number {
    const t = Date.now();
    this.lastStamp = t > this.lastStamp ? t : this.lastStamp;
    return this.lastStamp;
  }

  get userCount(): number {
    return this.users.size;
  }

  get groupCount(): number {
    return this.groups.size;
  }

  clear(): void {
    this.users.clear();
    this.usersByExternalId.clear();
    this.userOrder.clear();
    this.groups.clear();
    this.groupOrder.clear();
    this.events.expireTokens();
  }

  /** `<directoryId>:<externalId>`, or null when the external id is blank (EntityTranslator.toUserKey). */
  keyOf(user: UserRecord): string | null {
    return hasExternalId(user) ? `${this.directoryId}:${user.externalId}` : null;
  }

  // ---- users ----

  getUser(name: string): UserRecord | undefined {
    return this.users.get(lower(name));
  }

  getUserByLower(lowerName: string): UserRecord | undefined {
    return this.users.get(lowerName);
  }

  getUserByKey(key: string): UserRecord | undefined {
    const cut = key.indexOf(':');
    if (cut < 0 || key.slice(0, cut) !== String(this.directoryId)) return undefined;
    const externalId = key.slice(cut + 1);
    return externalId.trim() ? this.usersByExternalId.get(externalId) : undefined;
  }

  addUser(input: NewUser): UserRecord {
    const stamp = this.now();
    const user: UserRecord = {
      ...input,
      lowerName: lower(input.name),
      externalId: input.externalId ?? randomUUID(),
      createdDate: input.createdDate ?? stamp,
      updatedDate: input.updatedDate ?? input.createdDate ?? stamp,
      groups: new SortedNames(),
    };
    this.users.set(user.lowerName, user);
    // Users without an external id have no key, so nothing can address them by one.
    if (hasExternalId(user)) this.usersByExternalId.set(user.externalId, user);
    this.userOrder.add(user.lowerName);
    this.events.record({ kind: 'user', operation: 'CREATED', name: user.name });
    return user;
  }

  touchUser(user: UserRecord): void {
    user.updatedDate = this.now();
    this.events.record({ kind: 'user', operation: 'UPDATED', name: user.name });
  }

  renameUser(user: UserRecord, newName: string): void {
    const oldLower = user.lowerName;
    const newLower = lower(newName);
    user.name = newName;
    if (newLower === oldLower) return;
    this.users.delete(oldLower);
    this.userOrder.delete(oldLower);
    user.lowerName = newLower;
    this.users.set(newLower, user);
    this.userOrder.add(newLower);
    for (const g of user.groups) {
      const group = this.groups.get(g);
      if (group) {
        group.users.delete(oldLower);
        group.users.add(newLower);
      }
    }
  }

  removeUser(user: UserRecord): void {
    for (const g of user.groups) this.groups.get(g)?.users.delete(user.lowerName);
    this.users.delete(user.lowerName);
    if (hasExternalId(user)) this.usersByExternalId.delete(user.externalId);
    this.userOrder.delete(user.lowerName);
    this.events.record({ kind: 'user', operation: 'DELETED', name: user.name });
  }

  /** All users in name order (lower-cased names; resolve with getUserByLower). */
  orderedUsers(): readonly string[] {
    return this.userOrder.ordered();
  }

  // ---- groups ----

  getGroup(name: string): GroupRecord | undefined {
    return this.groups.get(lower(name));
  }

  getGroupByLower(lowerName: string): GroupRecord | undefined {
    return this.groups.get(lowerName);
  }

  addGroup(input: NewGroup): GroupRecord {
    const stamp = this.now();
    const group: GroupRecord = {
      ...input,
      lowerName: lower(input.name),
      createdDate: input.createdDate ?? stamp,
      updatedDate: input.updatedDate ?? input.createdDate ?? stamp,
      users: new SortedNames(),
      children: new SortedNames(),
      parents: new SortedNames(),
    };
    this.groups.set(group.lowerName, group);
    this.groupOrder.add(group.lowerName);
    this.events.record({ kind: 'group', operation: 'CREATED', name: group.name });
    return group;
  }

  removeGroup(group: GroupRecord): void {
    for (const u of group.users) this.users.get(u)?.groups.delete(group.lowerName);
    for (const c of group.children) this.groups.get(c)?.parents.delete(group.lowerName);
    for (const p of group.parents) this.groups.get(p)?.children.delete(group.lowerName);
    this.groups.delete(group.lowerName);
    this.groupOrder.delete(group.lowerName);
    this.events.record({ kind: 'group', operation: 'DELETED', name: group.name });
  }

  orderedGroups(): readonly string[] {
    return this.groupOrder.ordered();
  }

  // ---- memberships ----

  /** Returns false when the membership already existed. */
  addMember(user: UserRecord, group: GroupRecord): boolean {
    if (!group.users.add(user.lowerName)) return false;
    user.groups.add(group.lowerName);
    this.events.record({ kind: 'userMembership', operation: 'CREATED', user: user.name, group: group.name });
    return true;
  }

  removeMember(user: UserRecord, group: GroupRecord): boolean {
    if (!group.users.delete(user.lowerName)) return false;
    user.groups.delete(group.lowerName);
    this.events.record({ kind: 'userMembership', operation: 'DELETED', user: user.name, group: group.name });
    return true;
  }

  addChild(parent: GroupRecord, child: GroupRecord): boolean {
    if (!parent.children.add(child.lowerName)) return false;
    child.parents.add(parent.lowerName);
    this.events.record({ kind: 'groupMembership', operation: 'CREATED', child: child.name, parent: parent.name });
    return true;
  }

  removeChild(parent: GroupRecord, child: GroupRecord): boolean {
    if (!parent.children.delete(child.lowerName)) return false;
    child.parents.delete(parent.lowerName);
    this.events.record({ kind: 'groupMembership', operation: 'DELETED', child: child.name, parent: parent.name });
    return true;
  }

  /** Groups reachable upwards from `start` through parent links (excluding `start` unless cyclic). */
  ancestorsOf(start: Iterable<string>): Set<string> {
    return this.walk(start, (g) => g.parents);
  }

  /** Groups reachable downwards from `start` through child links. */
  descendantsOf(start: Iterable<string>): Set<string> {
    return this.walk(start, (g) => g.children);
  }

  /** Every group a user belongs to directly or through nesting. */
  nestedGroupsOfUser(user: UserRecord): Set<string> {
    const direct = [...user.groups];
    const all = this.ancestorsOf(direct);
    for (const g of direct) all.add(g);
    return all;
  }

  /** Every user in a group directly or through its nested child groups. */
  nestedUsersOfGroup(group: GroupRecord): Set<string> {
    const out = new Set<string>(group.users);
    for (const c of this.descendantsOf([group.lowerName])) {
      const child = this.groups.get(c);
      if (child) for (const u of child.users) out.add(u);
    }
    return out;
  }

  private walk(start: Iterable<string>, next: (g: GroupRecord) => SortedNames): Set<string> {
    const seen = new Set<string>();
    const queue: string[] = [];
    for (const s of start) {
      const g = this.groups.get(s);
      if (g) for (const n of next(g)) queue.push(n);
    }
    while (queue.length > 0) {
      const name = queue.pop() as string;
      if (seen.has(name)) continue;
      seen.add(name);
      const g = this.groups.get(name);
      if (g) for (const n of next(g)) if (!seen.has(n)) queue.push(n);
    }
    return seen;
  }
}

const hasExternalId = (user: UserRecord): boolean => user.externalId.trim() !== '';
