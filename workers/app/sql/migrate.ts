import { DEFAULT_TABLE } from './columns.js';
import type { SqlEngine } from './engine.js';
import { quoteIdent } from './identifiers.js';

/** Any constant works; it only has to be the same in every idsync process. */
const MIGRATION_LOCK_KEY = 0x1d5_9c01;

/**
 * Creates the default users table (DEFAULT_COLUMNS maps onto it). Idempotent, and safe when
 * several workers start at once: concurrent `CREATE TABLE IF NOT EXISTS` can still collide
 * in the catalog, so the statements run under a transaction-scoped advisory lock.
 * A table that already exists is left as it is; the column check that follows reports
 * anything it lacks.
 */
export async function migrateDefaultTable(engine: SqlEngine): Promise<void> {
  const table = quoteIdent(DEFAULT_TABLE);
  await engine.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${table} (
      id text PRIMARY KEY,
      username text NOT NULL,
      email text,
      first_name text,
      last_name text,
      display_name text,
      active boolean NOT NULL DEFAULT true,
      groups text[],
      roles text[],
      attributes jsonb,
      photo bytea,
      photo_hash text,
      photo_content_type text,
      version bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    // Usernames are unique case-insensitively, which is also what adoption looks them up by.
    await tx.query(`CREATE UNIQUE INDEX IF NOT EXISTS idsync_users_username_lower_key ON ${table} (lower(username))`);
    await tx.query(`CREATE INDEX IF NOT EXISTS idsync_users_email_lower_idx ON ${table} (lower(email))`);
  });
}
