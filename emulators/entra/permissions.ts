import { USER_ADMINISTRATOR_ROLE } from './apps.js';
import { accessDenied } from './errors.js';

export interface AuthContext {
  appId: string;
  tenantId: string;
  roles: ReadonlySet<string>;
  /** Directory role template ids held by the app (`wids` claim). */
  wids: ReadonlySet<string>;
}

/** Application permissions accepted per operation (least privileged first, per permissions.json). */
export const PERMISSIONS = {
  readUsers: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  writeUsers: ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
  enableDisableUsers: ['User.EnableDisableAccount.All', 'User.ReadWrite.All', 'Directory.ReadWrite.All'],
  deleteUsers: ['User.DeleteRestore.All', 'User.ReadWrite.All', 'Directory.ReadWrite.All'],
  readDeleted: ['User.Read.All', 'User.ReadWrite.All', 'User.DeleteRestore.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  restoreUsers: ['User.DeleteRestore.All', 'Directory.ReadWrite.All'],
  readGroups: ['GroupMember.Read.All', 'Group.Read.All', 'GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  writeGroups: ['Group.ReadWrite.All', 'Directory.ReadWrite.All'],
  createGroups: ['Group.Create', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
  writeMembers: ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
  readMemberOf: ['Directory.Read.All', 'GroupMember.Read.All', 'Group.Read.All', 'GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All', 'User.Read.All', 'User.ReadWrite.All'],
  readPhotos: ['ProfilePhoto.Read.All', 'ProfilePhoto.ReadWrite.All', 'User.Read.All', 'User.ReadWrite.All'],
  writePhotos: ['ProfilePhoto.ReadWrite.All', 'User.ReadWrite.All'],
  readOrganization: ['Organization.Read.All', 'Organization.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All', 'User.Read.All', 'User.ReadWrite.All'],
  writePasswords: ['User-PasswordProfile.ReadWrite.All'],
} as const satisfies Record<string, readonly string[]>;

export type Permission = keyof typeof PERMISSIONS;

export function hasPermission(auth: AuthContext, permission: Permission): boolean {
  return PERMISSIONS[permission].some((role) => auth.roles.has(role));
}

export function requirePermission(auth: AuthContext, permission: Permission): void {
  if (!hasPermission(auth, permission)) throw accessDenied();
}

/**
 * App-only password writes need the permission and a directory role; User.ReadWrite.All
 * alone is refused, which is the trap the worker must classify as a configuration error.
 */
export function requirePasswordWrite(auth: AuthContext): void {
  if (!hasPermission(auth, 'writePasswords') || !auth.wids.has(USER_ADMINISTRATOR_ROLE)) throw accessDenied();
}
