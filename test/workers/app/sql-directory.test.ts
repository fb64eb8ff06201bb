import { openSqlDirectory } from '../../../workers/app/sql/index.js';
import { usePostgres } from '../../helpers/postgres.js';
import { describeSqlDirectory } from './sql-suite.js';

/**
 * The SQL directory against a real PostgreSQL server: a database of its own, created here
 * and dropped afterwards. Without a reachable server the suite fails; it never skips.
 */
const pgx = usePostgres({ schemaPerTest: false });

describe('SQL directory on PostgreSQL', () => {
  describeSqlDirectory(() => ({ raw: pgx.raw, engine: { kind: 'pg', databaseUrl: pgx.db.url } }));

  it('reports an unreachable server as transient and a missing database as a configuration error', async () => {
    await expect(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres' } })).rejects.toMatchObject({
      name: 'TransientError',
      code: 'ECONNREFUSED',
    });
    const missing = new URL(pgx.db.url);
    missing.pathname = `/${pgx.db.name}_missing`;
    await expect(openSqlDirectory({ engine: { kind: 'pg', databaseUrl: missing.toString() } })).rejects.toMatchObject({
      name: 'ConfigurationError',
      code: '3D000',
    });
  });
});
