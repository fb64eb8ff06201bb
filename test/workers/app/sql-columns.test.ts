// The column map (APP_USERS_COLUMNS) against a table as information_schema describes it, with
// no database: which column types each field takes, how names resolve, and the exact start-up
// messages an operator gets for every mistake, all of them at once.
import {
  DEFAULT_COLUMNS,
  DEFAULT_TABLE,
  REQUIRED_FIELDS,
  SQL_FIELDS,
  resolveColumns,
  shapeOf,
  type ColumnInfo,
  type ColumnShape,
  type SqlField,
} from '../../../workers/app/sql/columns.js';

const col = (name: string, dataType: string, udtName: string, over: Partial<ColumnInfo> = {}): ColumnInfo => ({
  name,
  dataType,
  udtName,
  hasDefault: false,
  isIdentity: false,
  isGenerated: false,
  ...over,
});

// Spelled out, not derived from DEFAULT_COLUMNS: the default names are a documented interface.
const DEFAULT_TABLE_COLUMNS: ColumnInfo[] = [
  col('id', 'integer', 'int4', { isIdentity: true }),
  col('username', 'text', 'text'),
  col('email', 'USER-DEFINED', 'citext'),
  col('first_name', 'character varying', 'varchar'),
  col('last_name', 'character', 'bpchar'),
  col('display_name', 'text', 'text'),
  col('active', 'boolean', 'bool', { hasDefault: true }),
  col('groups', 'ARRAY', '_text'),
  col('roles', 'ARRAY', '_varchar'),
  col('attributes', 'jsonb', 'jsonb'),
  col('photo', 'bytea', 'bytea'),
  col('photo_hash', 'text', 'text'),
  col('photo_content_type', 'text', 'text'),
  col('version', 'timestamp with time zone', 'timestamptz'),
];

const FIELD_LIST = 'id, username, email, firstName, lastName, displayName, active, groups, roles, attributes, photo, photoHash, photoContentType, version';
const REQUIRED = ['id', 'username', 'email'] as const;
const mapped = (field: SqlField, name: string, shape: ColumnShape, udtName: string) => ({ field, name, shape, udtName });
const issuesOf = (path: string, ...messages: string[]) => messages.map((message) => ({ path, message }));

const noDefault = (name: string) =>
  `field "id" maps to integer column "${name}" without a default or identity; idsync could not create users (use an identity or serial column, or a text/uuid id)`;

const base = [col('id', 'text', 'text'), col('username', 'text', 'text'), col('email', 'text', 'text')];
const BASE_MAP = { id: 'id', username: 'username', email: 'email' };
const resolve = (columns: Record<string, string> | undefined, tableColumns: ColumnInfo[] | undefined) => resolveColumns({ columns, tableColumns, table: 'app.users' });

describe('the public names', () => {
  it('lists the fields, the required ones and the default table', () => {
    expect(SQL_FIELDS).toEqual(FIELD_LIST.split(', '));
    expect(REQUIRED_FIELDS).toEqual(REQUIRED);
    expect(DEFAULT_TABLE).toBe('idsync_users');
    expect(Object.isFrozen(DEFAULT_COLUMNS)).toBe(true);
    expect(Object.keys(DEFAULT_COLUMNS)).toEqual(SQL_FIELDS);
  });
});

describe('shapeOf', () => {
  it.each<[string, string, ColumnShape | undefined]>([
    ['text', 'text', 'text'],
    ['character varying', 'varchar', 'text'],
    ['character', 'bpchar', 'text'],
    ['USER-DEFINED', 'citext', 'text'],
    ['USER-DEFINED', 'hstore', undefined],
    ['ARRAY', '_text', 'textArray'],
    ['ARRAY', '_varchar', 'textArray'],
    ['ARRAY', '_bpchar', 'textArray'],
    ['ARRAY', '_citext', 'textArray'],
    ['ARRAY', '_int4', undefined],
    ['ARRAY', '_uuid', undefined],
    ['uuid', 'uuid', 'uuid'],
    ['smallint', 'int2', 'integer'],
    ['integer', 'int4', 'integer'],
    ['bigint', 'int8', 'bigint'],
    ['boolean', 'bool', 'boolean'],
    ['json', 'json', 'json'],
    ['jsonb', 'jsonb', 'jsonb'],
    ['bytea', 'bytea', 'bytea'],
    ['timestamp without time zone', 'timestamp', 'timestamp'],
    ['timestamp with time zone', 'timestamptz', 'timestamptz'],
    ['numeric', 'numeric', undefined],
    ['date', 'date', undefined],
    ['real', 'float4', undefined],
  ])('reads %s (%s)', (dataType, udtName, shape) => {
    expect(shapeOf(col('c', dataType, udtName))).toBe(shape);
  });
});

describe('resolveColumns', () => {
  it('resolves the default map against the default table', () => {
    expect(resolveColumns({ columns: undefined, tableColumns: DEFAULT_TABLE_COLUMNS, table: 'idsync_users' })).toStrictEqual({
      map: {
        id: mapped('id', 'id', 'integer', 'int4'),
        username: mapped('username', 'username', 'text', 'text'),
        email: mapped('email', 'email', 'text', 'citext'),
        firstName: mapped('firstName', 'first_name', 'text', 'varchar'),
        lastName: mapped('lastName', 'last_name', 'text', 'bpchar'),
        displayName: mapped('displayName', 'display_name', 'text', 'text'),
        active: mapped('active', 'active', 'boolean', 'bool'),
        groups: mapped('groups', 'groups', 'textArray', '_text'),
        roles: mapped('roles', 'roles', 'textArray', '_varchar'),
        attributes: mapped('attributes', 'attributes', 'jsonb', 'jsonb'),
        photo: mapped('photo', 'photo', 'bytea', 'bytea'),
        photoHash: mapped('photoHash', 'photo_hash', 'text', 'text'),
        photoContentType: mapped('photoContentType', 'photo_content_type', 'text', 'text'),
        version: mapped('version', 'version', 'timestamptz', 'timestamptz'),
      },
      issues: [],
    });
  });

  it('checks only the map itself when the table does not exist', () => {
    expect(resolve(undefined, undefined)).toStrictEqual({ map: undefined, issues: [] });
    expect(resolve(BASE_MAP, undefined)).toStrictEqual({ map: undefined, issues: [] });
  });

  it('names every unknown and every missing required field at once', () => {
    expect(resolve({ login: 'login', mail: 'mail', id: 'id' }, undefined)).toStrictEqual({
      map: undefined,
      issues: issuesOf(
        'APP_USERS_COLUMNS',
        `unknown field "login"; expected fields among ${FIELD_LIST}`,
        `unknown field "mail"; expected fields among ${FIELD_LIST}`,
        'field "username" is required (id, username and email must be mapped)',
        'field "email" is required (id, username and email must be mapped)',
      ),
    });
  });

  it('requires id, username and email of an empty map', () => {
    expect(resolve({}, base).issues).toStrictEqual(issuesOf('APP_USERS_COLUMNS', ...REQUIRED.map((f) => `field "${f}" is required (id, username and email must be mapped)`)));
  });

  it('still reports a required field missing from a map checked against a table', () => {
    expect(resolve({ id: 'id', username: 'username', photo: 'photo' }, [...base, col('photo', 'bytea', 'bytea')])).toStrictEqual({
      map: undefined,
      issues: issuesOf('APP_USERS_COLUMNS', 'field "email" is required (id, username and email must be mapped)'),
    });
  });

  it('maps only the fields the map names', () => {
    const table = [...base, col('given', 'text', 'text'), col('ver', 'bigint', 'int8')];
    expect(resolve({ ...BASE_MAP, firstName: 'given', version: 'ver' }, table)).toStrictEqual({
      map: {
        id: mapped('id', 'id', 'text', 'text'),
        username: mapped('username', 'username', 'text', 'text'),
        email: mapped('email', 'email', 'text', 'text'),
        firstName: mapped('firstName', 'given', 'text', 'text'),
        version: mapped('version', 'ver', 'bigint', 'int8'),
      },
      issues: [],
    });
  });

  it('finds an unquoted name in its folded form, but prefers the exact one', () => {
    const table = [col('uid', 'uuid', 'uuid'), col('login', 'text', 'text'), col('mail', 'character varying', 'varchar')];
    expect(resolve({ id: 'UID', username: 'Login', email: 'mail' }, table).map).toStrictEqual({
      id: mapped('id', 'uid', 'uuid', 'uuid'),
      username: mapped('username', 'login', 'text', 'text'),
      email: mapped('email', 'mail', 'text', 'varchar'),
    });
    const both = [...table, col('Login', 'character varying', 'varchar')];
    expect(resolve({ id: 'uid', username: 'Login', email: 'mail' }, both).map?.username).toStrictEqual(mapped('username', 'Login', 'text', 'varchar'));
  });

  it('names a column the table does not have, with the table as configured', () => {
    expect(resolve({ ...BASE_MAP, email: 'mail', displayName: 'shown' }, base)).toStrictEqual({
      map: undefined,
      issues: issuesOf(
        'APP_USERS_COLUMNS',
        'field "email" maps to column "mail", which table "app.users" does not have',
        'field "displayName" maps to column "shown", which table "app.users" does not have',
      ),
    });
  });

  it('speaks of APP_USERS_TABLE when the default map does not fit the table', () => {
    expect(resolveColumns({ columns: undefined, tableColumns: base.slice(0, 2), table: 'idsync_users' }).issues[0]).toStrictEqual({
      path: 'APP_USERS_TABLE',
      message: 'field "email" maps to column "email", which table "idsync_users" does not have',
    });
  });

  describe('column types', () => {
    const accepts: [SqlField, ColumnInfo][] = [
      ['id', col('c', 'text', 'text')],
      ['id', col('c', 'USER-DEFINED', 'citext')],
      ['id', col('c', 'uuid', 'uuid')],
      ['id', col('c', 'integer', 'int4', { hasDefault: true })],
      ['id', col('c', 'bigint', 'int8', { isIdentity: true })],
      ['id', col('c', 'smallint', 'int2', { hasDefault: true })],
      ...(['username', 'email', 'firstName', 'lastName', 'displayName', 'photoHash', 'photoContentType'] as const).map((f): [SqlField, ColumnInfo] => [
        f,
        col('c', 'character varying', 'varchar'),
      ]),
      ['active', col('c', 'boolean', 'bool')],
      ['groups', col('c', 'ARRAY', '_text')],
      ['roles', col('c', 'ARRAY', '_citext')],
      ['attributes', col('c', 'json', 'json')],
      ['attributes', col('c', 'jsonb', 'jsonb')],
      ['photo', col('c', 'bytea', 'bytea')],
      ['version', col('c', 'integer', 'int4')],
      ['version', col('c', 'bigint', 'int8')],
      ['version', col('c', 'timestamp without time zone', 'timestamp')],
      ['version', col('c', 'timestamp with time zone', 'timestamptz')],
    ];
    const typeOf = (c: ColumnInfo) => `${c.dataType} (${c.udtName})`;
    it.each(accepts.map(([field, column]) => [field, typeOf(column), column] as const))('maps %s to %s', (field, _, column) => {
      // The required fields sit in their own columns unless the field under test is one of them.
      const table = [...base.filter((c) => c.name !== field), column];
      const result = resolve({ ...BASE_MAP, [field]: 'c' }, table);
      expect(result.issues).toStrictEqual([]);
      expect(result.map?.[field]).toStrictEqual(mapped(field, 'c', shapeOf(column)!, column.udtName));
    });

    const refuses: [SqlField, ColumnInfo, string][] = [
      ['id', col('c', 'numeric', 'numeric'), 'numeric; expected text, uuid or an integer'],
      ['id', col('c', 'boolean', 'bool'), 'boolean; expected text, uuid or an integer'],
      ['username', col('c', 'uuid', 'uuid'), 'uuid; expected text'],
      ['email', col('c', 'USER-DEFINED', 'hstore'), 'hstore; expected text'],
      ['firstName', col('c', 'ARRAY', '_text'), 'text[]; expected text'],
      ['lastName', col('c', 'integer', 'int4'), 'integer; expected text'],
      ['displayName', col('c', 'jsonb', 'jsonb'), 'jsonb; expected text'],
      ['active', col('c', 'text', 'text'), 'text; expected boolean'],
      ['groups', col('c', 'ARRAY', '_int4'), 'int4[]; expected an array of text (text[])'],
      ['roles', col('c', 'text', 'text'), 'text; expected an array of text (text[])'],
      ['attributes', col('c', 'text', 'text'), 'text; expected jsonb or json'],
      ['photo', col('c', 'text', 'text'), 'text; expected bytea'],
      ['photoHash', col('c', 'bytea', 'bytea'), 'bytea; expected text'],
      ['photoContentType', col('c', 'boolean', 'bool'), 'boolean; expected text'],
      ['version', col('c', 'text', 'text'), 'text; expected an integer, a timestamp or a timestamptz'],
      ['version', col('c', 'date', 'date'), 'date; expected an integer, a timestamp or a timestamptz'],
    ];
    it.each(refuses.map(([field, column, type]) => [field, typeOf(column), column, type] as const))('refuses %s on %s', (field, _, column, type) => {
      const table = [...base.filter((c) => c.name !== field), column];
      expect(resolve({ ...BASE_MAP, [field]: 'c' }, table)).toStrictEqual({
        map: undefined,
        issues: issuesOf('APP_USERS_COLUMNS', `field "${field}" maps to column "c" of type ${type}`),
      });
    });
  });

  it('refuses a generated column, which idsync cannot write', () => {
    const table = [...base, col('full_name', 'text', 'text', { isGenerated: true })];
    expect(resolve({ ...BASE_MAP, displayName: 'full_name' }, table)).toStrictEqual({
      map: undefined,
      issues: issuesOf('APP_USERS_COLUMNS', 'field "displayName" maps to column "full_name", a generated column idsync cannot write'),
    });
  });

  describe('an integer id', () => {
    const withId = (id: ColumnInfo) => resolve({ ...BASE_MAP, id: id.name }, [id, ...base.slice(1)]);

    it('needs a default or an identity, as an integer or a bigint', () => {
      expect(withId(col('uid', 'integer', 'int4'))).toStrictEqual({ map: undefined, issues: issuesOf('APP_USERS_COLUMNS', noDefault('uid')) });
      expect(withId(col('uid', 'bigint', 'int8'))).toStrictEqual({ map: undefined, issues: issuesOf('APP_USERS_COLUMNS', noDefault('uid')) });
      expect(withId(col('uid', 'integer', 'int4', { hasDefault: true })).issues).toStrictEqual([]);
      expect(withId(col('uid', 'bigint', 'int8', { isIdentity: true })).issues).toStrictEqual([]);
    });

    it('is the only field that needs one', () => {
      expect(withId(col('uid', 'text', 'text')).issues).toStrictEqual([]);
      expect(withId(col('uid', 'uuid', 'uuid')).issues).toStrictEqual([]);
      expect(resolve({ ...BASE_MAP, version: 'v' }, [...base, col('v', 'integer', 'int4')]).issues).toStrictEqual([]);
    });

    it('reports a generated integer id for both reasons', () => {
      expect(withId(col('uid', 'integer', 'int4', { isGenerated: true })).issues).toStrictEqual(
        issuesOf('APP_USERS_COLUMNS', 'field "id" maps to column "uid", a generated column idsync cannot write', noDefault('uid')),
      );
    });
  });

  it('refuses two fields on one column, naming the first field that took it', () => {
    const table = [...base, col('name', 'text', 'text'), col('login', 'text', 'text')];
    expect(resolve({ ...BASE_MAP, firstName: 'name', displayName: 'name', photoHash: 'name' }, table)).toStrictEqual({
      map: undefined,
      issues: issuesOf(
        'APP_USERS_COLUMNS',
        'fields "firstName" and "displayName" both map to column "name"',
        'fields "displayName" and "photoHash" both map to column "name"',
      ),
    });
    // Two spellings of one unquoted name are still one column.
    expect(resolve({ id: 'id', username: 'login', email: 'email', displayName: 'LOGIN' }, table).issues).toStrictEqual(
      issuesOf('APP_USERS_COLUMNS', 'fields "username" and "displayName" both map to column "login"'),
    );
  });

  it('lists every problem of the map together', () => {
    const table = [col('id', 'integer', 'int4'), col('username', 'text', 'text'), col('email', 'text', 'text'), col('on', 'text', 'text')];
    expect(resolve({ ...BASE_MAP, active: 'on', roles: 'r', nickname: 'n' }, table)).toStrictEqual({
      map: undefined,
      issues: issuesOf(
        'APP_USERS_COLUMNS',
        `unknown field "nickname"; expected fields among ${FIELD_LIST}`,
        noDefault('id'),
        'field "active" maps to column "on" of type text; expected boolean',
        'field "roles" maps to column "r", which table "app.users" does not have',
      ),
    });
  });
});
