import type { Core } from './core.js';
import { isoSeconds } from './directory.js';
import { newGroupValues } from './groups.js';
import { makePhoto } from './photos.js';
import { completeNewUser } from './users.js';

/** A user as stored; any Graph user property may be given. Seeding skips create validation. */
export interface SeedUser {
  id?: string;
  userPrincipalName: string;
  displayName?: string;
  mailNickname?: string;
  accountEnabled?: boolean;
  password?: string;
  /** Raw bytes (or base64 through the admin endpoint) and their content type. */
  photo?: { contentType: string; data: Buffer | string };
  /** Seed straight into deleted items. */
  deleted?: boolean;
  [property: string]: unknown;
}

export interface SeedGroup {
  id?: string;
  displayName: string;
  mailNickname?: string;
  description?: string;
  securityEnabled?: boolean;
  mailEnabled?: boolean;
  groupTypes?: string[];
  /** Member object ids or user principal names. */
  members?: string[];
}

export interface SeedInput {
  users?: SeedUser[];
  groups?: SeedGroup[];
  /** Bulk users `${prefix}${n}@${domain}` (n from startIndex), e.g. 100k for a benchmark. */
  generateUsers?: { count: number; prefix?: string; domain?: string; startIndex?: number };
}

export interface SeedResult {
  userIds: string[];
  groupIds: string[];
  generated: number;
}

export function seed(core: Core, input: SeedInput): SeedResult {
  const dir = core.directory;
  const now = core.clock.now();
  const userIds: string[] = [];
  const groupIds: string[] = [];
  for (const u of input.users ?? []) {
    const { password, photo, deleted, ...props } = u;
    if (dir.upnOwner(u.userPrincipalName)) throw new Error(`seed: userPrincipalName ${u.userPrincipalName} already exists`);
    const local = u.userPrincipalName.split('@')[0] ?? u.userPrincipalName;
    const values = completeNewUser(core, { accountEnabled: true, displayName: local, mailNickname: local, ...props }, now);
    if (values.onPremisesSyncEnabled === true && values.onPremisesLastSyncDateTime === undefined) {
      values.onPremisesLastSyncDateTime = isoSeconds(now);
    }
    const rec = dir.insertUser(values, password, now, now);
    if (photo) dir.photos.set(rec.id, makePhoto(Buffer.isBuffer(photo.data) ? photo.data : Buffer.from(photo.data, 'base64'), photo.contentType));
    if (deleted) dir.softDelete(rec, now);
    userIds.push(rec.id);
  }
  let generated = 0;
  const gen = input.generateUsers;
  if (gen) {
    const prefix = gen.prefix ?? 'user';
    const domain = gen.domain ?? dir.defaultDomain().name;
    const start = gen.startIndex ?? 1;
    for (let n = start; n < start + gen.count; n++) {
      const nick = `${prefix}${n}`;
      const upn = `${nick}@${domain}`;
      if (dir.upnOwner(upn)) continue;
      const values = completeNewUser(
        core,
        {
          accountEnabled: true,
          displayName: `User ${n}`,
          givenName: 'User',
          surname: String(n),
          mailNickname: nick,
          userPrincipalName: upn,
          mail: upn,
          employeeId: String(n).slice(0, 16),
        },
        now,
      );
      dir.insertUser(values, undefined, now, now);
      generated++;
    }
  }
  for (const g of input.groups ?? []) {
    const nick = g.mailNickname ?? g.displayName.replace(/[^A-Za-z0-9]/g, '').slice(0, 64) ?? 'group';
    const { members, ...props } = g;
    const rec = dir.insertGroup(
      newGroupValues({ securityEnabled: true, mailEnabled: false, ...props, mailNickname: nick || 'group' }, now),
      now,
    );
    for (const m of members ?? []) {
      const member = dir.findUser(m, now) ?? dir.findGroup(m, now);
      if (!member) throw new Error(`seed: group member ${m} not found`);
      dir.addMember(rec, member.id);
    }
    groupIds.push(rec.id);
  }
  return { userIds, groupIds, generated };
}
