import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach } from '@jest/globals';
import pg from 'pg';
import { openEngine, type SqlEngine } from '../../workers/app/sql/index.js';

/**
 * A database of its own on the test PostgreSQL server, created for one test file and dropped
 * afterwards. Without a reachable server the file fails; it never skips.
 */
export const SERVER_URL = process.env.IDSYNC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  url: string;
  /** The database's URL with a search_path of its own, so unqualified names resolve in `schema`. */
  urlFor(schema: string): string;
  drop(): Promise<void>;
}

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

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `idsync_test_${randomBytes(6).toString('hex')}`;
  await onServer((c) => c.query(`CREATE DATABASE "${name}"`));
  const at = (search?: string) => {
    const url = new URL(SERVER_URL);
    url.pathname = `/${name}`;
    if (search !== undefined) url.searchParams.set('options', `-c search_path=${search}`);
    return url.toString();
  };
  return {
    name,
    url: at(),
    urlFor: (schema) => at(schema),
    drop: async () => {
      await onServer((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

export interface PostgresFixture {
  /** The file's database. */
  readonly db: TestDatabase;
  /** A plain engine on it. */
  readonly raw: SqlEngine;
  /** This test's fresh schema (with `schemaPerTest`). */
  readonly schema: string;
  /** Closes `engine` after this test. */
  track<E extends SqlEngine>(engine: E): E;
}

/**
 * Registers the hooks of a PostgreSQL suite: a database of the file's own with a plain engine on
 * it, dropped after the file; a fresh schema per test unless told otherwise; tracked engines
 * closed after each test. Read the fixture's fields inside tests and hooks, not at load time.
 */
export function usePostgres({ schemaPerTest = true } = {}): PostgresFixture {
  let db: TestDatabase | undefined;
  let raw: SqlEngine | undefined;
  let schema = '';
  let counter = 0;
  let opened: SqlEngine[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    raw = await openEngine({ kind: 'pg', databaseUrl: db.url });
  });
  afterAll(async () => {
    await raw?.close();
    await db?.drop();
  });
  if (schemaPerTest) {
    beforeEach(async () => {
      schema = `s${++counter}`;
      await raw!.query(`CREATE SCHEMA ${schema}`);
    });
  }
  afterEach(async () => {
    const closing = opened;
    opened = [];
    await Promise.all(closing.map((e) => e.close()));
  });
  return {
    get db() {
      return db!;
    },
    get raw() {
      return raw!;
    },
    get schema() {
      return schema;
    },
    track(engine) {
      opened.push(engine);
      return engine;
    },
  };
}
