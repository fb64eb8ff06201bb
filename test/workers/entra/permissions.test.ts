// The application permissions Graph calls are checked against: the names errors and the
// probe report, and which broader permissions an admin may have granted instead.
import { PASSWORD_PERMISSION, PASSWORD_ROLE, PERMISSION, holds } from '../../../workers/entra/permissions.js';

const roles = (...names: string[]) => new Set(names);

describe('PERMISSION', () => {
  it('names the least privileged permission of each kind of call', () => {
    expect(PERMISSION).toEqual({
      readUsers: 'User.Read.All',
      writeUsers: 'User.ReadWrite.All',
      restoreUsers: 'User.DeleteRestore.All',
      readGroups: 'GroupMember.Read.All',
      writeMembers: 'GroupMember.ReadWrite.All',
      readPhotos: 'ProfilePhoto.Read.All',
      readOrganization: 'Organization.Read.All',
    });
  });

  it('names the password permission and the directory role it needs', () => {
    expect(PASSWORD_PERMISSION).toBe('User-PasswordProfile.ReadWrite.All');
    expect(PASSWORD_ROLE).toBe('User Administrator');
  });
});

describe('holds', () => {
  // Every permission with each role that grants it on its own, the permission itself first.
  const GRANTED_BY: Record<string, string[]> = {
    'User.Read.All': ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
    'User.ReadWrite.All': ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
    'User.DeleteRestore.All': ['User.DeleteRestore.All', 'Directory.ReadWrite.All'],
    'GroupMember.Read.All': ['GroupMember.Read.All', 'GroupMember.ReadWrite.All', 'Group.Read.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
    'GroupMember.ReadWrite.All': ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
    'ProfilePhoto.Read.All': ['ProfilePhoto.Read.All', 'ProfilePhoto.ReadWrite.All', 'User.Read.All', 'User.ReadWrite.All'],
    'Organization.Read.All': ['Organization.Read.All', 'Organization.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All', 'User.Read.All', 'User.ReadWrite.All'],
  };
  const ALL = [...new Set([...Object.values(GRANTED_BY).flat(), PASSWORD_PERMISSION, 'Mail.Read'])].sort();

  it.each(Object.entries(GRANTED_BY))('%s is granted by exactly the permissions that imply it', (permission, grantedBy) => {
    const granting = ALL.filter((role) => holds(roles(role), permission));
    expect(granting).toEqual([...grantedBy].sort());
  });

  it('grants a permission nothing else implies only by itself', () => {
    expect(ALL.filter((role) => holds(roles(role), PASSWORD_PERMISSION))).toEqual([PASSWORD_PERMISSION]);
    expect(holds(roles(), 'User.Read.All')).toBe(false);
    expect(holds(roles(), PASSWORD_PERMISSION)).toBe(false);
  });

  it('looks at every role the token holds', () => {
    expect(holds(roles('Mail.Read', 'Calendars.Read', 'Directory.Read.All'), 'GroupMember.Read.All')).toBe(true);
    expect(holds(roles('Mail.Read', 'Calendars.Read'), 'GroupMember.Read.All')).toBe(false);
  });

  it('matches names exactly, case included', () => {
    expect(holds(roles('user.read.all'), 'User.Read.All')).toBe(false);
    expect(holds(roles('Directory.ReadWrite'), 'User.Read.All')).toBe(false);
  });
});
