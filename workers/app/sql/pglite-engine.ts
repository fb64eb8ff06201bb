import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Queryable, QueryResult, SqlEngine } from './engine.js';

export interface PgliteEngineOptions {
  /** Directory that keeps the data across restarts; undefined = in memory only. */
  dataDir: string | undefined;
}

/**
 * PGlite is one connection: its queries run one after another, and a transaction holds
 * it exclusively until it ends, so no locking of our own is needed.
 */
export async function openPgliteEngine(options: PgliteEngineOptions): Promise<SqlEngine> {
  let dataDir: string | undefined;
  if (options.dataDir !== undefined) {
    dataDir = resolve(options.dataDir);
    await mkdir(dataDir, { recursive: true });
  }
  const db = await PGlite.create(dataDir === undefined ? {} : { dataDir });

  const run = async <R>(on: PGlite | Transaction, text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> => {
    const result = await on.query<R>(text, [...params]);
    // PGlite says 0 rows affected for a SELECT: a statement that returns rows counts them.
    return { rows: result.rows, rowCount: result.fields.length ? result.rows.length : (result.affectedRows ?? 0) };
  };

  let closed: Promise<void> | undefined;
  return {
    kind: 'embedded',
    query: (text, params) => run(db, text, params),
    transaction: (fn) =>
      db.transaction((tx) => {
        const q: Queryable = { query: (text, params) => run(tx, text, params) };
        return fn(q);
      }),
    close() {
      closed ??= db.closed ? Promise.resolve() : db.close();
      return closed;
    },
  };
}
