import { openEngine, openSqlDirectory, type SqlEngine } from '../../../workers/app/sql/index.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js';
import { describeSqlDirectory } from './sql-suite.js';

/**
 * The SQL directory against a real PostgreSQL server: a database of its own, created here
 * and dropped afterwards. Without a reachable server the suite fails; it never skips.
 */
let db: TestDatabase;
let raw: SqlEngine;
beforeAll(async () => {
  db = await createTestDatabase();
  raw = await openEngine({ kind: 'pg', databaseUrl: db.url });
});
afterAll(async () => {
  await raw?.close();
  await db?.drop();
});

describe('SQL directory on PostgreSQL', () => {
  describeSqlDirectory(() => ({ raw, engine: { kind: 'pg', databaseUrl: db.url } }));

  it('reports an unreachable server as transient and a missing database as a configuration error', async () => {
    await expect(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres' } })).rejects.toMatchObject({
      name: 'TransientError',
      code: 'ECONNREFUSED',
    });
    const missing = new URL(db.url);
    missing.pathname = `/${db.name}_missing`;
    await expect(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: missing.toString() } })).rejects.toMatchObject({
      name: 'ConfigurationError',
      code: '3D000',
    });
  });
});
