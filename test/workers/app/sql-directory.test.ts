import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openEngine, openSqlDirectory, type SqlEngine } from '../../../workers/app/sql/index.js';
import { describeSqlDirectory } from './sql-suite.js';

/**
 * The SQL directory against a real PostgreSQL server: a database of its own, created here
 * and dropped afterwards. Without a reachable server the suite fails; it never skips.
 */
const SERVER_URL = process.env.IDSYNC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const database = `idsync_test_${randomBytes(6).toString('hex')}`;
const databaseUrl = (() => {
  const url = new URL(SERVER_URL);
  url.pathname = `/${database}`;
  return url.toString();
})();

async function onServer<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${SERVER_URL} (${(err as Error).message}); this suite needs a server (set IDSYNC_TEST_POSTGRES_URL to use another one)`);
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let raw: SqlEngine;
let created = false;
beforeAll(async () => {
  await onServer((c) => c.query(`CREATE DATABASE "${database}"`));
  created = true;
  raw = await openEngine({ kind: 'pg', databaseUrl });
});
afterAll(async () => {
  await raw?.close();
  if (created) await onServer((c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
});

describe('SQL directory on PostgreSQL', () => {
  describeSqlDirectory(() => ({ raw, engine: { kind: 'pg', databaseUrl } }));

  it('reports an unreachable server as transient and a missing database as a configuration error', async () => {
    await expect(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres' } })).rejects.toMatchObject({
      name: 'TransientError',
      code: 'ECONNREFUSED',
    });
    const missing = new URL(databaseUrl);
    missing.pathname = `/${database}_missing`;
    await expect(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: missing.toString() } })).rejects.toMatchObject({
      name: 'ConfigurationError',
      code: '3D000',
    });
  });
});
