// Opening the SQL store, piece by piece, on a real PostgreSQL server (a database of this
// file's own, a fresh schema per test): identifier quoting and table names, finding the table
// and its columns through information_schema, the default table's migration, openSqlDirectory
// (engines it owns versus engines it borrows, what it checks, how it fails, never echoing a
// password), and the pg engine itself: pool settings, transactions, rollback, closing.
import { createServer, type Server, type Socket } from 'node:net';
import { jest } from '@jest/globals';
import pg from 'pg';
import { openSqlDirectory, quoteIdent, type SqlEngine } from '../../../workers/app/sql/index.js';
import { parseTableName, quoteTable } from '../../../workers/app/sql/identifiers.js';
import { findTable, tableColumns } from '../../../workers/app/sql/introspect.js';
import { migrateDefaultTable } from '../../../workers/app/sql/migrate.js';
import { openPgEngine } from '../../../workers/app/sql/pg-engine.js';
import { waitFor } from '../../helpers/wait.js';
import { usePostgres } from '../../helpers/postgres.js';

async function caught(p: Promise<unknown>): Promise<Error & { code?: string; variables?: { path: string; message: string }[] }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  if (!err) throw new Error('expected the call to fail');
  return err;
}

const pgx = usePostgres();
let schema: string;
beforeEach(() => {
  schema = pgx.schema;
});
afterEach(() => {
  jest.restoreAllMocks();
});

/** An engine whose unqualified names resolve in this test's schema (then in `more`). */
function schemaEngine(more: string[] = [], options: { maxConnections?: number; statementTimeoutInMs?: number } = {}): SqlEngine {
  const engine = openPgEngine({ databaseUrl: pgx.db.urlFor([schema, ...more].join(',')), ...options });
  pgx.track(engine);
  return engine;
}

/** The default table's columns, without its indexes and with `extra` columns. */
const defaultTable = (extra = '') =>
  pgx.raw.query(`CREATE TABLE ${schema}.idsync_users (id text PRIMARY KEY, username text NOT NULL, email text, first_name text, last_name text,
    display_name text, active boolean NOT NULL DEFAULT true, groups text[], roles text[], attributes jsonb, photo bytea, photo_hash text,
    photo_content_type text, version bigint${extra})`);

const tables = async () =>
  (await pgx.raw.query<{ t: string }>('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema])).rows.map((r) => r.t);

describe('identifiers', () => {
  it('double-quotes a name and doubles the quotes inside it', () => {
    expect(quoteIdent('users')).toBe('"users"');
    expect(quoteIdent('Odd "Users"; DROP TABLE x; --')).toBe('"Odd ""Users""; DROP TABLE x; --"');
    expect(quoteIdent('""')).toBe('""""""');
  });

  it('refuses a NUL character', () => {
    expect(() => quoteIdent('a\u0000b')).toThrow(new Error('an SQL identifier cannot contain a NUL character'));
  });

  it('splits a table name at its first dot only', () => {
    expect(parseTableName('users')).toEqual({ schema: undefined, name: 'users' });
    expect(parseTableName('crm.people')).toEqual({ schema: 'crm', name: 'people' });
    expect(parseTableName('a.b.c')).toEqual({ schema: 'a', name: 'b.c' });
    expect(parseTableName('.t')).toEqual({ schema: '', name: 't' });
  });

  it('quotes both parts of a qualified table', () => {
    expect(quoteTable({ schema: 'My "S"', name: 't.x' })).toBe('"My ""S"""."t.x"');
  });

  it('lets hostile table and column names through as names only', async () => {
    const table = 'We"ird; DROP TABLE idsync_users; --';
    await pgx.raw.query(`CREATE TABLE ${schema}.${quoteIdent(table)} (${quoteIdent('Id "x"')} text PRIMARY KEY, ${quoteIdent('user')} text, ${quoteIdent('e.mail')} text)`);
    await pgx.raw.query(`CREATE TABLE ${schema}.idsync_users (id text)`);
    const dir = await openSqlDirectory({ engine: schemaEngine(), table, columns: { id: 'Id "x"', username: 'user', email: 'e.mail' } });
    const { id } = await dir.apply({ values: { username: "o'brien", email: 'o@example.test' }, source: 'crowd' });
    expect(await dir.get(id)).toEqual({ id, username: "o'brien", email: 'o@example.test', active: true });
    expect(await tables()).toEqual(['We"ird; DROP TABLE idsync_users; --', 'idsync_users']);
  });
});

describe('findTable and tableColumns', () => {
  it('prefers the exact spelling, then the lower-case one', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}."Users" (a int)`);
    await pgx.raw.query(`CREATE TABLE ${schema}.users (a int)`);
    await pgx.raw.query(`CREATE TABLE ${schema}.people (a int)`);
    const e = schemaEngine();
    expect(await findTable(e, { schema: undefined, name: 'Users' })).toEqual({ schema, name: 'Users' });
    expect(await findTable(e, { schema: undefined, name: 'PEOPLE' })).toEqual({ schema, name: 'people' });
    expect(await findTable(e, { schema: schema.toUpperCase(), name: 'People' })).toEqual({ schema, name: 'people' });
    expect(await findTable(e, { schema, name: 'users' })).toEqual({ schema, name: 'users' });
    expect(await findTable(e, { schema: undefined, name: 'nobody' })).toBeUndefined();
    expect(await findTable(e, { schema: 'no_schema', name: 'users' })).toBeUndefined();
  });

  it('takes an unqualified name from the first schema on the search path that has it, and only from there', async () => {
    const second = `${schema}_b`;
    await pgx.raw.query(`CREATE SCHEMA ${second}`);
    await pgx.raw.query(`CREATE TABLE ${second}.shared (a int)`);
    await pgx.raw.query(`CREATE TABLE ${schema}.shared (a int)`);
    await pgx.raw.query(`CREATE TABLE ${second}.only_b (a int)`);
    const both = schemaEngine([second]);
    expect(await findTable(both, { schema: undefined, name: 'shared' })).toEqual({ schema, name: 'shared' });
    expect(await findTable(both, { schema: undefined, name: 'only_b' })).toEqual({ schema: second, name: 'only_b' });
    const reversed = openPgEngine({ databaseUrl: pgx.db.urlFor(`${second},${schema}`) });
    pgx.track(reversed);
    expect(await findTable(reversed, { schema: undefined, name: 'shared' })).toEqual({ schema: second, name: 'shared' });
    expect(await findTable(schemaEngine(), { schema: undefined, name: 'only_b' })).toBeUndefined();
  });

  it('describes each column: types, defaults, identity and generation', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.described (
      n bigint GENERATED ALWAYS AS IDENTITY, s serial, tags varchar(9)[], doc jsonb DEFAULT '{}', plain text,
      twice int GENERATED ALWAYS AS (s * 2) STORED)`);
    const columns = await tableColumns(pgx.raw, { schema, name: 'described' });
    expect([...columns].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'doc', dataType: 'jsonb', udtName: 'jsonb', hasDefault: true, isIdentity: false, isGenerated: false },
      { name: 'n', dataType: 'bigint', udtName: 'int8', hasDefault: false, isIdentity: true, isGenerated: false },
      { name: 'plain', dataType: 'text', udtName: 'text', hasDefault: false, isIdentity: false, isGenerated: false },
      { name: 's', dataType: 'integer', udtName: 'int4', hasDefault: true, isIdentity: false, isGenerated: false },
      { name: 'tags', dataType: 'ARRAY', udtName: '_varchar', hasDefault: false, isIdentity: false, isGenerated: false },
      { name: 'twice', dataType: 'integer', udtName: 'int4', hasDefault: false, isIdentity: false, isGenerated: true },
    ]);
    expect(await tableColumns(pgx.raw, { schema, name: 'nothing' })).toEqual([]);
  });
});

describe('migrateDefaultTable', () => {
  const columnsOf = async () =>
    (
      await pgx.raw.query<{ c: string }>(
        `SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-') AS c
           FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'idsync_users' ORDER BY ordinal_position`,
        [schema],
      )
    ).rows.map((r) => r.c);
  const indexesOf = async () =>
    (await pgx.raw.query<{ d: string }>("SELECT indexdef AS d FROM pg_indexes WHERE schemaname = $1 AND tablename = 'idsync_users' ORDER BY indexname", [schema])).rows.map((r) =>
      r.d.replace(`${schema}.`, ''),
    );

  it('creates the default table with its key, defaults and lower-case indexes, and does it again without complaint', async () => {
    const e = schemaEngine();
    await migrateDefaultTable(e);
    await migrateDefaultTable(e);
    expect(await columnsOf()).toEqual([
      'id text NO -', 'username text NO -', 'email text YES -', 'first_name text YES -', 'last_name text YES -', 'display_name text YES -',
      'active boolean NO true', 'groups ARRAY YES -', 'roles ARRAY YES -', 'attributes jsonb YES -', 'photo bytea YES -', 'photo_hash text YES -',
      'photo_content_type text YES -', 'version bigint YES -', 'created_at timestamp with time zone NO now()', 'updated_at timestamp with time zone NO now()',
    ]);
    expect(await indexesOf()).toEqual([
      'CREATE INDEX idsync_users_email_lower_idx ON idsync_users USING btree (lower(email))',
      'CREATE UNIQUE INDEX idsync_users_pkey ON idsync_users USING btree (id)',
      'CREATE UNIQUE INDEX idsync_users_username_lower_key ON idsync_users USING btree (lower(username))',
    ]);
  });

  it('waits for the migration lock another process holds, and creates nothing until it has it', async () => {
    const holder = new pg.Client({ connectionString: pgx.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1)', [0x1d5_9c01]);
      const e = schemaEngine();
      const migration = migrateDefaultTable(e);
      await waitFor(async () => (await pgx.raw.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1", [0x1d5_9c01])).rowCount > 0);
      expect(await tables()).toEqual([]);
      await holder.query('COMMIT');
      await migration;
      expect(await tables()).toEqual(['idsync_users']);
    } finally {
      await holder.end();
    }
  });

  it('rolls back everything when a statement fails', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.idsync_users (id text, login text)`);
    await expect(migrateDefaultTable(schemaEngine())).rejects.toMatchObject({ code: '42703' });
    expect(await indexesOf()).toEqual([]);
  });
});

describe('openSqlDirectory', () => {
  it('creates the missing default table, and reports the table, kind and columns it resolved', async () => {
    const dir = await openSqlDirectory({ engine: schemaEngine() });
    expect(await tables()).toEqual(['idsync_users']);
    expect(dir.kind).toBe('sql');
    expect(dir.table).toBe('idsync_users');
    expect(dir.columns).toEqual({
      id: 'id', username: 'username', email: 'email', firstName: 'first_name', lastName: 'last_name', displayName: 'display_name', active: 'active',
      groups: 'groups', roles: 'roles', attributes: 'attributes', photo: 'photo', photoHash: 'photo_hash', photoContentType: 'photo_content_type', version: 'version',
    });
    expect(Object.isFrozen(dir.columns)).toBe(true);
  });

  it('leaves an existing default table as it is', async () => {
    await defaultTable();
    const dir = await openSqlDirectory({ engine: schemaEngine() });
    expect((await pgx.raw.query("SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'idsync_users_%lower%'", [schema])).rows).toEqual([]);
    // Without an updated_at column there is nothing to stamp.
    const { id } = await dir.apply({ values: { username: 'a', email: 'a@example.test', firstName: 'F' }, source: 'crowd' });
    await dir.apply({ id, values: { firstName: 'G' }, source: 'crowd' });
    expect(await dir.get(id)).toEqual({ id, username: 'a', email: 'a@example.test', firstName: 'G', active: true, version: expect.any(Number) });
  });

  it('stamps updated_at of the default table only when the map does not claim it', async () => {
    await defaultTable(', updated_at timestamptz');
    await pgx.raw.query(`INSERT INTO ${schema}.idsync_users (id, username, email) VALUES ('u1', 'a', 'a@example.test')`);
    const plain = await openSqlDirectory({ engine: schemaEngine() });
    await plain.apply({ id: 'u1', values: { email: 'b@example.test' }, source: 'crowd' });
    const stamped = (await pgx.raw.query<{ set: boolean }>(`SELECT updated_at IS NOT NULL AS set FROM ${schema}.idsync_users`)).rows;
    expect(stamped).toEqual([{ set: true }]);

    await pgx.raw.query(`UPDATE ${schema}.idsync_users SET updated_at = '2100-01-01T00:00:00Z'`);
    const claimed = await openSqlDirectory({ engine: schemaEngine(), table: 'idsync_users', columns: { id: 'id', username: 'username', email: 'email', version: 'updated_at' } });
    await claimed.apply({ id: 'u1', values: { email: 'c@example.test' }, source: 'crowd' });
    expect((await claimed.get('u1'))!.version).toBe(Date.UTC(2100, 0, 1) + 1);
  });

  it('never stamps updated_at of another table', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.accounts (uid text PRIMARY KEY, login text, mail text, updated_at timestamptz)`);
    await pgx.raw.query(`INSERT INTO ${schema}.accounts VALUES ('u1', 'a', 'a@example.test', NULL)`);
    const dir = await openSqlDirectory({ engine: schemaEngine(), table: 'accounts', columns: { id: 'uid', username: 'login', email: 'mail' } });
    await dir.apply({ id: 'u1', values: { email: 'b@example.test' }, source: 'crowd' });
    expect((await pgx.raw.query(`SELECT mail, updated_at FROM ${schema}.accounts`)).rows).toEqual([{ mail: 'b@example.test', updated_at: null }]);
  });

  it('asks for a column map for another table before touching the database', async () => {
    const query = jest.fn();
    const engine = { kind: 'sql', query, transaction: jest.fn(), close: jest.fn() } as unknown as SqlEngine;
    const err = await caught(openSqlDirectory({ engine, table: 'accounts' }));
    expect(err.name).toBe('InvalidEnvironmentError');
    expect(err.variables).toEqual([
      { path: 'APP_USERS_COLUMNS', message: 'required when APP_USERS_TABLE is not idsync_users: a JSON object of idsync field → column, e.g. {"id":"uid","username":"login","email":"mail"}' },
    ]);
    expect(query).not.toHaveBeenCalled();
  });

  it('names a missing table together with the map problems, and creates no default table for it', async () => {
    const err = await caught(openSqlDirectory({ engine: schemaEngine(), table: 'absent', columns: { id: 'uid', username: 'login', email: 'mail', nick: 'n' } }));
    expect(err.name).toBe('InvalidEnvironmentError');
    expect(err.variables).toEqual([
      { path: 'APP_USERS_TABLE', message: 'table "absent" does not exist, or the database user cannot see it' },
      { path: 'APP_USERS_COLUMNS', message: expect.stringMatching(/^unknown field "nick"/) },
    ]);
    expect(await tables()).toEqual([]);
  });

  it('names a column the table lacks', async () => {
    await pgx.raw.query(`CREATE TABLE ${schema}.accounts (uid text PRIMARY KEY, login text)`);
    const err = await caught(openSqlDirectory({ engine: schemaEngine(), table: `${schema}.accounts`, columns: { id: 'uid', username: 'login', email: 'mail' } }));
    expect(err.variables).toEqual([{ path: 'APP_USERS_COLUMNS', message: `field "email" maps to column "mail", which table "${schema}.accounts" does not have` }]);
  });

  it('leaves a borrowed engine open, on failure and on close', async () => {
    const engine = schemaEngine();
    const close = jest.spyOn(engine, 'close');
    await caught(openSqlDirectory({ engine, table: 'absent', columns: { id: 'a', username: 'b', email: 'c' } }));
    const dir = await openSqlDirectory({ engine });
    await dir.close();
    expect(close).not.toHaveBeenCalled();
    expect((await engine.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('closes the engine it opened when the table does not do, and when the directory closes', async () => {
    const end = jest.spyOn(pg.Pool.prototype, 'end');
    await caught(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: pgx.db.urlFor(schema) }, table: 'absent', columns: { id: 'a', username: 'b', email: 'c' } }));
    expect(end).toHaveBeenCalledTimes(1);
    const dir = await openSqlDirectory({ engine: { kind: 'pg', databaseUrl: pgx.db.urlFor(schema) } });
    expect(end).toHaveBeenCalledTimes(1);
    await dir.close();
    expect(end).toHaveBeenCalledTimes(2);
    const err = await caught(dir.get('u1'));
    expect(err).toMatchObject({ name: 'TransientError', message: 'Database call failed during read of user u1 on table "idsync_users": Cannot use a pool after calling end on the pool' });
  });

  it('reports an unreachable server as transient without echoing the password', async () => {
    const end = jest.spyOn(pg.Pool.prototype, 'end');
    const err = await caught(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: 'postgres://postgres:s3cret-pw@127.0.0.1:1/app', connectTimeoutInMs: 2000 } }));
    expect(err).toMatchObject({ name: 'TransientError', code: 'ECONNREFUSED', message: 'Could not reach the database for opening the users table on table "idsync_users" (ECONNREFUSED)' });
    expect(end).toHaveBeenCalledTimes(1);
  });

  it('reports a URL pg cannot parse without echoing it', async () => {
    const err = await caught(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: 'postgres://app:s3cret-pw@127.0.0.1:99999/app' }, table: 'accounts', columns: { id: 'a', username: 'b', email: 'c' } }));
    expect(err).toMatchObject({ name: 'TransientError', code: 'ERR_INVALID_URL', message: expect.stringMatching(/^Database call failed during opening the users table on table "accounts": /) });
    expect(err.message).not.toContain('s3cret');
    expect(JSON.stringify(Object.values(err.cause as object))).not.toContain('s3cret');
  });

  it('reports a missing database as a configuration problem', async () => {
    const url = new URL(pgx.db.url);
    url.pathname = `/${pgx.db.name}_missing`;
    url.password = 's3cret-pw';
    const err = await caught(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: url.toString() } }));
    expect(err).toMatchObject({
      name: 'ConfigurationError',
      code: '3D000',
      message: `The database refused opening the users table on table "idsync_users": database "${pgx.db.name}_missing" does not exist (SQLSTATE 3D000); check APP_USERS_TABLE, APP_USERS_COLUMNS and the grants of the database user`,
    });
  });

  it('passes queries and transactions of a borrowed engine through', async () => {
    const engine = schemaEngine();
    const transaction = jest.spyOn(engine, 'transaction');
    const query = jest.spyOn(engine, 'query');
    const dir = await openSqlDirectory({ engine });
    query.mockClear();
    await dir.get('u1');
    await dir.setRoles('u1', ['r']);
    expect(query).toHaveBeenCalledWith(expect.stringMatching(/^SELECT /), ['u1']);
    expect(transaction).toHaveBeenCalled();
  });
});

describe('the pg engine', () => {
  it('answers rows and counts, and a count of 0 for a statement without one', async () => {
    const e = schemaEngine();
    expect(e.kind).toBe('sql');
    await e.query('CREATE TABLE t (a int)');
    expect(await e.query('INSERT INTO t VALUES ($1), ($2), (3)', [1, 2])).toEqual({ rows: [], rowCount: 3 });
    expect(await e.query('SELECT a FROM t ORDER BY a')).toEqual({ rows: [{ a: 1 }, { a: 2 }, { a: 3 }], rowCount: 3 });
    expect(await e.query('UPDATE t SET a = a + 1 WHERE a > $1', [1])).toEqual({ rows: [], rowCount: 2 });
    expect(await e.query('SET search_path = public')).toEqual({ rows: [], rowCount: 0 });
  });

  it('makes its pool with these settings and a listener for the errors of idle connections', () => {
    const made: pg.Pool[] = [];
    const Pool = pg.Pool;
    const spy = jest.spyOn(pg, 'Pool').mockImplementation(function (config?: pg.PoolConfig) {
      const pool = new Pool(config);
      made.push(pool);
      return pool;
    } as never);
    pgx.track(openPgEngine({ databaseUrl: pgx.db.url }));
    pgx.track(openPgEngine({ databaseUrl: pgx.db.url, maxConnections: 3, connectTimeoutInMs: 250, statementTimeoutInMs: 500 }));
    expect(spy.mock.calls).toEqual([
      [{ connectionString: pgx.db.url, max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000, statement_timeout: 30_000, application_name: 'idsync' }],
      [{ connectionString: pgx.db.url, max: 3, connectionTimeoutMillis: 250, idleTimeoutMillis: 30_000, statement_timeout: 500, application_name: 'idsync' }],
    ]);
    // Without it, an idle connection that dies (server restart) would take the process down.
    expect(made.map((p) => p.listenerCount('error'))).toEqual([1, 1]);
  });

  it('identifies itself and limits statements, by default to 30 s', async () => {
    const e = schemaEngine();
    expect((await e.query("SELECT current_setting('application_name') AS a, current_setting('statement_timeout') AS s")).rows).toEqual([{ a: 'idsync', s: '30s' }]);
    const quick = schemaEngine([], { statementTimeoutInMs: 50 });
    expect((await quick.query("SELECT current_setting('statement_timeout') AS s")).rows).toEqual([{ s: '50ms' }]);
    await expect(quick.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });
  });

  it('opens at most 10 connections by default, or as many as asked', async () => {
    const pids = async (e: SqlEngine, n: number) =>
      new Set((await Promise.all(Array.from({ length: n }, () => e.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')))).map((r) => r.rows[0]!.pid)).size;
    expect(await pids(schemaEngine(), 12)).toBe(10);
    expect(await pids(schemaEngine([], { maxConnections: 2 }), 4)).toBe(2);
  });

  it('gives up connecting after the connect timeout', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as { port: number };
    try {
      const e = openPgEngine({ databaseUrl: `postgres://x@127.0.0.1:${port}/x`, connectTimeoutInMs: 100 });
      pgx.track(e);
      await expect(e.query('SELECT 1')).rejects.toThrow(/timeout/i);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });

  it('commits a transaction and returns what it returned', async () => {
    const e = schemaEngine();
    await e.query('CREATE TABLE t (a int)');
    expect(await e.transaction(async (tx) => (await tx.query('INSERT INTO t VALUES (1), (2)')).rowCount)).toBe(2);
    expect((await pgx.raw.query(`SELECT count(*)::int AS n FROM ${schema}.t`)).rows).toEqual([{ n: 2 }]);
  });

  it('rolls back a transaction that throws and passes the error on', async () => {
    const e = schemaEngine([], { maxConnections: 1 });
    await e.query('CREATE TABLE t (a int)');
    const boom = new Error('boom');
    await expect(
      e.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (1)');
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect((await e.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);
    expect((await e.query("SELECT current_setting('transaction_isolation') IS NOT NULL AS ok, now() = statement_timestamp() AS outside")).rows).toEqual([{ ok: true, outside: true }]);
  });

  /** The clients the pool hands out from here on, as pg.Pool's connect() resolves them. */
  function checkedOut(): pg.PoolClient[] {
    const clients: pg.PoolClient[] = [];
    const connect = pg.Pool.prototype.connect as unknown as (this: pg.Pool) => Promise<pg.PoolClient>;
    jest.spyOn(pg.Pool.prototype, 'connect').mockImplementation(function (this: pg.Pool, ...args: unknown[]) {
      // pool.query() connects with a callback; only transaction() uses the promise form.
      if (args.length) return (connect as (...a: unknown[]) => unknown).apply(this, args);
      return connect.call(this).then((client) => {
        clients.push(client);
        return client;
      });
    } as never);
    return clients;
  }

  // pg-pool takes its error listener off a client it hands out: without one of the
  // transaction's own, a connection dying mid-transaction would take the process down.
  it('listens for errors of the connection it holds during a transaction, and only then', async () => {
    const clients = checkedOut();
    const e = schemaEngine();
    await e.transaction(async () => {
      expect(clients).toHaveLength(1);
      expect(clients[0]!.listenerCount('error')).toBeGreaterThan(0);
    });
    // Back in the pool, the pool's own listener is the only one again.
    expect(clients[0]!.listenerCount('error')).toBe(1);
  });

  it('keeps a connection that died inside a transaction out of the pool', async () => {
    const clients = checkedOut();
    const e = schemaEngine([], { maxConnections: 1 });
    const first = await e.transaction((tx) => tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'));
    const err = await caught(
      e.transaction(async (tx) => {
        await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
      }),
    );
    expect(err.code).toBe('57P01');
    const next = await e.transaction((tx) => tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'));
    expect(next.rows[0]!.pid).not.toBe(first.rows[0]!.pid);
    expect(clients).toHaveLength(3);
    expect(clients[2]).not.toBe(clients[0]);
  });

  it('closes once, however often asked, and refuses queries afterwards', async () => {
    const e = openPgEngine({ databaseUrl: pgx.db.url });
    await e.query('SELECT 1');
    const end = jest.spyOn(pg.Pool.prototype, 'end');
    await Promise.all([e.close(), e.close()]);
    await e.close();
    expect(end).toHaveBeenCalledTimes(1);
    await expect(e.query('SELECT 1')).rejects.toThrow('Cannot use a pool after calling end on the pool');
  });
});
