/**
 * The least the SQL directory needs from a database: parameterised queries and a
 * transaction. Two engines implement it, a `pg` pool (APP_DATABASE_URL) and an embedded
 * PGlite (the zero-config start), so every statement is written once for both.
 */

export interface QueryResult<R> {
  rows: R[];
  /** Rows the statement touched (or returned, for a SELECT). */
  rowCount: number;
}

export interface Queryable {
  /** `text` holds $1, $2 … placeholders; values only ever travel in `params`. */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface SqlEngine extends Queryable {
  /** `sql` for a PostgreSQL server, `embedded` for PGlite. */
  readonly kind: 'sql' | 'embedded';
  /** Runs `fn` on one connection inside BEGIN … COMMIT; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type EngineOptions =
  | { kind: 'pg'; databaseUrl: string; maxConnections?: number; connectTimeoutInMs?: number; statementTimeoutInMs?: number }
  /** `dataDir` undefined keeps the database in memory. */
  | { kind: 'pglite'; dataDir: string | undefined };

export async function openEngine(options: EngineOptions): Promise<SqlEngine> {
  if (options.kind === 'pg') {
    const { openPgEngine } = await import('./pg-engine.js');
    return openPgEngine(options);
  }
  // Loaded on demand: PGlite brings a WebAssembly build of PostgreSQL that a pg setup never needs.
  const { openPgliteEngine } = await import('./pglite-engine.js');
  return openPgliteEngine(options);
}
