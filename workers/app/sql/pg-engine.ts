import pg from 'pg';
import type { Queryable, QueryResult, SqlEngine } from './engine.js';

export interface PgEngineOptions {
  databaseUrl: string;
  /** @defaultValue 10 */
  maxConnections?: number;
  /** @defaultValue 10_000 */
  connectTimeoutInMs?: number;
  /** Server-side limit per statement, so a lock wait cannot hold a job forever. @defaultValue 30_000 */
  statementTimeoutInMs?: number;
}

export function openPgEngine(options: PgEngineOptions): SqlEngine {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutInMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutInMs ?? 30_000,
    application_name: 'idsync',
  });
  // An idle connection that dies (server restart, network cut) emits here; without a
  // listener the process would crash. The next query gets a fresh connection or fails
  // with its own, mapped error.
  pool.on('error', () => {});

  const run = async <R>(client: pg.Pool | pg.PoolClient, text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> => {
    const result = await client.query(text, [...params]);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
  };

  let closed: Promise<void> | undefined;
  return {
    kind: 'sql',
    query: (text, params) => run(pool, text, params),
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      // The pool drops its own error listener from a client it hands out: a connection that dies
      // mid-transaction (server restart, pg_terminate_backend) would otherwise crash the process.
      // The failing query reports the error; here it only keeps the connection out of the pool.
      const onError = (err: Error) => {
        broken ??= err;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const tx: Queryable = { query: (text, params) => run(client, text, params) };
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          // The connection itself is gone: keep it out of the pool.
          broken = rollbackErr as Error;
        }
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    close() {
      closed ??= pool.end();
      return closed;
    },
  };
}
