// Crowd's JSON entities and their normalised form. Crowd versions differ in list keys, date
// forms and how `active` and `key` come back; every variant must land in the same CrowdUser.
import { crowdUser } from './fake-client.js';
import {
  APP_FIELD,
  PROFILE_FIELDS,
  groupListSchema,
  profileOf,
  toCrowdUser,
  userEntitySchema,
  userListSchema,
  type CrowdUser,
  type UserEntity,
} from '../../../workers/crowd/entities.js';

const bare: CrowdUser = crowdUser('alice');

describe('userEntitySchema', () => {
  it('accepts a full Crowd user and keeps every field', () => {
    const full = {
      name: 'alice',
      'first-name': 'Alice',
      'last-name': 'Liddell',
      'display-name': 'Alice Liddell',
      email: 'alice@example.com',
      active: 'false',
      key: '32769:a-1',
      attributes: { attributes: [{ name: 'dept', values: ['Sales'] }] },
      'created-date': '2024-01-01T00:00:00Z',
      'updated-date': 1_700_000_000_000,
    };
    expect(userEntitySchema.parse(full)).toEqual(full);
  });

  it('accepts nulls where LDAP directories and older servers leave fields out', () => {
    const nulls = { name: 'bob', 'first-name': null, email: null, active: null, key: null, attributes: null, 'updated-date': null };
    expect(userEntitySchema.parse(nulls)).toEqual(nulls);
  });

  it.each<[string, unknown]>([
    ['an empty name', { name: '' }],
    ['no name', { email: 'x@example.com' }],
    ['active as another word', { name: 'a', active: 'yes' }],
    ['a date that is neither number nor string', { name: 'a', 'updated-date': true }],
    ['attribute values that are not strings', { name: 'a', attributes: { attributes: [{ name: 'n', values: [1] }] } }],
  ])('refuses %s', (_, json) => {
    expect(userEntitySchema.safeParse(json).success).toBe(false);
  });
});

describe('list schemas', () => {
  it('take the plural or the singular key', () => {
    expect(userListSchema.parse({ users: [{ name: 'a' }] })).toEqual({ users: [{ name: 'a' }] });
    expect(userListSchema.parse({ user: [{ name: 'b' }] })).toEqual({ user: [{ name: 'b' }] });
    expect(groupListSchema.parse({ groups: [{ name: 'g' }] })).toEqual({ groups: [{ name: 'g' }] });
    expect(groupListSchema.parse({ group: [{ name: 'h' }] })).toEqual({ group: [{ name: 'h' }] });
  });

  it('refuse a group without a name', () => {
    expect(groupListSchema.safeParse({ groups: [{ name: '' }] }).success).toBe(false);
  });
});

describe('toCrowdUser', () => {
  it('maps every field of a full entity', () => {
    const e: UserEntity = {
      name: 'Alice',
      key: '32769:a-1',
      'first-name': 'Alice',
      'last-name': 'Liddell',
      'display-name': 'Alice L.',
      email: 'alice@example.com',
      active: true,
      attributes: { attributes: [{ name: 'dept', values: ['Sales'] }, { name: 'skills', values: ['ts', 'sql'] }] },
      'created-date': 1_600_000_000_000,
      'updated-date': 1_700_000_000_000,
    };
    expect(toCrowdUser(e, true)).toStrictEqual({
      name: 'Alice',
      key: '32769:a-1',
      firstName: 'Alice',
      lastName: 'Liddell',
      displayName: 'Alice L.',
      email: 'alice@example.com',
      active: true,
      attributes: { dept: ['Sales'], skills: ['ts', 'sql'] },
      // The update date, not the creation date.
      updatedAt: 1_700_000_000_000,
    });
  });

  it('turns nulls into undefined, so nothing downstream sees a null', () => {
    const e: UserEntity = { name: 'alice', key: null, 'first-name': null, 'last-name': null, 'display-name': null, email: null, active: null, 'updated-date': null };
    expect(toCrowdUser(e, false)).toStrictEqual(bare);
  });

  it('leaves out attributes unless they were asked for, even when present', () => {
    expect(toCrowdUser({ name: 'alice', attributes: { attributes: [{ name: 'dept', values: ['Sales'] }] } }, false).attributes).toBeUndefined();
  });

  it.each<[string, UserEntity['attributes'], Record<string, string[]>]>([
    ['no attribute list at all', undefined, {}],
    ['a null attribute list', null, {}],
    ['an empty list', { attributes: [] }, {}],
    ['the singular key', { attribute: [{ name: 'dept', values: ['Ops'] }] }, { dept: ['Ops'] }],
    ['the plural key over the singular one', { attributes: [{ name: 'a', values: ['1'] }], attribute: [{ name: 'b', values: ['2'] }] }, { a: ['1'] }],
    ['a null plural key, falling back to the singular one', { attributes: null, attribute: [{ name: 'b', values: ['2'] }] }, { b: ['2'] }],
    ['an attribute without values', { attributes: [{ name: 'empty' }, { name: 'nul', values: null }] }, { empty: [], nul: [] }],
  ])('reads %s when attributes were asked for', (_, attributes, out) => {
    expect(toCrowdUser({ name: 'alice', attributes }, true).attributes).toStrictEqual(out);
  });

  it.each<[string, UserEntity['active'], boolean]>([
    ['omitted (Crowd defaults to active)', undefined, true],
    ['null', null, true],
    ['true', true, true],
    ['false', false, false],
    ['the string "true"', 'true', true],
    ['the string "false"', 'false', false],
  ])('reads active %s', (_, active, out) => {
    expect(toCrowdUser({ name: 'alice', active }, false).active).toBe(out);
  });

  it.each<[string, UserEntity['updated-date'], number | undefined]>([
    ['epoch milliseconds', 1_700_000_000_000, 1_700_000_000_000],
    ['zero', 0, 0],
    ['an ISO date', '2024-05-01T10:00:00.000Z', Date.UTC(2024, 4, 1, 10)],
    ['an ISO date with an offset', '2024-05-01T12:00:00+02:00', Date.UTC(2024, 4, 1, 10)],
    ['an unparseable string', 'yesterday', undefined],
    ['a non-finite number', Number.POSITIVE_INFINITY, undefined],
    ['NaN', Number.NaN, undefined],
    ['null', null, undefined],
    ['nothing', undefined, undefined],
  ])('reads an update date given as %s', (_, date, out) => {
    expect(toCrowdUser({ name: 'alice', 'updated-date': date }, false).updatedAt).toBe(out);
  });
});

describe('profile fields', () => {
  it('lists the four fields a full replace carries besides name and active', () => {
    expect(PROFILE_FIELDS).toEqual(['first-name', 'last-name', 'display-name', 'email']);
  });

  it('names each Crowd field the way the app does', () => {
    expect(APP_FIELD).toEqual({
      name: 'username',
      'first-name': 'firstName',
      'last-name': 'lastName',
      'display-name': 'displayName',
      email: 'email',
      active: 'active',
    });
  });

  it('profileOf reads the profile fields of a user, undefined ones included', () => {
    expect(profileOf({ ...bare, firstName: 'A', lastName: 'L', displayName: 'A L', email: 'a@example.com' })).toStrictEqual({
      'first-name': 'A',
      'last-name': 'L',
      'display-name': 'A L',
      email: 'a@example.com',
    });
    expect(profileOf(bare)).toStrictEqual({ 'first-name': undefined, 'last-name': undefined, 'display-name': undefined, email: undefined });
  });
});
