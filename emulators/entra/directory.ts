import { randomUUID } from 'node:crypto';
import { ChangeLog } from './changelog.js';

export interface UserRecord {
  id: string;
  /** Listing order; cursors ($skiptoken) hold the last seq served. */
  seq: number;
  /** Graph-shaped property values that are set (never null). */
  values: Record<string, unknown>;
  password: string | undefined;
  visibleAt: number;
  deletedAt: number | undefined;
  listed: boolean;
}

export interface GroupRecord {
  id: string;
  seq: number;
  values: Record<string, unknown>;
  members: Set<string>;
  visibleAt: number;
}

export interface Photo {
  data: Buffer;
  contentType: string;
  etag: string;
  width: number | null;
  height: number | null;
}

export interface Domain {
  name: string;
  isDefault: boolean;
  isInitial: boolean;
  federated: boolean;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isGuid = (s: string): boolean => GUID.test(s);

/** In-memory tenant. Indexed by id, lower-cased UPN and proxy address; listing is seq-ordered. */
export class Directory {
  readonly users = new Map<string, UserRecord>();
  readonly deleted = new Map<string, UserRecord>();
  readonly groups = new Map<string, GroupRecord>();
  readonly photos = new Map<string, Photo>();
  readonly log = new ChangeLog();
  private readonly byUpn = new Map<string, UserRecord>();
  private readonly byProxy = new Map<string, string>();
  private readonly memberships = new Map<string, Set<string>>();
  private order: UserRecord[] = [];
  private holes = 0;
  private nextSeq = 1;

  constructor(readonly domains: Domain[]) {}

  clear(): void {
    this.users.clear();
    this.deleted.clear();
    this.groups.clear();
    this.photos.clear();
    this.log.clear();
    this.byUpn.clear();
    this.byProxy.clear();
    this.memberships.clear();
    this.order = [];
    this.holes = 0;
  }

  // ------------------------------------------------------------ users

  insertUser(values: Record<string, unknown>, password: string | undefined, now: number, visibleAt: number): UserRecord {
    const id = typeof values.id === 'string' ? values.id.toLowerCase() : randomUUID();
    const rec: UserRecord = { id, seq: this.nextSeq++, values: { ...values, id }, password, visibleAt, deletedAt: undefined, listed: true };
    this.users.set(id, rec);
    this.indexUser(rec);
    this.order.push(rec);
    this.log.append(id, 'create', null, visibleAt, now);
    return rec;
  }

  private indexUser(rec: UserRecord): void {
    const upn = rec.values.userPrincipalName;
    if (typeof upn === 'string') this.byUpn.set(upn.toLowerCase(), rec);
    for (const p of proxyList(rec)) this.byProxy.set(p.toLowerCase(), rec.id);
  }

  private unindexUser(rec: UserRecord): void {
    const upn = rec.values.userPrincipalName;
    if (typeof upn === 'string' && this.byUpn.get(upn.toLowerCase()) === rec) this.byUpn.delete(upn.toLowerCase());
    for (const p of proxyList(rec)) if (this.byProxy.get(p.toLowerCase()) === rec.id) this.byProxy.delete(p.toLowerCase());
  }

  /** A live user by object id or UPN; users still inside the eventual-consistency window are not found. */
  findUser(key: string, now: number): UserRecord | undefined {
    const rec = isGuid(key) ? this.users.get(key.toLowerCase()) : this.byUpn.get(key.toLowerCase());
    return rec && rec.visibleAt <= now ? rec : undefined;
  }

  upnOwner(upn: string): UserRecord | undefined {
    return this.byUpn.get(upn.toLowerCase());
  }

  proxyOwner(address: string): string | undefined {
    return this.byProxy.get(address.toLowerCase());
  }

  /** Applies already-validated changes (null clears); returns the properties whose value changed. */
  updateUser(rec: UserRecord, changes: Readonly<Record<string, unknown>>, now: number): Set<string> {
    const changed = new Set<string>();
    this.unindexUser(rec);
    for (const [name, value] of Object.entries(changes)) {
      const before = rec.values[name];
      if (value === null || value === undefined) {
        if (before !== undefined) {
          delete rec.values[name];
          changed.add(name);
        }
      } else if (JSON.stringify(before) !== JSON.stringify(value)) {
        rec.values[name] = value;
        changed.add(name);
      }
    }
    if (changed.has('mail')) {
      const next = mailProxies(rec.values.mail, rec.values.proxyAddresses);
      if (JSON.stringify(next) !== JSON.stringify(rec.values.proxyAddresses ?? [])) {
        rec.values.proxyAddresses = next;
        changed.add('proxyAddresses');
      }
    }
    this.indexUser(rec);
    if (changed.size) this.log.append(rec.id, 'update', changed, now, now);
    return changed;
  }

  setPassword(rec: UserRecord, password: string, now: number): void {
    rec.password = password;
    rec.values.lastPasswordChangeDateTime = isoSeconds(now);
  }

  softDelete(rec: UserRecord, now: number): void {
    this.unindexUser(rec);
    this.users.delete(rec.id);
    rec.deletedAt = now;
    rec.values.deletedDateTime = isoSeconds(now);
    rec.listed = false;
    this.holes++;
    this.compact();
    this.deleted.set(rec.id, rec);
    this.log.append(rec.id, 'softDelete', null, now, now);
  }

  /** Restored users move to the end of the listing order (Graph guarantees no order). */
  restore(rec: UserRecord, now: number, visibleAt: number): void {
    this.deleted.delete(rec.id);
    rec.deletedAt = undefined;
    delete rec.values.deletedDateTime;
    rec.seq = this.nextSeq++;
    rec.listed = true;
    rec.visibleAt = visibleAt;
    this.users.set(rec.id, rec);
    this.indexUser(rec);
    this.order.push(rec);
    this.log.append(rec.id, 'restore', null, visibleAt, now);
  }

  purge(rec: UserRecord, now: number): void {
    this.deleted.delete(rec.id);
    this.photos.delete(rec.id);
    for (const groupId of this.memberships.get(rec.id) ?? []) this.groups.get(groupId)?.members.delete(rec.id);
    this.memberships.delete(rec.id);
    this.log.append(rec.id, 'hardDelete', null, now, now);
  }

  private compact(): void {
    if (this.holes > 1024 && this.holes * 4 > this.order.length) {
      this.order = this.order.filter((r) => r.listed);
      this.holes = 0;
    }
  }

  /** Visits visible live users with seq > afterSeq in order until `visit` returns false. */
  scanUsers(afterSeq: number, now: number, visit: (rec: UserRecord) => boolean): void {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.order[mid]!.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.order.length; i++) {
      const rec = this.order[i]!;
      if (!rec.listed || rec.visibleAt > now) continue;
      if (!visit(rec)) return;
    }
  }

  /** Deleted-items retention: purge users deleted longer ago than `retentionMs`. */
  sweepDeleted(now: number, retentionMs: number): void {
    for (const rec of this.deleted.values()) {
      if (rec.deletedAt !== undefined && now - rec.deletedAt > retentionMs) this.purge(rec, now);
    }
  }

  // ------------------------------------------------------------ groups

  insertGroup(values: Record<string, unknown>, visibleAt: number): GroupRecord {
    const id = typeof values.id === 'string' ? values.id.toLowerCase() : randomUUID();
    const rec: GroupRecord = { id, seq: this.nextSeq++, values: { ...values, id }, members: new Set(), visibleAt };
    this.groups.set(id, rec);
    return rec;
  }

  findGroup(id: string, now: number): GroupRecord | undefined {
    const rec = this.groups.get(id.toLowerCase());
    return rec && rec.visibleAt <= now ? rec : undefined;
  }

  deleteGroup(rec: GroupRecord): void {
    this.groups.delete(rec.id);
    for (const m of rec.members) this.memberships.get(m)?.delete(rec.id);
    for (const g of this.memberships.get(rec.id) ?? []) this.groups.get(g)?.members.delete(rec.id);
    this.memberships.delete(rec.id);
  }

  addMember(group: GroupRecord, objectId: string): void {
    group.members.add(objectId);
    let set = this.memberships.get(objectId);
    if (!set) this.memberships.set(objectId, (set = new Set()));
    set.add(group.id);
  }

  removeMember(group: GroupRecord, objectId: string): void {
    group.members.delete(objectId);
    this.memberships.get(objectId)?.delete(group.id);
  }

  groupsOf(objectId: string): GroupRecord[] {
    return [...(this.memberships.get(objectId) ?? [])].map((g) => this.groups.get(g)).filter((g): g is GroupRecord => !!g);
  }

  // ------------------------------------------------------------ domains

  verifiedDomain(name: string): Domain | undefined {
    const lower = name.toLowerCase();
    return this.domains.find((d) => d.name.toLowerCase() === lower);
  }

  defaultDomain(): Domain {
    return this.domains.find((d) => d.isDefault) ?? this.domains[0]!;
  }
}

function proxyList(rec: UserRecord): string[] {
  const p = rec.values.proxyAddresses;
  return Array.isArray(p) ? (p as string[]) : [];
}

/** Exchange keeps the old primary address as a secondary (lower-case "smtp:") when mail changes. */
function mailProxies(mail: unknown, current: unknown): string[] {
  const old = Array.isArray(current) ? (current as string[]) : [];
  const secondaries = old.map((p) => (p.startsWith('SMTP:') ? `smtp:${p.slice(5)}` : p));
  if (typeof mail !== 'string') return secondaries;
  const primary = `SMTP:${mail}`;
  return [primary, ...secondaries.filter((p) => p.toLowerCase() !== primary.toLowerCase())];
}

export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
