// What a full sync counts as a difference between the application and a target, in both
// directions. A difference here becomes an update or an application change in the plan, so
// each rule (case, order, empty vs absent, authority) is asserted on the exact diff returned.
import { defaultAuthority, type Authority } from '../../../shared/config.js';
import type { AppField, RemoteUser } from '../../../shared/jobs.js';
import type { AppUser } from '../../../workers/app/directory.js';
import { diffForApp, diffForTarget } from '../../../workers/sync/compare.js';

type Expected = Omit<RemoteUser, 'remoteId'>;
type Authorities = Record<AppField, Authority>;

const ALL_APP: Authorities = { ...defaultAuthority('crowd'), roles: 'app' };
const ALL_TARGET = Object.fromEntries(Object.keys(ALL_APP).map((f) => [f, 'target'])) as Authorities;
const owning = (...fields: AppField[]): Authorities => ({ ...ALL_APP, ...Object.fromEntries(fields.map((f) => [f, 'target'])) });

const expected = (over: Partial<Expected> = {}): Expected => ({ target: 'crowd', username: 'alice', email: 'alice@example.com', active: true, ...over });
const remote = (over: Partial<RemoteUser> = {}): RemoteUser => ({ target: 'crowd', remoteId: 'r-1', username: 'alice', email: 'alice@example.com', active: true, ...over });
const appUser = (over: Partial<AppUser> = {}): AppUser => ({ id: 'a1', username: 'alice', email: 'alice@example.com', active: true, ...over });

describe('diffForTarget: profile fields', () => {
  it('finds nothing when the target already looks like the push', () => {
    const full = { firstName: 'Alice', lastName: 'Smith', displayName: 'Alice Smith' };
    expect(diffForTarget(expected(full), remote(full), ALL_APP)).toEqual([]);
  });

  it('reports each differing field with both values, in profile order', () => {
    const diff = diffForTarget(
      expected({ username: 'alice', email: 'new@example.com', firstName: 'Alice', lastName: 'Smith', displayName: 'Alice S', active: false }),
      remote({ username: 'alicia', email: 'old@example.com', firstName: 'Ally', lastName: 'Smyth', displayName: 'Ally S', active: true }),
      ALL_APP,
    );
    expect(diff).toEqual([
      { attribute: 'username', app: 'alice', target: 'alicia' },
      { attribute: 'email', app: 'new@example.com', target: 'old@example.com' },
      { attribute: 'firstName', app: 'Alice', target: 'Ally' },
      { attribute: 'lastName', app: 'Smith', target: 'Smyth' },
      { attribute: 'displayName', app: 'Alice S', target: 'Ally S' },
      { attribute: 'active', app: false, target: true },
    ]);
  });

  it('compares usernames without regard to case, on both sides', () => {
    expect(diffForTarget(expected({ username: 'Alice' }), remote({ username: 'aLICE' }), ALL_APP)).toEqual([]);
  });

  it('compares other fields with case: only the username is case-insensitive', () => {
    expect(diffForTarget(expected({ email: 'Alice@example.com' }), remote(), ALL_APP)).toEqual([{ attribute: 'email', app: 'Alice@example.com', target: 'alice@example.com' }]);
    expect(diffForTarget(expected({ firstName: 'ALICE' }), remote({ firstName: 'alice' }), ALL_APP)).toEqual([{ attribute: 'firstName', app: 'ALICE', target: 'alice' }]);
  });

  it('skips a field the snapshot leaves out: the push leaves the remote value alone', () => {
    expect(diffForTarget(expected(), remote({ firstName: 'Ally', displayName: 'Ally' }), ALL_APP)).toEqual([]);
  });

  it('treats a cleared field ("" or null) as equal to an absent remote value', () => {
    expect(diffForTarget(expected({ firstName: '' }), remote(), ALL_APP)).toEqual([]);
    expect(diffForTarget(expected({ lastName: null as unknown as string }), remote(), ALL_APP)).toEqual([]);
    expect(diffForTarget(expected({ displayName: '' }), remote({ displayName: '' }), ALL_APP)).toEqual([]);
  });

  it('reports a cleared field the remote still has', () => {
    expect(diffForTarget(expected({ firstName: '' }), remote({ firstName: 'Ally' }), ALL_APP)).toEqual([{ attribute: 'firstName', app: '', target: 'Ally' }]);
  });

  it('reports a value the remote lacks', () => {
    expect(diffForTarget(expected({ firstName: 'Alice' }), remote(), ALL_APP)).toEqual([{ attribute: 'firstName', app: 'Alice', target: undefined }]);
  });

  it('ignores the fields the target is the authority for', () => {
    const diff = diffForTarget(
      expected({ username: 'x', email: 'x@example.com', firstName: 'X', lastName: 'X', displayName: 'X', active: false }),
      remote(),
      owning('username', 'email', 'firstName', 'lastName', 'displayName', 'active'),
    );
    expect(diff).toEqual([]);
  });

  it('still compares the fields the application owns when the target owns others', () => {
    expect(diffForTarget(expected({ email: 'x@example.com', active: false }), remote(), owning('active'))).toEqual([{ attribute: 'email', app: 'x@example.com', target: 'alice@example.com' }]);
  });
});

describe('diffForTarget: groups', () => {
  it('compares group lists as sets, without case or order', () => {
    expect(diffForTarget(expected({ groups: ['Staff', 'dev', 'staff'] }), remote({ groups: ['DEV', 'STAFF'] }), ALL_APP)).toEqual([]);
  });

  it('reports a missing or extra group with both lists', () => {
    expect(diffForTarget(expected({ groups: ['dev'] }), remote({ groups: ['dev', 'ops'] }), ALL_APP)).toEqual([{ attribute: 'groups', app: ['dev'], target: ['dev', 'ops'] }]);
    expect(diffForTarget(expected({ groups: ['dev', 'ops'] }), remote({ groups: ['dev'] }), ALL_APP)).toEqual([{ attribute: 'groups', app: ['dev', 'ops'], target: ['dev'] }]);
  });

  it('reports lists of the same size that differ after the first name', () => {
    expect(diffForTarget(expected({ groups: ['a', 'b'] }), remote({ groups: ['a', 'c'] }), ALL_APP)).toEqual([{ attribute: 'groups', app: ['a', 'b'], target: ['a', 'c'] }]);
  });

  it('reports a remote group list that is empty when the snapshot has groups', () => {
    expect(diffForTarget(expected({ groups: ['dev'] }), remote({ groups: [] }), ALL_APP)).toEqual([{ attribute: 'groups', app: ['dev'], target: [] }]);
  });

  it('does not compare groups the snapshot leaves out or the listing did not read', () => {
    expect(diffForTarget(expected(), remote({ groups: ['dev'] }), ALL_APP)).toEqual([]);
    expect(diffForTarget(expected({ groups: ['dev'] }), remote(), ALL_APP)).toEqual([]);
  });

  it('does not compare groups the target owns', () => {
    expect(diffForTarget(expected({ groups: ['dev'] }), remote({ groups: ['ops'] }), owning('groups'))).toEqual([]);
  });
});

describe('diffForTarget: attributes', () => {
  it('reports each differing attribute under its own name', () => {
    const diff = diffForTarget(
      expected({ attributes: { dept: 'R&D', site: 'Oslo', tags: ['a', 'b'], floors: ['1', '2'] } }),
      remote({ attributes: { dept: 'Sales', site: 'Oslo', tags: ['b', 'a'], floors: ['1', '3'] } }),
      ALL_APP,
    );
    expect(diff).toEqual([
      { attribute: 'attributes.dept', app: 'R&D', target: 'Sales' },
      { attribute: 'attributes.floors', app: ['1', '2'], target: ['1', '3'] },
    ]);
  });

  // Crowd keeps an attribute's values as a set: it drops duplicates (ignoring case) and keeps
  // no order, so comparing lists in order planned the same update at every sync.
  it('compares multi-valued attributes by their distinct values, not their order', () => {
    const same = (app: unknown, target: unknown) => diffForTarget(expected({ attributes: { tags: app as string[] } }), remote({ attributes: { tags: target as string[] } }), ALL_APP).length === 0;
    expect(same(['a', 'b'], ['b', 'a'])).toBe(true);
    expect(same(['a', 'A', 'b'], ['b', 'a'])).toBe(true);
    expect(same(['a'], 'a')).toBe(true);
    expect(same([], undefined)).toBe(true);
    expect(same(['a', 'b'], ['a'])).toBe(false);
    expect(same(['a'], ['a', 'b'])).toBe(false);
    // A change of case is a change of value.
    expect(same(['Oslo'], ['oslo'])).toBe(false);
  });

  it('reports attributes the remote does not have, also when it reported none', () => {
    expect(diffForTarget(expected({ attributes: { dept: 'R&D' } }), remote({ attributes: {} }), ALL_APP)).toEqual([{ attribute: 'attributes.dept', app: 'R&D', target: undefined }]);
    expect(diffForTarget(expected({ attributes: { dept: 'R&D' } }), remote(), ALL_APP)).toEqual([{ attribute: 'attributes.dept', app: 'R&D', target: undefined }]);
  });

  it('equates a single value with a one-element list, either way round', () => {
    expect(diffForTarget(expected({ attributes: { dept: ['R&D'] } }), remote({ attributes: { dept: 'R&D' } }), ALL_APP)).toEqual([]);
    expect(diffForTarget(expected({ attributes: { dept: 'R&D' } }), remote({ attributes: { dept: ['R&D'] } }), ALL_APP)).toEqual([]);
  });

  it('equates an empty list with an attribute the remote lacks', () => {
    expect(diffForTarget(expected({ attributes: { tags: [] } }), remote(), ALL_APP)).toEqual([]);
    expect(diffForTarget(expected({ attributes: { tags: [] } }), remote({ attributes: {} }), ALL_APP)).toEqual([]);
  });

  it('reports a list against a different single value', () => {
    expect(diffForTarget(expected({ attributes: { tags: ['a'] } }), remote({ attributes: { tags: 'b' } }), ALL_APP)).toEqual([{ attribute: 'attributes.tags', app: ['a'], target: 'b' }]);
  });

  it('treats an empty attribute value as absent', () => {
    expect(diffForTarget(expected({ attributes: { dept: '' } }), remote(), ALL_APP)).toEqual([]);
  });

  it('ignores remote attributes the snapshot does not set', () => {
    expect(diffForTarget(expected({ attributes: {} }), remote({ attributes: { dept: 'Sales' } }), ALL_APP)).toEqual([]);
    expect(diffForTarget(expected(), remote({ attributes: { dept: 'Sales' } }), ALL_APP)).toEqual([]);
  });

  it('does not compare attributes the target owns', () => {
    expect(diffForTarget(expected({ attributes: { dept: 'R&D' } }), remote({ attributes: { dept: 'Sales' } }), owning('attributes'))).toEqual([]);
  });
});

describe('diffForApp: profile fields', () => {
  it('compares nothing when the application owns every field', () => {
    const theirs = remote({ username: 'bob', email: 'bob@example.com', firstName: 'Bob', active: false, groups: ['x'], roles: ['admin'], photo: { hash: 'h', contentType: 'image/png' } });
    expect(diffForApp(appUser(), theirs, ALL_APP)).toEqual({ fields: [], diff: [] });
  });

  it('lists every field the target owns and holds differently, with both values', () => {
    const app = appUser({ firstName: 'Alice', lastName: 'Smith', displayName: 'Alice Smith', groups: ['dev'], attributes: { dept: 'R&D' } });
    const theirs = remote({
      username: 'alicia', email: 'alicia@example.com', firstName: 'Ally', lastName: 'Smyth', displayName: 'Ally Smyth', active: false,
      groups: ['ops'], attributes: { dept: 'Sales' },
    });
    expect(diffForApp(app, theirs, owning('username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'attributes'))).toEqual({
      fields: ['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'attributes'],
      diff: [
        { attribute: 'username', app: 'alice', target: 'alicia' },
        { attribute: 'email', app: 'alice@example.com', target: 'alicia@example.com' },
        { attribute: 'firstName', app: 'Alice', target: 'Ally' },
        { attribute: 'lastName', app: 'Smith', target: 'Smyth' },
        { attribute: 'displayName', app: 'Alice Smith', target: 'Ally Smyth' },
        { attribute: 'active', app: true, target: false },
        { attribute: 'groups', app: ['dev'], target: ['ops'] },
        { attribute: 'attributes', app: { dept: 'R&D' }, target: { dept: 'Sales' } },
      ],
    });
  });

  it('finds nothing when the target owns everything and agrees', () => {
    const app = appUser({ firstName: 'Alice', groups: ['dev'], roles: ['admin'], attributes: { dept: 'R&D' }, photoHash: 'h' });
    const theirs = remote({ firstName: 'Alice', groups: ['dev'], roles: ['admin'], attributes: { dept: 'R&D' }, photo: { hash: 'h', contentType: 'image/png' } });
    expect(diffForApp(app, theirs, ALL_TARGET)).toEqual({ fields: [], diff: [] });
  });

  it('compares usernames and e-mail addresses without case', () => {
    expect(diffForApp(appUser({ username: 'Alice', email: 'Alice@Example.com' }), remote({ username: 'aLICE', email: 'aLICE@example.COM' }), owning('username', 'email'))).toEqual({ fields: [], diff: [] });
  });

  it('compares names with case', () => {
    expect(diffForApp(appUser({ firstName: 'alice' }), remote({ firstName: 'Alice' }), owning('firstName'))).toEqual({
      fields: ['firstName'],
      diff: [{ attribute: 'firstName', app: 'alice', target: 'Alice' }],
    });
  });

  it('takes the username the connector derives instead of the remote name', () => {
    const theirs = remote({ username: 'alice@contoso.com' });
    expect(diffForApp(appUser(), theirs, owning('username'), 'alice')).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser(), theirs, owning('username'), 'alice2')).toEqual({ fields: ['username'], diff: [{ attribute: 'username', app: 'alice', target: 'alice2' }] });
    expect(diffForApp(appUser(), theirs, owning('username'))).toEqual({ fields: ['username'], diff: [{ attribute: 'username', app: 'alice', target: 'alice@contoso.com' }] });
  });

  it('equates an empty e-mail with none in the application', () => {
    const app = { ...appUser(), email: undefined } as unknown as AppUser;
    expect(diffForApp(app, remote({ username: 'alice', email: '' }), owning('email'))).toEqual({ fields: [], diff: [] });
  });

  it('equates a name the remote lacks with one the application lacks or has empty', () => {
    expect(diffForApp(appUser(), remote(), owning('firstName', 'lastName', 'displayName'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser({ firstName: '' }), remote(), owning('firstName'))).toEqual({ fields: [], diff: [] });
  });

  it('reports a name the remote has lost', () => {
    expect(diffForApp(appUser({ lastName: 'Smith' }), remote(), owning('lastName'))).toEqual({ fields: ['lastName'], diff: [{ attribute: 'lastName', app: 'Smith', target: null }] });
  });

  it('reports only the owned fields that differ', () => {
    expect(diffForApp(appUser({ firstName: 'Alice' }), remote({ firstName: 'Alice', active: false }), owning('firstName', 'active'))).toEqual({
      fields: ['active'],
      diff: [{ attribute: 'active', app: true, target: false }],
    });
  });
});

describe('diffForApp: groups and attributes', () => {
  it('compares groups as sets without case, an absent list being empty', () => {
    expect(diffForApp(appUser({ groups: ['Dev', 'ops'] }), remote({ groups: ['OPS', 'dev', 'dev'] }), owning('groups'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser(), remote({ groups: [] }), owning('groups'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser(), remote({ groups: ['dev'] }), owning('groups'))).toEqual({ fields: ['groups'], diff: [{ attribute: 'groups', app: undefined, target: ['dev'] }] });
  });

  it('does not compare groups the listing did not read', () => {
    expect(diffForApp(appUser({ groups: ['dev'] }), remote(), owning('groups'))).toEqual({ fields: [], diff: [] });
  });

  it('compares attributes as a whole, an absent map being empty', () => {
    expect(diffForApp(appUser({ attributes: { dept: 'R&D' } }), remote({ attributes: { dept: 'R&D' } }), owning('attributes'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser(), remote({ attributes: {} }), owning('attributes'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser(), remote({ attributes: { dept: 'R&D' } }), owning('attributes'))).toEqual({
      fields: ['attributes'],
      diff: [{ attribute: 'attributes', app: undefined, target: { dept: 'R&D' } }],
    });
  });

  // A SQL store's jsonb keeps no key order and each remote lists attributes in its own:
  // an order-only difference planned an app update on every full sync.
  it('ignores the order of attribute keys and of list values', () => {
    const mine = appUser({ attributes: { dept: 'R&D', site: 'Oslo', floors: ['3'] } });
    expect(diffForApp(mine, remote({ attributes: { floors: ['3'], site: 'Oslo', dept: 'R&D' } }), owning('attributes'))).toEqual({ fields: [], diff: [] });
    const listed = appUser({ attributes: { tags: ['a', 'b'] } });
    expect(diffForApp(listed, remote({ attributes: { tags: ['b', 'a'] } }), owning('attributes')).fields).toEqual([]);
    expect(diffForApp(listed, remote({ attributes: { tags: ['b', 'c'] } }), owning('attributes')).fields).toEqual(['attributes']);
    // A key on one side only is a difference.
    expect(diffForApp(listed, remote({ attributes: { tags: ['a', 'b'], site: 'Oslo' } }), owning('attributes')).fields).toEqual(['attributes']);
    expect(diffForApp(mine, remote({ attributes: { floors: ['3'], site: 'Oslo' } }), owning('attributes')).fields).toEqual(['attributes']);
  });

  it('does not compare attributes the listing did not report', () => {
    expect(diffForApp(appUser({ attributes: { dept: 'R&D' } }), remote(), owning('attributes'))).toEqual({ fields: [], diff: [] });
  });
});

describe('diffForApp: roles and photo', () => {
  it('compares roles as sets without case when the target owns them', () => {
    expect(diffForApp(appUser({ roles: ['Admin', 'user'] }), remote({ roles: ['USER', 'admin'] }), owning('roles'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser(), remote({ roles: [] }), owning('roles'))).toEqual({ fields: [], diff: [] });
  });

  it('reports different roles with both lists', () => {
    expect(diffForApp(appUser({ roles: ['user'] }), remote({ roles: ['admin'] }), owning('roles'))).toEqual({ fields: ['roles'], diff: [{ attribute: 'roles', app: ['user'], target: ['admin'] }] });
    expect(diffForApp(appUser(), remote({ roles: ['admin'] }), owning('roles'))).toEqual({ fields: ['roles'], diff: [{ attribute: 'roles', app: undefined, target: ['admin'] }] });
  });

  it('does not compare roles the target did not report or does not own', () => {
    expect(diffForApp(appUser({ roles: ['user'] }), remote(), owning('roles'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser({ roles: ['user'] }), remote({ roles: ['admin'] }), ALL_APP)).toEqual({ fields: [], diff: [] });
  });

  it('compares photos by hash when the target owns them', () => {
    const photo = { hash: 'h1', contentType: 'image/jpeg' };
    expect(diffForApp(appUser({ photoHash: 'h1' }), remote({ photo }), owning('photo'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser({ photoHash: 'h0' }), remote({ photo }), owning('photo'))).toEqual({ fields: ['photo'], diff: [{ attribute: 'photo', app: 'h0', target: 'h1' }] });
    expect(diffForApp(appUser(), remote({ photo }), owning('photo'))).toEqual({ fields: ['photo'], diff: [{ attribute: 'photo', app: undefined, target: 'h1' }] });
  });

  it('treats a removed remote photo (null) as a change only when the application has one', () => {
    expect(diffForApp(appUser(), remote({ photo: null }), owning('photo'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser({ photoHash: 'h1' }), remote({ photo: null }), owning('photo'))).toEqual({ fields: ['photo'], diff: [{ attribute: 'photo', app: 'h1', target: undefined }] });
  });

  it('does not compare a photo the target did not read or does not own', () => {
    expect(diffForApp(appUser({ photoHash: 'h1' }), remote(), owning('photo'))).toEqual({ fields: [], diff: [] });
    expect(diffForApp(appUser({ photoHash: 'h1' }), remote({ photo: { hash: 'h2', contentType: 'image/png' } }), ALL_APP)).toEqual({ fields: [], diff: [] });
  });

  it('lists roles and photo after the profile fields', () => {
    const theirs = remote({ active: false, roles: ['admin'], photo: { hash: 'h1', contentType: 'image/png' } });
    expect(diffForApp(appUser(), theirs, owning('active', 'roles', 'photo')).fields).toEqual(['active', 'roles', 'photo']);
  });
});
