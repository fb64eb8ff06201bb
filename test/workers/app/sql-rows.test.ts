// Reading users from SQL rows, without a database: the select list each column map produces,
// how a row as either driver returns it becomes an AppUser, and which ids a column could hold.
import type { ColumnMap, ColumnShape, MappedColumn, SqlField } from '../../../workers/app/sql/columns.js';
import { idFits, idPlaceholder, selectList, toAppUser } from '../../../workers/app/sql/rows.js';

const column = (field: SqlField, name: string, shape: ColumnShape, udtName: string = shape): MappedColumn => ({ field, name, shape, udtName });
const REQUIRED: ColumnMap = {
  id: column('id', 'user_id', 'integer', 'int4'),
  username: column('username', 'login', 'text', 'citext'),
  email: column('email', 'mail', 'text', 'varchar'),
};

describe('selectList', () => {
  it('casts the required columns to text under the field names', () => {
    expect(selectList(REQUIRED)).toBe('"user_id"::text AS "id", "login"::text AS "username", "mail"::text AS "email"');
  });

  it('reads every optional field it is given, in a fixed order', () => {
    const map: ColumnMap = {
      ...REQUIRED,
      version: column('version', 'row_version', 'bigint', 'int8'),
      photoHash: column('photoHash', 'photo_sha', 'text'),
      photo: column('photo', 'avatar', 'bytea'),
      attributes: column('attributes', 'attrs', 'jsonb'),
      roles: column('roles', 'app_roles', 'textArray', '_citext'),
      groups: column('groups', 'teams', 'textArray', '_varchar'),
      active: column('active', 'enabled', 'boolean', 'bool'),
      displayName: column('displayName', 'shown', 'text'),
      lastName: column('lastName', 'sn', 'text'),
      firstName: column('firstName', 'given', 'text', 'varchar'),
    };
    expect(selectList(map).split(', ')).toEqual([
      '"user_id"::text AS "id"',
      '"login"::text AS "username"',
      '"mail"::text AS "email"',
      '"given"::text AS "firstName"',
      '"sn"::text AS "lastName"',
      '"shown"::text AS "displayName"',
      '"enabled" AS "active"',
      '"teams"::text[] AS "groups"',
      '"app_roles"::text[] AS "roles"',
      '"attrs" AS "attributes"',
      // A mapped hash column spares hashing the photo.
      '"photo_sha"::text AS "photoHash"',
      '"row_version"::float8 AS "version"',
    ]);
  });

  it('hashes the photo when there is no hash column', () => {
    expect(selectList({ ...REQUIRED, photo: column('photo', 'avatar', 'bytea') })).toBe(
      `"user_id"::text AS "id", "login"::text AS "username", "mail"::text AS "email", encode(sha256("avatar"), 'hex') AS "photoHash"`,
    );
  });

  it.each<[ColumnShape, string]>([
    ['integer', '"v"::float8 AS "version"'],
    ['bigint', '"v"::float8 AS "version"'],
    ['timestamp', 'floor(extract(epoch from "v") * 1000)::float8 AS "version"'],
    ['timestamptz', 'floor(extract(epoch from "v") * 1000)::float8 AS "version"'],
  ])('reads a %s version as a number', (shape, expression) => {
    expect(selectList({ ...REQUIRED, version: column('version', 'v', shape) })).toBe(
      `"user_id"::text AS "id", "login"::text AS "username", "mail"::text AS "email", ${expression}`,
    );
  });

  it('quotes every column name', () => {
    const map: ColumnMap = {
      id: column('id', 'Id"x', 'text'),
      username: column('username', 'user name', 'text'),
      email: column('email', 'select', 'text'),
      photo: column('photo', 'Pic"', 'bytea'),
    };
    expect(selectList(map)).toBe(`"Id""x"::text AS "id", "user name"::text AS "username", "select"::text AS "email", encode(sha256("Pic"""), 'hex') AS "photoHash"`);
  });
});

describe('toAppUser', () => {
  const row = { id: '42', username: 'alice', email: 'alice@example.com' };

  it('reads a full row', () => {
    const full = {
      ...row,
      firstName: 'Alice',
      lastName: 'Liddell',
      displayName: 'Alice L.',
      active: false,
      groups: ['staff'],
      roles: ['editor'],
      attributes: { dept: 'R&D', tags: ['a'] },
      photoHash: 'ab'.repeat(32),
      version: 1_767_225_600_123,
    };
    expect(toAppUser(full)).toStrictEqual(full);
  });

  it('counts a user as active unless the column says false', () => {
    expect(toAppUser(row)).toStrictEqual({ ...row, active: true });
    expect(toAppUser({ ...row, active: null }).active).toBe(true);
    expect(toAppUser({ ...row, active: true }).active).toBe(true);
    expect(toAppUser({ ...row, active: 'f' }).active).toBe(true);
    expect(toAppUser({ ...row, active: false }).active).toBe(false);
  });

  it('leaves NULL and unmapped fields out', () => {
    const nulls = { firstName: null, lastName: null, displayName: null, groups: null, roles: null, attributes: null, photoHash: null, version: null };
    const user = toAppUser({ ...row, ...nulls });
    expect(user).toStrictEqual({ ...row, active: true });
    expect(Object.keys(user)).toEqual(['id', 'username', 'email', 'active']);
  });

  it('keeps empty and zero values, which are values', () => {
    const empty = { ...row, firstName: '', lastName: '', displayName: '', groups: [], roles: [], attributes: {}, photoHash: '', version: 0 };
    expect(toAppUser(empty)).toStrictEqual({ ...empty, active: true });
  });

  it('takes an id of any type as a string', () => {
    expect(toAppUser({ ...row, id: 42 }).id).toBe('42');
    expect(toAppUser({ ...row, id: 9_007_199_254_740_993n }).id).toBe('9007199254740993');
  });

  it('reads a missing username or e-mail as empty', () => {
    expect(toAppUser({ id: '1', username: null, email: 7 })).toStrictEqual({ id: '1', username: '', email: '', active: true });
  });

  it('ignores values of the wrong type', () => {
    const odd = {
      ...row,
      firstName: 1,
      lastName: ['x'],
      displayName: {},
      photoHash: 5,
      groups: '{staff}',
      roles: { 0: 'editor' },
      attributes: ['a'],
      version: '17',
    };
    expect(toAppUser(odd)).toStrictEqual({ ...row, active: true });
    expect(toAppUser({ ...row, attributes: 'x' })).toStrictEqual({ ...row, active: true });
  });
});

describe('idFits', () => {
  const uuid = '0b6f9a8e-2f4c-4d61-9a57-3c2e8f1d7b40';

  it.each<[string, boolean]>([
    [uuid, true],
    [uuid.toUpperCase(), true],
    [uuid.replaceAll('-', ''), true],
    ['0b6f9a8e2f4c-4d61-9a573c2e8f1d7b40', true],
    [`x${uuid}`, false],
    [`${uuid}x`, false],
    [uuid.slice(1), false],
    [uuid.replace('0b', 'gb'), false],
    ['0b6f9a8e--2f4c-4d61-9a57-3c2e8f1d7b40', false],
    ['42', false],
    ['', false],
  ])('a uuid column holds %j: %s', (id, fits) => {
    expect(idFits('uuid', id)).toBe(fits);
  });

  it.each<[string, boolean]>([
    ['0', true],
    ['42', true],
    ['-42', true],
    ['007', true],
    ['9223372036854775807', true],
    ['9223372036854775808', false],
    ['9999999999999999999', false],
    ['-9223372036854775808', true],
    ['-9223372036854775809', false],
    ['12345678901234567890', false],
    ['1.5', false],
    ['+1', false],
    [' 1', false],
    ['1 ', false],
    ['x1', false],
    ['1x', false],
    ['abc', false],
    ['', false],
    ['-', false],
  ])('an integer column holds %j: %s', (id, fits) => {
    expect(idFits('integer', id)).toBe(fits);
    expect(idFits('bigint', id)).toBe(fits);
  });

  it('takes any id for a text column', () => {
    for (const shape of ['text', 'textArray', 'json', 'timestamp'] as const) {
      expect(idFits(shape, 'any id at all')).toBe(true);
      expect(idFits(shape, '')).toBe(true);
    }
  });
});

describe('idPlaceholder', () => {
  it.each<[ColumnShape, string, string]>([
    ['uuid', 'uuid', '$3::text::uuid'],
    ['integer', 'int4', '$3::text::bigint'],
    ['bigint', 'int8', '$3::text::bigint'],
    ['text', 'citext', '$3::text::citext'],
    ['text', 'varchar', '$3::text'],
    ['text', 'text', '$3::text'],
  ])('types a %s (%s) id', (shape, udtName, placeholder) => {
    expect(idPlaceholder(column('id', 'id', shape, udtName), 3)).toBe(placeholder);
  });

  it('numbers the placeholder', () => {
    expect(idPlaceholder(column('id', 'id', 'text'), 1)).toBe('$1::text');
  });
});
