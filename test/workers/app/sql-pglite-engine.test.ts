// The embedded engine on a real PGlite: one in-memory instance for the file (each start runs
// initdb, which takes seconds) plus one with a data directory, to see that it is created,
// kept across a reopen, and that a relative path means one below the working directory.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { openEngine, type SqlEngine } from '../../../workers/app/sql/index.js';

// initdb on a busy machine can take far longer than the default test timeout.
const BOOT_TIMEOUT_MS = 120_000;

let engine: SqlEngine;
let parent: string;
beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'idsync-pglite-engine-'));
  engine = await openEngine({ kind: 'pglite', dataDir: undefined });
  await engine.query('CREATE TABLE t (a int)');
}, BOOT_TIMEOUT_MS);
afterAll(async () => {
  await engine?.close();
  await rm(parent, { recursive: true, force: true });
});
beforeEach(() => engine.query('DELETE FROM t'));

describe('the PGlite engine', () => {
  it('answers rows and counts, and a count of 0 for a statement without one', async () => {
    expect(engine.kind).toBe('embedded');
    expect(await engine.query('INSERT INTO t VALUES ($1), ($2), (3)', [1, 2])).toEqual({ rows: [], rowCount: 3 });
    expect((await engine.query('SELECT a FROM t ORDER BY a')).rows).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(await engine.query('UPDATE t SET a = a + 1 WHERE a > $1', [1])).toEqual({ rows: [], rowCount: 2 });
    expect(await engine.query('SET statement_timeout = 0')).toEqual({ rows: [], rowCount: 0 });
  });

  // PGlite reports 0 rows affected for a SELECT; engine.ts promises the rows returned.
  it('counts the rows a SELECT returned, or a RETURNING write', async () => {
    await engine.query('INSERT INTO t VALUES (1), (2)');
    expect(await engine.query('SELECT a FROM t')).toMatchObject({ rowCount: 2 });
    expect(await engine.query('SELECT a FROM t WHERE a > 5')).toEqual({ rows: [], rowCount: 0 });
    expect(await engine.query('UPDATE t SET a = a + 10 WHERE a = 1 RETURNING a')).toEqual({ rows: [{ a: 11 }], rowCount: 1 });
  });

  it('commits a transaction and returns what it returned', async () => {
    expect(await engine.transaction(async (tx) => (await tx.query('INSERT INTO t VALUES ($1), (2)', [1])).rowCount)).toBe(2);
    expect((await engine.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 2 }]);
  });

  it('rolls back a transaction that throws and passes the error on', async () => {
    const boom = new Error('boom');
    await expect(
      engine.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (1)');
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect((await engine.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);
  });

  it('creates a relative data directory below the working directory, keeps its data, and closes once', async () => {
    const dataDir = relative(process.cwd(), join(parent, 'nested', 'db'));
    const first = await openEngine({ kind: 'pglite', dataDir });
    expect(first.kind).toBe('embedded');
    expect((await stat(join(parent, 'nested', 'db', 'PG_VERSION'))).isFile()).toBe(true);
    await first.query('CREATE TABLE kept (v text)');
    expect(await first.transaction((tx) => tx.query("INSERT INTO kept VALUES ('still here')"))).toEqual({ rows: [], rowCount: 1 });
    const closing = first.close();
    expect(first.close()).toBe(closing);
    await closing;
    await first.close();
    await expect(first.query('SELECT 1')).rejects.toThrow();

    const second = await openEngine({ kind: 'pglite', dataDir: join(parent, 'nested', 'db') });
    try {
      expect((await second.query('SELECT v FROM kept')).rows).toEqual([{ v: 'still here' }]);
    } finally {
      await second.close();
    }
  }, BOOT_TIMEOUT_MS);
});
