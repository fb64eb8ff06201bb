// What a write sends, without a database: the statement text and parameters writes.ts builds
// for each column shape and version kind (the suites on PostgreSQL show the server accepts
// them), and how changes.ts decides which values a change sets and which differ from a row.
import { mappedValues, differing, sameValue, type Assignment } from '../../../workers/app/sql/changes.js';
import type { ColumnMap, ColumnShape, MappedColumn, SqlField } from '../../../workers/app/sql/columns.js';
import { insertStatement, updateStatement, type WriteTarget } from '../../../workers/app/sql/writes.js';

const column = (field: SqlField, name: string, shape: ColumnShape, udtName = 'text'): MappedColumn => ({ field, name, shape, udtName });
const base: ColumnMap = { id: column('id', 'uid', 'text'), username: column('username', 'login', 'text'), email: column('email', 'mail', 'text') };
const full: ColumnMap = {
  ...base,
  active: column('active', 'on', 'boolean', 'bool'),
  groups: column('groups', 'grp', 'textArray', '_text'),
  attributes: column('attributes', 'doc', 'jsonb', 'jsonb'),
  photo: column('photo', 'pic', 'bytea', 'bytea'),
};
const target = (map: ColumnMap, touchColumn?: string): WriteTarget => ({ table: '"s"."t"', map, touchColumn });
const set = (field: Assignment['field'], value: unknown, map: ColumnMap = full): Assignment => ({ field, column: map[field as SqlField]!, value });

describe('updateStatement', () => {
  it('casts each placeholder for its shape and sends JSON as text', () => {
    const bytes = Buffer.from('p');
    const s = updateStatement(target(full), 'u1', [
      set('username', 'x'), set('active', false), set('groups', ['a']), set('attributes', { k: ['v'] }), set('photo', bytes),
    ]);
    expect(s).toEqual({
      text: 'UPDATE "s"."t" SET "login" = $2::text, "on" = $3::boolean, "grp" = $4::text[], "doc" = $5::text::jsonb, "pic" = $6::bytea WHERE "uid" = $1::text',
      params: ['u1', 'x', false, ['a'], '{"k":["v"]}', bytes],
    });
  });

  it('clears with NULL, also a JSON column, and sets a json column through text', () => {
    const map: ColumnMap = { ...base, attributes: column('attributes', 'doc', 'json', 'json') };
    expect(updateStatement(target(map), 'u1', [set('attributes', null, map), set('attributes', { a: 1 }, map)])).toEqual({
      text: 'UPDATE "s"."t" SET "doc" = $2::text::json, "doc" = $3::text::json WHERE "uid" = $1::text',
      params: ['u1', null, '{"a":1}'],
    });
  });

  it('moves each kind of version on, and stamps the touch column', () => {
    const at = Date.now();
    const bigint = updateStatement(target({ ...base, version: column('version', 'v', 'bigint', 'int8') }, 'updated_at'), '7', [set('email', 'e', base)]);
    expect(bigint.text).toBe('UPDATE "s"."t" SET "mail" = $2::text, "v" = GREATEST($3::bigint, COALESCE("v", 0) + 1), "updated_at" = now() WHERE "uid" = $1::text');
    expect(bigint.params.slice(0, 2)).toEqual(['7', 'e']);
    expect(bigint.params[2]).toBeGreaterThanOrEqual(at);
    expect(bigint.params).toHaveLength(3);
    const sets = (shape: ColumnShape) => updateStatement(target({ ...base, version: column('version', 'v', shape) }), '7', []);
    expect(sets('timestamptz')).toEqual({ text: `UPDATE "s"."t" SET "v" = GREATEST(now(), "v" + interval '1 millisecond') WHERE "uid" = $1::text`, params: ['7'] });
    expect(sets('timestamp')).toEqual({ text: `UPDATE "s"."t" SET "v" = GREATEST(localtimestamp, "v" + interval '1 millisecond') WHERE "uid" = $1::text`, params: ['7'] });
    expect(sets('integer')).toEqual({ text: 'UPDATE "s"."t" SET "v" = COALESCE("v", 0) + 1 WHERE "uid" = $1::text', params: ['7'] });
  });

  it('compares an integer id as a bigint', () => {
    const map: ColumnMap = { ...base, id: column('id', 'n', 'integer', 'int4') };
    expect(updateStatement(target(map), '5', [set('email', 'e', map)]).text).toBe('UPDATE "s"."t" SET "mail" = $2::text WHERE "n" = $1::text::bigint');
  });
});

describe('insertStatement', () => {
  it('inserts a given id first and reads the id back as text', () => {
    expect(insertStatement(target(full), 'new-id', [set('username', 'x'), set('groups', [])])).toEqual({
      text: 'INSERT INTO "s"."t" ("uid", "login", "grp") VALUES ($1::text, $2::text, $3::text[]) RETURNING "uid"::text AS "id"',
      params: ['new-id', 'x', []],
    });
  });

  it('leaves a missing id to the database', () => {
    expect(insertStatement(target(base), undefined, [set('username', 'x', base)])).toEqual({
      text: 'INSERT INTO "s"."t" ("login") VALUES ($1::text) RETURNING "uid"::text AS "id"',
      params: ['x'],
    });
  });

  it('starts each kind of version, and stamps the touch column', () => {
    const at = Date.now();
    const bigint = insertStatement(target({ ...base, version: column('version', 'v', 'bigint', 'int8') }, 'updated_at'), 'i', []);
    expect(bigint.text).toBe('INSERT INTO "s"."t" ("uid", "v", "updated_at") VALUES ($1::text, $2::bigint, now()) RETURNING "uid"::text AS "id"');
    expect(bigint.params[0]).toBe('i');
    expect(bigint.params[1]).toBeGreaterThanOrEqual(at);
    const values = (shape: ColumnShape) => insertStatement(target({ ...base, version: column('version', 'v', shape) }), 'i', []).text;
    expect(values('timestamptz')).toBe('INSERT INTO "s"."t" ("uid", "v") VALUES ($1::text, now()) RETURNING "uid"::text AS "id"');
    expect(values('timestamp')).toBe('INSERT INTO "s"."t" ("uid", "v") VALUES ($1::text, localtimestamp) RETURNING "uid"::text AS "id"');
    expect(values('integer')).toBe('INSERT INTO "s"."t" ("uid", "v") VALUES ($1::text, 1) RETURNING "uid"::text AS "id"');
  });
});

describe('mappedValues', () => {
  it('keeps own, defined values of mapped fields, in field order', () => {
    const values = Object.assign(Object.create({ email: 'inherited' }) as object, { groups: ['g'], firstName: 'F', username: 'u', active: undefined, attributes: null });
    expect(mappedValues(values as never, full).map((a) => [a.field, a.column.name, a.value])).toEqual([
      ['username', 'login', 'u'],
      ['groups', 'grp', ['g']],
      ['attributes', 'doc', null],
    ]);
  });

  it('refuses null for a required field, but only for a mapped one', () => {
    expect(() => mappedValues({ email: null } as never, base)).toThrow('Field email cannot be cleared (null); it is required');
    expect(mappedValues({ active: null } as never, base)).toEqual([]);
    expect(mappedValues({ lastName: null }, { ...base, lastName: column('lastName', 'ln', 'text') })).toMatchObject([{ field: 'lastName', value: null }]);
  });
});

describe('sameValue and differing', () => {
  it.each([
    [null, undefined, true],
    [undefined, null, true],
    [null, '', false],
    ['', null, false],
    ['a', 'a', true],
    ['a', 'A', false],
    [true, false, false],
    [['a', 'b'], ['b', 'a'], true],
    [['a', 'b'], ['a'], false],
    [['a'], ['a', 'b'], false],
    [['b', 'a'], ['a', 'b'], true],
    [['a'], 'a', false],
    [Number.NaN, Number.NaN, false],
    [new Date(0), '1970-01-01T00:00:00.000Z', false],
    ['1970-01-01T00:00:00.000Z', new Date(0), false],
    [['a', 'a', 'b'], ['a', 'b', 'b'], false],
    [[], [], true],
    [{ a: '1', b: ['x'] }, { b: ['x'], a: '1' }, true],
    [{ a: '1' }, { a: '2' }, false],
    [['a'], { 0: 'a' }, false],
    ['[object Object]', {}, false],
  ])('compares %j with %j as %p', (stored, wanted, same) => {
    expect(sameValue(stored, wanted)).toBe(same);
  });

  it('keeps only the assignments whose value differs from the user', () => {
    const user = { id: '1', username: 'u', email: 'e', active: true, groups: ['a', 'b'] };
    const list = [set('username', 'u'), set('active', false), set('groups', ['b', 'a']), set('attributes', null)];
    expect(differing(user, list).map((a) => a.field)).toEqual(['active']);
  });
});
