// The SQL directory method by method on a real PostgreSQL server: a database of this file's
// own, a fresh schema per test, and the directory opened on a connection whose search_path is
// that schema, so the default table is migrated anew for every test. A recording engine sits
// between the directory and pg, to tell which statements a call sent (a call that finds
// nothing to do must write nothing) and to stage what a concurrent worker would do in between.
// Listing: page sizes and their bounds, keyset cursors, empty and exactly-full pages, aborts.
// Writes: creation, adoption, updates that touch only what differs, versions of every column
// type, roles, photos, and each failure as the taxonomy's name, code and message.
import { createHash } from 'node:crypto';
import type { AppChange, AppPhoto, AppUserValues } from '../../../workers/app/directory.js';
import { openEngine, openSqlDirectory, type Queryable, type QueryResult, type SqlDirectory, type SqlEngine } from '../../../workers/app/sql/index.js';
import { collect } from '../../helpers/collect.js';
import { usePostgres } from '../../helpers/postgres.js';

interface Seen {
  text: string;
  params: readonly unknown[];
}

interface Recording {
  engine: SqlEngine;
  seen: Seen[];
  transactions: number;
  /** Runs before a statement goes to the server; may throw in its place. */
  before?: (text: string, transaction: number) => Promise<void>;
}

function recording(inner: SqlEngine): Recording {
  const rec: Recording = { seen: [], transactions: 0, engine: undefined as unknown as SqlEngine };
  const wrap = (q: Queryable, transaction: number): Queryable => ({
    query: async <R,>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
      rec.seen.push({ text, params: params ?? [] });
      await rec.before?.(text, transaction);
      return q.query<R>(text, params);
    },
  });
  rec.engine = {
    kind: inner.kind,
    query: (text, params) => wrap(inner, 0).query(text, params),
    transaction: (fn) => {
      const n = ++rec.transactions;
      return inner.transaction((tx) => fn(wrap(tx, n)));
    },
    close: () => inner.close(),
  };
  return rec;
}

const change = (values: AppUserValues, id?: string): AppChange => ({ ...(id !== undefined && { id }), values, source: 'crowd' });

const photoOf = (text: string, contentType = 'image/png'): AppPhoto => {
  const data = Buffer.from(text);
  return { data, contentType, hash: createHash('sha256').update(data).digest('hex') };
};

async function caught(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  if (!err) throw new Error('expected the call to fail');
  return err;
}

const writes = (rec: Recording) => rec.seen.filter((s) => /^(INSERT|UPDATE)/.test(s.text));

const pgx = usePostgres();
let schema: string;
beforeEach(() => {
  schema = pgx.schema;
});

/** The directory on this test's schema (the default table unless told otherwise), recorded from here on. */
async function fresh(options: { table?: string; columns?: Record<string, string> } = {}): Promise<{ dir: SqlDirectory; rec: Recording }> {
  const inner = await openEngine({ kind: 'pg', databaseUrl: pgx.db.urlFor(schema) });
  pgx.track(inner);
  const rec = recording(inner);
  const dir = await openSqlDirectory({ engine: rec.engine, ...options });
  rec.seen.length = 0;
  rec.transactions = 0;
  return { dir, rec };
}

const users = () => `${schema}.idsync_users`;
const insertUsers = (ids: string[]) =>
  pgx.raw.query(`INSERT INTO ${users()} (id, username, email) SELECT i, 'user-' || i, i || '@example.test' FROM unnest($1::text[]) i`, [ids]);
const rowOf = async (id: string, columns = 'username, email, first_name, last_name, display_name, active, groups, roles, attributes, version') =>
  (await pgx.raw.query(`SELECT ${columns} FROM ${users()} WHERE id = $1`, [id])).rows[0];

async function insertFull(id = 'u1'): Promise<void> {
  await pgx.raw.query(
    `INSERT INTO ${users()} (id, username, email, first_name, last_name, display_name, active, groups, roles, attributes, photo, photo_hash, photo_content_type, version)
     VALUES ($1, 'alice', 'alice@example.test', 'Alice', 'Liddell', 'Al', false, '{g1,g2}', '{r1}', '{"k":"v"}', '\\x01', 'hash-1', 'image/png', 42)`,
    [id],
  );
}

describe('list', () => {
  it('yields no page for an empty table, after a single query limited to the default 1,000', async () => {
    const { dir, rec } = await fresh();
    expect(await collect(dir.list())).toEqual([]);
    expect(rec.seen).toEqual([{ text: expect.stringMatching(/WHERE "id" IS NOT NULL ORDER BY "id" LIMIT \$1$/), params: [1000] }]);
  });

  it('yields a short page and stops without asking again', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['c', 'a', 'b']);
    const pages = await collect(dir.list({ pageSize: 5 }));
    expect(pages.map((p) => p.map((u) => u.id))).toEqual([['a', 'b', 'c']]);
    expect(pages[0]![0]).toEqual({ id: 'a', username: 'user-a', email: 'a@example.test', active: true });
    expect(rec.seen).toHaveLength(1);
  });

  it('asks once more after an exactly full page and stops on the empty answer, continuing after the last id', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['a', 'b', 'c', 'd']);
    expect((await collect(dir.list({ pageSize: 2 }))).map((p) => p.map((u) => u.id))).toEqual([['a', 'b'], ['c', 'd']]);
    expect(rec.seen.map((s) => s.params)).toEqual([[2], ['b', 2], ['d', 2]]);
    expect(rec.seen[1]!.text).toMatch(/WHERE "id" > \$1::text ORDER BY "id" LIMIT \$2$/);
  });

  it('pages one user at a time with a page size of 1', async () => {
    const { dir } = await fresh();
    await insertUsers(['x', 'y', 'z']);
    expect((await collect(dir.list({ pageSize: 1 }))).map((p) => p.map((u) => u.id))).toEqual([['x'], ['y'], ['z']]);
  });

  it.each([
    [0, 1],
    [-5, 1],
    [2.9, 2],
    [10_000, 10_000],
    [50_000, 10_000],
  ])('turns a page size of %p into %p', async (asked, used) => {
    const { dir, rec } = await fresh();
    await collect(dir.list({ pageSize: asked }));
    expect(rec.seen.map((s) => s.params)).toEqual([[used]]);
  });

  it('lists nothing added behind the cursor and everything added ahead of it', async () => {
    const { dir } = await fresh();
    await insertUsers(['b', 'd', 'f']);
    const pages = dir.list({ pageSize: 2 });
    expect((await pages.next()).value.map((u: { id: string }) => u.id)).toEqual(['b', 'd']);
    await insertUsers(['a', 'c', 'e']);
    await pgx.raw.query(`DELETE FROM ${users()} WHERE id = 'f'`);
    expect((await pages.next()).value.map((u: { id: string }) => u.id)).toEqual(['e']);
    expect(await pages.next()).toEqual({ done: true, value: undefined });
  });

  it('leaves out rows whose id is NULL', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.loose (uid text, login text, mail text)`);
    await pgx.raw.query(`INSERT INTO ${schema}.loose VALUES (NULL, 'ghost', 'g@example.test'), ('k1', 'kim', 'k@example.test')`);
    const { dir } = await fresh({ table: 'loose', columns: { id: 'uid', username: 'login', email: 'mail' } });
    expect((await collect(dir.list())).flat().map((u) => u.username)).toEqual(['kim']);
  });

  it('stops with an ABORTED error when the signal fires between pages, before asking again', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['a', 'b', 'c']);
    const controller = new AbortController();
    const pages = dir.list({ pageSize: 1, abortSignal: controller.signal });
    await pages.next();
    controller.abort();
    const err = await caught(pages.next());
    expect(err).toMatchObject({ name: 'TransientError', code: 'ABORTED', message: 'Aborted listing users (shutdown)' });
    expect(rec.seen).toHaveLength(1);
  });

  it('throws, mapped, when a later page fails instead of ending early', async () => {
    const { dir } = await fresh();
    await insertUsers(['a', 'b', 'c']);
    const pages = dir.list({ pageSize: 1 });
    await pages.next();
    await pgx.raw.query(`DROP TABLE ${users()}`);
    const err = await caught(pages.next());
    expect(err).toMatchObject({ name: 'ConfigurationError', code: '42P01' });
    expect(err.message).toMatch(/^The database refused listing users on table "idsync_users": relation ".*idsync_users" does not exist \(SQLSTATE 42P01\)/);
  });
});

describe('get', () => {
  it('reads every mapped field of a present user without locking the row', async () => {
    const { dir, rec } = await fresh();
    await insertFull();
    expect(await dir.get('u1')).toEqual({
      id: 'u1', username: 'alice', email: 'alice@example.test', firstName: 'Alice', lastName: 'Liddell', displayName: 'Al',
      active: false, groups: ['g1', 'g2'], roles: ['r1'], attributes: { k: 'v' }, photoHash: 'hash-1', version: 42,
    });
    expect(rec.seen).toEqual([{ text: expect.stringMatching(/WHERE "id" = \$1::text$/), params: ['u1'] }]);
    expect(rec.transactions).toBe(0);
  });

  it('answers null for a missing user', async () => {
    const { dir } = await fresh();
    await insertFull();
    expect(await dir.get('U1')).toBeNull();
  });

  it('answers null without a query for an id the column could never hold', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.keyed (uid uuid PRIMARY KEY, login text, mail text)`);
    const { dir, rec } = await fresh({ table: 'keyed', columns: { id: 'uid', username: 'login', email: 'mail' } });
    expect(await dir.get('not-a-uuid')).toBeNull();
    expect(await dir.setRoles('not-a-uuid', ['r'])).toBe(false);
    expect(await dir.setPhoto('not-a-uuid', null)).toBe(false);
    const err = await caught(dir.apply(change({ firstName: 'x' }, 'not-a-uuid')));
    expect(err).toMatchObject({ name: 'PermanentError', code: 'not_found', message: 'Application user not-a-uuid does not exist in table "keyed"' });
    expect(rec.seen).toEqual([]);
  });

  it('refuses an aborted read before asking the database', async () => {
    const { dir, rec } = await fresh();
    const err = await caught(dir.get('u1', { abortSignal: AbortSignal.abort() }));
    expect(err).toMatchObject({ name: 'TransientError', code: 'ABORTED', message: 'Aborted read of user u1 (shutdown)' });
    expect(rec.seen).toEqual([]);
  });

  it('maps a failed read, naming the user and the table', async () => {
    const { dir } = await fresh();
    await pgx.raw.query(`ALTER TABLE ${users()} RENAME COLUMN email TO mail`);
    const err = await caught(dir.get('u1'));
    expect(err).toMatchObject({ name: 'ConfigurationError', code: '42703' });
    expect(err.message).toMatch(/^The database refused read of user u1 on table "idsync_users": column "email" does not exist/);
  });
});

describe('apply: creating', () => {
  it('creates a user under a new UUID, writing and reporting only the non-null fields, in field order', async () => {
    const { dir, rec } = await fresh();
    const before = Date.now();
    const res = await dir.apply(change({ groups: ['b', 'a'], lastName: null, email: 'eve@example.test', username: 'eve', active: false, attributes: { dept: 'ops' } }));
    const after = Date.now();
    expect(res).toEqual({ id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/), created: true, changed: ['username', 'email', 'active', 'groups', 'attributes'] });
    const row = await rowOf(res.id);
    expect(row).toEqual({ username: 'eve', email: 'eve@example.test', first_name: null, last_name: null, display_name: null, active: false, groups: ['b', 'a'], roles: null, attributes: { dept: 'ops' }, version: expect.any(String) });
    expect(Number(row!.version)).toBeGreaterThanOrEqual(before);
    expect(Number(row!.version)).toBeLessThanOrEqual(after);
    expect(writes(rec)).toHaveLength(1);
    expect(writes(rec)[0]!.text).not.toContain('"last_name"');
    expect(rec.transactions).toBe(1);
  });

  it('refuses to create a user without a username, writing nothing', async () => {
    const { dir, rec } = await fresh();
    const err = await caught(dir.apply(change({ email: 'nobody@example.test', firstName: 'No' })));
    expect(err).toMatchObject({ name: 'PermanentError', code: 'invalid_value', message: 'A new application user needs a username' });
    expect(writes(rec)).toEqual([]);
    const noValues = await caught(dir.apply(change({})));
    expect(noValues.message).toBe('A new application user needs a username');
  });

  it('adopts the user with the same username, whatever its case, and writes only what differs', async () => {
    const { dir, rec } = await fresh();
    await insertFull();
    const res = await dir.apply(change({ username: 'ALICE', email: 'alice@example.test', firstName: 'Alice', lastName: 'Lewis' }));
    expect(res).toEqual({ id: 'u1', created: false, changed: ['username', 'lastName'] });
    expect(await rowOf('u1', 'username, email, first_name, last_name, display_name')).toEqual({ username: 'ALICE', email: 'alice@example.test', first_name: 'Alice', last_name: 'Lewis', display_name: 'Al' });
    expect(writes(rec)).toHaveLength(1);
  });

  it('prefers the username match to another user with the same e-mail', async () => {
    const { dir } = await fresh();
    await pgx.raw.query(`INSERT INTO ${users()} (id, username, email) VALUES ('a1', 'other', 'bob@example.test'), ('z9', 'bob', 'elsewhere@example.test')`);
    expect(await dir.apply(change({ username: 'bob', email: 'bob@example.test' }))).toEqual({ id: 'z9', created: false, changed: ['email'] });
  });

  it('adopts by e-mail, case-insensitively, the lowest id among users sharing it, when no username matches', async () => {
    const { dir } = await fresh();
    await pgx.raw.query(`INSERT INTO ${users()} (id, username, email) VALUES ('m2', 'two', 'shared@example.test'), ('m1', 'one', 'Shared@Example.test'), ('m3', 'three', 'shared@example.test')`);
    expect(await dir.apply(change({ username: 'newname', email: 'SHARED@example.test' }))).toEqual({ id: 'm1', created: false, changed: ['username', 'email'] });
    expect(await dir.apply(change({ email: 'shared@example.test', displayName: 'Only e-mail' }))).toEqual({ id: 'm1', created: false, changed: ['email', 'displayName'] });
  });

  it('looks an e-mail up among e-mails only, even when it is another user\'s username', async () => {
    const { dir } = await fresh();
    await pgx.raw.query(`INSERT INTO ${users()} (id, username, email) VALUES ('a1', 'dan@example.test', 'other@example.test'), ('b2', 'dan', 'dan@example.test')`);
    expect(await dir.apply(change({ email: 'dan@example.test', displayName: 'Dan' }))).toEqual({ id: 'b2', created: false, changed: ['displayName'] });
  });

  it('writes nothing when an adopted user already holds every value', async () => {
    const { dir, rec } = await fresh();
    await insertFull();
    expect(await dir.apply(change({ username: 'alice', email: 'alice@example.test', groups: ['g2', 'g1'], attributes: { k: 'v' }, active: false }))).toEqual({ id: 'u1', created: false, changed: [] });
    expect(writes(rec)).toEqual([]);
    expect(await rowOf('u1', 'version')).toEqual({ version: '42' });
  });

  it('adopts the row a concurrent import created between its look-up and its insert', async () => {
    const { dir, rec } = await fresh();
    let raced = false;
    rec.before = async (text) => {
      if (raced || !text.startsWith('INSERT')) return;
      raced = true;
      await pgx.raw.query(`INSERT INTO ${users()} (id, username, email) VALUES ('rival', 'Erin', 'erin@example.test')`);
    };
    expect(await dir.apply(change({ username: 'erin', email: 'erin@example.test' }))).toEqual({ id: 'rival', created: false, changed: ['username'] });
    expect(rec.transactions).toBe(2);
    expect((await pgx.raw.query(`SELECT id, username FROM ${users()}`)).rows).toEqual([{ id: 'rival', username: 'erin' }]);
  });

  it('maps a failure of the second attempt, naming the import', async () => {
    const { dir, rec } = await fresh();
    rec.before = async (text, transaction) => {
      if (transaction === 1 && text.startsWith('INSERT')) await pgx.raw.query(`INSERT INTO ${users()} (id, username, email) VALUES ('rival', 'erin', 'e@example.test')`);
      if (transaction === 2) throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    };
    const err = await caught(dir.apply(change({ username: 'erin', email: 'e@example.test' })));
    expect(err).toMatchObject({
      name: 'TransientError',
      code: '57P01',
      message: 'The database could not complete import of a user on table "idsync_users" for now: terminating connection due to administrator command (SQLSTATE 57P01)',
    });
  });

  it('does not retry an import that failed for another reason than a taken username', async () => {
    const { dir, rec } = await fresh();
    await pgx.raw.query(`ALTER TABLE ${users()} ADD CONSTRAINT no_mallory CHECK (username <> 'mallory')`);
    const err = await caught(dir.apply(change({ username: 'mallory', email: 'm@example.test' })));
    expect(err).toMatchObject({ name: 'PermanentError', code: '23514', message: 'The database refused import of a user on table "idsync_users": the row violates check constraint "no_mallory"' });
    expect(rec.transactions).toBe(1);
  });

  it('lets the database number users of an identity id and omits the id from the insert', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.numbered (n bigint GENERATED ALWAYS AS IDENTITY (START WITH 41) PRIMARY KEY, login text, mail text)`);
    const { dir, rec } = await fresh({ table: 'numbered', columns: { id: 'n', username: 'login', email: 'mail' } });
    expect(await dir.apply(change({ username: 'n1', email: 'n1@example.test' }))).toEqual({ id: '41', created: true, changed: ['username', 'email'] });
    expect(writes(rec)[0]!.params).toEqual(['n1', 'n1@example.test']);
    expect(await dir.get('41')).toMatchObject({ id: '41', username: 'n1' });
  });

  it('makes a UUID for a uuid id column', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.keyed (uid uuid PRIMARY KEY, login text, mail text)`);
    const { dir } = await fresh({ table: 'keyed', columns: { id: 'uid', username: 'login', email: 'mail' } });
    const { id } = await dir.apply(change({ username: 'u', email: 'u@example.test' }));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await dir.get(id.toUpperCase())).toMatchObject({ id, username: 'u' });
  });

  it('refuses an aborted import or update before asking the database', async () => {
    const { dir, rec } = await fresh();
    const aborted = { abortSignal: AbortSignal.abort() };
    expect(await caught(dir.apply(change({ username: 'x', email: 'x@example.test' }), aborted))).toMatchObject({ name: 'TransientError', code: 'ABORTED', message: 'Aborted import of a user (shutdown)' });
    expect(await caught(dir.apply(change({ firstName: 'x' }, 'u7'), aborted))).toMatchObject({ name: 'TransientError', code: 'ABORTED', message: 'Aborted update of user u7 (shutdown)' });
    expect(rec.seen).toEqual([]);
  });
});

describe('apply: updating', () => {
  it('writes only the fields given, clears with null, ignores undefined and inherited values', async () => {
    const { dir, rec } = await fresh();
    await insertFull();
    const values = Object.assign(Object.create({ email: 'inherited@example.test' }) as AppUserValues, { firstName: 'Alicia', lastName: undefined, displayName: null });
    expect(await dir.apply(change(values, 'u1'))).toEqual({ id: 'u1', created: false, changed: ['firstName', 'displayName'] });
    expect(await rowOf('u1')).toEqual({
      username: 'alice', email: 'alice@example.test', first_name: 'Alicia', last_name: 'Liddell', display_name: null,
      active: false, groups: ['g1', 'g2'], roles: ['r1'], attributes: { k: 'v' }, version: expect.any(String),
    });
    expect(await rowOf('u1', 'photo_hash, photo_content_type')).toEqual({ photo_hash: 'hash-1', photo_content_type: 'image/png' });
    expect(writes(rec)).toHaveLength(1);
    expect(rec.seen[0]!.text).toMatch(/ FOR UPDATE$/);
  });

  it('reports the changed fields in field order whatever the order of the change', async () => {
    const { dir } = await fresh();
    await insertFull();
    expect(await dir.apply(change({ attributes: { k: 'w' }, groups: ['g1'], active: true, email: 'new@example.test' }, 'u1'))).toMatchObject({ changed: ['email', 'active', 'groups', 'attributes'] });
  });

  it('writes nothing, bumps no version and touches no timestamp when nothing differs', async () => {
    const { dir, rec } = await fresh();
    await insertFull();
    await pgx.raw.query(`UPDATE ${users()} SET updated_at = '2001-02-03T04:05:06Z'`);
    const same = change({ username: 'alice', firstName: 'Alice', groups: ['g2', 'g1'], attributes: { k: 'v' }, active: false }, 'u1');
    expect(await dir.apply(same)).toEqual({ id: 'u1', created: false, changed: [] });
    expect(writes(rec)).toEqual([]);
    expect(await rowOf('u1', "version, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY') AS y")).toEqual({ version: '42', y: '2001' });
  });

  it('bumps a bigint version past a stored value from the future, and stamps updated_at', async () => {
    const { dir } = await fresh();
    await insertFull();
    await pgx.raw.query(`UPDATE ${users()} SET version = 9000000000000000, updated_at = '2001-02-03T04:05:06Z'`);
    await dir.apply(change({ firstName: 'F' }, 'u1'));
    expect(await rowOf('u1', "version, updated_at > now() - interval '1 hour' AS fresh")).toEqual({ version: '9000000000000001', fresh: true });
    expect((await dir.get('u1'))!.version).toBe(9000000000000001);
  });

  it('sets a NULL bigint version to the current time in milliseconds', async () => {
    const { dir } = await fresh();
    await insertFull();
    await pgx.raw.query(`UPDATE ${users()} SET version = NULL`);
    const before = Date.now();
    await dir.apply(change({ firstName: 'F' }, 'u1'));
    const version = (await dir.get('u1'))!.version!;
    expect(version).toBeGreaterThanOrEqual(before);
    expect(version).toBeLessThanOrEqual(Date.now());
  });

  it('refuses to clear a required field, writing nothing', async () => {
    const { dir, rec } = await fresh();
    await insertFull();
    for (const field of ['username', 'email', 'active'] as const) {
      const err = await caught(dir.apply(change({ [field]: null } as unknown as AppUserValues, 'u1')));
      expect(err).toMatchObject({ name: 'PermanentError', code: 'invalid_value', message: `Field ${field} cannot be cleared (null); it is required` });
    }
    expect(rec.seen).toEqual([]);
  });

  it('reports a missing user as not found, naming the table', async () => {
    const { dir, rec } = await fresh();
    const err = await caught(dir.apply(change({ firstName: 'x' }, 'ghost')));
    expect(err).toMatchObject({ name: 'PermanentError', code: 'not_found', message: 'Application user ghost does not exist in table "idsync_users"' });
    expect(writes(rec)).toEqual([]);
  });

  it('maps a taken username on an update to a permanent error without retrying', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['u1', 'u2']);
    const err = await caught(dir.apply(change({ username: 'USER-U1' }, 'u2')));
    expect(err).toMatchObject({
      name: 'PermanentError',
      code: '23505',
      message: 'The database refused update of user u2 on table "idsync_users": the value for constraint "idsync_users_username_lower_key" is already taken by another row',
    });
    expect(rec.transactions).toBe(1);
  });

  it('names the field of a mapped column the database will not clear', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.strict (uid text PRIMARY KEY, login text, mail text, given text NOT NULL DEFAULT 'x')`);
    await pgx.raw.query(`INSERT INTO ${schema}.strict VALUES ('s1', 'l', 'm', 'g')`);
    const { dir } = await fresh({ table: `${schema}.strict`, columns: { id: 'uid', username: 'login', email: 'mail', firstName: 'given' } });
    const err = await caught(dir.apply(change({ firstName: null }, 's1')));
    expect(err).toMatchObject({ name: 'PermanentError', code: '23502', message: `The database refused update of user s1 on table "${schema}.strict": column "given" (field firstName) must not be null` });
  });

  it('counts an integer version up from 1, and from NULL again', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.counted (uid text PRIMARY KEY, login text, mail text, rev integer)`);
    const { dir } = await fresh({ table: 'counted', columns: { id: 'uid', username: 'login', email: 'mail', version: 'rev' } });
    const { id } = await dir.apply(change({ username: 'c', email: 'c@example.test' }));
    expect((await dir.get(id))!.version).toBe(1);
    await dir.apply(change({ email: 'c2@example.test' }, id));
    expect((await dir.get(id))!.version).toBe(2);
    await pgx.raw.query(`UPDATE ${schema}.counted SET rev = NULL`);
    await dir.apply(change({ email: 'c3@example.test' }, id));
    expect((await dir.get(id))!.version).toBe(1);
  });

  it.each([
    ['timestamptz', "'2100-01-01T00:00:00Z'"],
    ['timestamp', "'2100-01-01 00:00:00'"],
  ])('moves a %s version at least a millisecond past a stored one, and starts it at the current time', async (type, future) => {
    await pgx.raw.query(`CREATE TABLE ${schema}.stamped (uid text PRIMARY KEY, login text, mail text, rev ${type})`);
    const { dir } = await fresh({ table: 'stamped', columns: { id: 'uid', username: 'login', email: 'mail', version: 'rev' } });
    const { id } = await dir.apply(change({ username: 't', email: 't@example.test' }));
    const stamp = await pgx.raw.query<{ near: boolean }>(`SELECT abs(extract(epoch from (rev - ${type === 'timestamp' ? 'localtimestamp' : 'now()'}))) < 3600 AS near FROM ${schema}.stamped`);
    expect(stamp.rows).toEqual([{ near: true }]);
    await pgx.raw.query(`UPDATE ${schema}.stamped SET rev = ${future}`);
    await dir.apply(change({ email: 't2@example.test' }, id));
    expect((await dir.get(id))!.version).toBe(Date.UTC(2100, 0, 1) + 1);
  });

  it('stores attributes in a json column as the document given and compares them by content', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.documented (uid text PRIMARY KEY, login text, mail text, attrs json)`);
    const { dir, rec } = await fresh({ table: 'documented', columns: { id: 'uid', username: 'login', email: 'mail', attributes: 'attrs' } });
    const { id } = await dir.apply(change({ username: 'j', email: 'j@example.test', attributes: { b: '1', a: ['x', 'y'] } }));
    expect((await pgx.raw.query(`SELECT attrs::text AS t FROM ${schema}.documented`)).rows).toEqual([{ t: '{"b":"1","a":["x","y"]}' }]);
    rec.seen.length = 0;
    expect(await dir.apply(change({ attributes: { a: ['x', 'y'], b: '1' } }, id))).toMatchObject({ changed: [] });
    expect(await dir.apply(change({ attributes: { a: ['y', 'x'], b: '1' } }, id))).toMatchObject({ changed: ['attributes'] });
    expect(writes(rec)).toHaveLength(1);
  });

  it('ignores values for fields the column map leaves out', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.narrow (uid text PRIMARY KEY, login text, mail text)`);
    await pgx.raw.query(`INSERT INTO ${schema}.narrow VALUES ('n1', 'l', 'm')`);
    const { dir, rec } = await fresh({ table: 'narrow', columns: { id: 'uid', username: 'login', email: 'mail' } });
    expect(await dir.apply(change({ firstName: 'F', groups: ['g'], active: false, attributes: { a: 'b' } }, 'n1'))).toEqual({ id: 'n1', created: false, changed: [] });
    expect(writes(rec)).toEqual([]);
  });
});

describe('setRoles', () => {
  it('replaces the roles in the order given and bumps the version', async () => {
    const { dir, rec } = await fresh();
    await insertFull();
    await pgx.raw.query(`UPDATE ${users()} SET version = 9000000000000000`);
    expect(await dir.setRoles('u1', ['zeta', 'alpha'])).toBe(true);
    expect(await rowOf('u1', 'roles, version, groups')).toEqual({ roles: ['zeta', 'alpha'], version: '9000000000000001', groups: ['g1', 'g2'] });
    expect(writes(rec)).toHaveLength(1);
    expect(rec.seen[0]!.text).toMatch(/ FOR UPDATE$/);
  });

  it('writes nothing for the same roles in another order, but writes an empty list over NULL', async () => {
    const { dir, rec } = await fresh();
    await insertFull();
    expect(await dir.setRoles('u1', ['r1'])).toBe(true);
    expect(writes(rec)).toEqual([]);
    await pgx.raw.query(`UPDATE ${users()} SET roles = '{a,b}'`);
    expect(await dir.setRoles('u1', ['b', 'a'])).toBe(true);
    expect(writes(rec)).toEqual([]);
    await pgx.raw.query(`UPDATE ${users()} SET roles = NULL`);
    expect(await dir.setRoles('u1', [])).toBe(true);
    expect(await rowOf('u1', 'roles')).toEqual({ roles: [] });
  });

  it('answers false for a missing user, writing nothing', async () => {
    const { dir, rec } = await fresh();
    expect(await dir.setRoles('ghost', ['r'])).toBe(false);
    expect(writes(rec)).toEqual([]);
  });

  it('stores nothing without a roles column, answering whether the user exists', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.narrow (uid text PRIMARY KEY, login text, mail text)`);
    await pgx.raw.query(`INSERT INTO ${schema}.narrow VALUES ('n1', 'l', 'm')`);
    const { dir, rec } = await fresh({ table: 'narrow', columns: { id: 'uid', username: 'login', email: 'mail' } });
    expect(await dir.setRoles('n1', ['r'])).toBe(true);
    expect(await dir.setRoles('n2', ['r'])).toBe(false);
    expect(writes(rec)).toEqual([]);
  });

  it('refuses an aborted call and maps a failed one, naming the role update', async () => {
    const { dir, rec } = await fresh();
    expect(await caught(dir.setRoles('u1', [], { abortSignal: AbortSignal.abort() }))).toMatchObject({ name: 'TransientError', code: 'ABORTED', message: 'Aborted role update of user u1 (shutdown)' });
    expect(rec.seen).toEqual([]);
    await pgx.raw.query(`DROP TABLE ${users()}`);
    const err = await caught(dir.setRoles('u1', []));
    expect(err).toMatchObject({ name: 'ConfigurationError', code: '42P01' });
    expect(err.message).toMatch(/^The database refused role update of user u1 on table "idsync_users": /);
  });
});

describe('setPhoto', () => {
  const photoRow = (id = 'u1') => rowOf(id, "encode(photo, 'escape') AS photo, photo_hash, photo_content_type, version");

  it('stores bytes, hash and content type, bumping the version once', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['u1']);
    await pgx.raw.query(`UPDATE ${users()} SET version = 9000000000000000`);
    const photo = photoOf('portrait');
    expect(await dir.setPhoto('u1', photo)).toBe(true);
    expect(await photoRow()).toEqual({ photo: 'portrait', photo_hash: photo.hash, photo_content_type: 'image/png', version: '9000000000000001' });
    expect(writes(rec)).toHaveLength(1);
    expect(rec.seen[0]!.text).toMatch(/"photo" IS NOT NULL AS "hasPhoto", "photo_content_type"::text AS "photoContentType" FROM .* FOR UPDATE$/);
    expect((await dir.get('u1'))!.photoHash).toBe(photo.hash);
  });

  it('writes nothing for the photo it already holds', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['u1']);
    const photo = photoOf('portrait');
    await dir.setPhoto('u1', photo);
    rec.seen.length = 0;
    expect(await dir.setPhoto('u1', photoOf('portrait'))).toBe(true);
    expect(writes(rec)).toEqual([]);
  });

  it('writes only the content type when only the content type changed', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['u1']);
    await dir.setPhoto('u1', photoOf('portrait'));
    rec.seen.length = 0;
    expect(await dir.setPhoto('u1', photoOf('portrait', 'image/jpeg'))).toBe(true);
    expect(writes(rec).map((w) => w.params.slice(0, -1))).toEqual([['u1', 'image/jpeg']]);
    expect(await photoRow()).toMatchObject({ photo: 'portrait', photo_content_type: 'image/jpeg' });
  });

  it('writes bytes and hash but not an unchanged content type for a new photo', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['u1']);
    await dir.setPhoto('u1', photoOf('old'));
    rec.seen.length = 0;
    const photo = photoOf('new');
    await dir.setPhoto('u1', photo);
    expect(writes(rec).map((w) => w.params.slice(0, -1))).toEqual([['u1', photo.data, photo.hash]]);
    expect(await photoRow()).toMatchObject({ photo: 'new', photo_hash: photo.hash });
  });

  it('stores the bytes when the row has a matching hash but no photo', async () => {
    const { dir } = await fresh();
    await insertUsers(['u1']);
    const photo = photoOf('portrait');
    await pgx.raw.query(`UPDATE ${users()} SET photo_hash = $1, photo_content_type = 'image/png'`, [photo.hash]);
    expect(await dir.setPhoto('u1', photo)).toBe(true);
    expect(await photoRow()).toMatchObject({ photo: 'portrait', photo_hash: photo.hash });
  });

  it('removes a photo, clearing only the columns that hold something', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['u1', 'u2', 'u3']);
    await dir.setPhoto('u1', photoOf('portrait'));
    await pgx.raw.query(`UPDATE ${users()} SET photo_hash = 'stale' WHERE id = 'u2'`);
    rec.seen.length = 0;
    expect(await dir.setPhoto('u1', null)).toBe(true);
    expect(await dir.setPhoto('u2', null)).toBe(true);
    expect(await dir.setPhoto('u3', null)).toBe(true);
    expect(writes(rec).map((w) => w.params.slice(0, -1))).toEqual([['u1', null, null, null], ['u2', null]]);
    expect(await photoRow('u1')).toMatchObject({ photo: null, photo_hash: null, photo_content_type: null });
    expect(await photoRow('u2')).toMatchObject({ photo_hash: null });
  });

  it('clears a leftover content type of a user without a photo', async () => {
    const { dir, rec } = await fresh();
    await insertUsers(['u1']);
    await pgx.raw.query(`UPDATE ${users()} SET photo_content_type = 'image/gif'`);
    expect(await dir.setPhoto('u1', null)).toBe(true);
    expect(writes(rec).map((w) => w.params.slice(0, -1))).toEqual([['u1', null]]);
  });

  it('hashes the stored bytes when there is no hash column, and keeps a content type without one', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.pictured (uid text PRIMARY KEY, login text, mail text, pic bytea, kind text)`);
    await pgx.raw.query(`INSERT INTO ${schema}.pictured VALUES ('p1', 'l', 'm', NULL, NULL)`);
    const { dir, rec } = await fresh({ table: 'pictured', columns: { id: 'uid', username: 'login', email: 'mail', photo: 'pic', photoContentType: 'kind' } });
    const photo = photoOf('bytes');
    expect(await dir.setPhoto('p1', photo)).toBe(true);
    expect(writes(rec).map((w) => w.params)).toEqual([['p1', photo.data, 'image/png']]);
    expect((await dir.get('p1'))!.photoHash).toBe(photo.hash);
    rec.seen.length = 0;
    expect(await dir.setPhoto('p1', photoOf('bytes'))).toBe(true);
    expect(writes(rec)).toEqual([]);
    expect(await dir.setPhoto('p1', null)).toBe(true);
    expect(writes(rec).map((w) => w.params)).toEqual([['p1', null, null]]);
  });

  it('needs no content type column', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.bare (uid text PRIMARY KEY, login text, mail text, pic bytea, pic_hash text)`);
    await pgx.raw.query(`INSERT INTO ${schema}.bare VALUES ('p1', 'l', 'm', NULL, NULL)`);
    const { dir, rec } = await fresh({ table: 'bare', columns: { id: 'uid', username: 'login', email: 'mail', photo: 'pic', photoHash: 'pic_hash' } });
    const photo = photoOf('bytes');
    expect(await dir.setPhoto('p1', photo)).toBe(true);
    expect(rec.seen[0]!.text).toMatch(/"pic" IS NOT NULL AS "hasPhoto" FROM /);
    expect(writes(rec).map((w) => w.params)).toEqual([['p1', photo.data, photo.hash]]);
    rec.seen.length = 0;
    expect(await dir.setPhoto('p1', photo)).toBe(true);
    expect(writes(rec)).toEqual([]);
  });

  it('stores nothing without a photo column, answering whether the user exists', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.narrow (uid text PRIMARY KEY, login text, mail text)`);
    await pgx.raw.query(`INSERT INTO ${schema}.narrow VALUES ('n1', 'l', 'm')`);
    const { dir, rec } = await fresh({ table: 'narrow', columns: { id: 'uid', username: 'login', email: 'mail' } });
    expect(await dir.setPhoto('n1', photoOf('x'))).toBe(true);
    expect(await dir.setPhoto('n1', null)).toBe(true);
    expect(await dir.setPhoto('n2', photoOf('x'))).toBe(false);
    expect(writes(rec)).toEqual([]);
    expect(rec.seen[0]!.text).toMatch(/"mail"::text AS "email" FROM /);
  });

  it('answers false for a missing user, refuses an aborted call and maps a failed one', async () => {
    const { dir, rec } = await fresh();
    expect(await dir.setPhoto('ghost', photoOf('x'))).toBe(false);
    expect(writes(rec)).toEqual([]);
    rec.seen.length = 0;
    expect(await caught(dir.setPhoto('u1', null, { abortSignal: AbortSignal.abort() }))).toMatchObject({ name: 'TransientError', code: 'ABORTED', message: 'Aborted photo update of user u1 (shutdown)' });
    expect(rec.seen).toEqual([]);
    await pgx.raw.query(`DROP TABLE ${users()}`);
    const err = await caught(dir.setPhoto('u1', null));
    expect(err.message).toMatch(/^The database refused photo update of user u1 on table "idsync_users": /);
  });
});
