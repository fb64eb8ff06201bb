/**
 * The application permissions (the token's `roles`) each Graph call needs, least
 * privileged first (reference §3.3, §3.4, §4), and which broader ones also grant it.
 * Errors name the permission a refused call needed; the probe checks the token for the
 * one whose absence quarantined the target.
 */
export const PERMISSION = {
  readUsers: 'User.Read.All',
  writeUsers: 'User.ReadWrite.All',
  restoreUsers: 'User.DeleteRestore.All',
  readGroups: 'GroupMember.Read.All',
  writeMembers: 'GroupMember.ReadWrite.All',
  readPhotos: 'ProfilePhoto.Read.All',
  readOrganization: 'Organization.Read.All',
} as const;

/** Password writes: app-only resets need this permission and a directory role (reference §3.3). */
export const PASSWORD_PERMISSION = 'User-PasswordProfile.ReadWrite.All';
export const PASSWORD_ROLE = 'User Administrator';

const IMPLIED_BY: Readonly<Record<string, readonly string[]>> = {
  'User.Read.All': ['User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  'User.ReadWrite.All': ['Directory.ReadWrite.All'],
  'User.DeleteRestore.All': ['Directory.ReadWrite.All'],
  'GroupMember.Read.All': ['GroupMember.ReadWrite.All', 'Group.Read.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  'GroupMember.ReadWrite.All': ['Group.ReadWrite.All', 'Directory.ReadWrite.All'],
  'ProfilePhoto.Read.All': ['ProfilePhoto.ReadWrite.All', 'User.Read.All', 'User.ReadWrite.All'],
  'Organization.Read.All': ['Organization.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All', 'User.Read.All', 'User.ReadWrite.All'],
};

/** Whether the token's roles grant `permission`, directly or through a broader permission. */
export function holds(roles: ReadonlySet<string>, permission: string): boolean {
  return roles.has(permission) || (IMPLIED_BY[permission] ?? []).some((p) => roles.has(p));
}
