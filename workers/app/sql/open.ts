import { InvalidEnvironmentError, type ValidationIssue } from '../../../shared/errors.js';
import { DEFAULT_TABLE, resolveColumns } from './columns.js';
import { openEngine, type EngineOptions, type SqlEngine } from './engine.js';
import { sqlError } from './errors.js';
import { parseTableName, quoteTable } from './identifiers.js';
import { findTable, tableColumns } from './introspect.js';
import { migrateDefaultTable } from './migrate.js';
import { SqlDirectory } from './sql-directory.js';

export interface OpenSqlDirectoryOptions {
  /**
   * `pg` for APP_DATABASE_URL, `pglite` for the embedded database (dataDir undefined = in
   * memory). An engine that is already open is shared: the directory's close() leaves it open.
   */
  engine: EngineOptions | SqlEngine;
  /** APP_USERS_TABLE, optionally `schema.table`. @defaultValue 'idsync_users' */
  table?: string;
  /** APP_USERS_COLUMNS: idsync field → column. Required for a table other than the default. */
  columns?: Readonly<Record<string, string>> | undefined;
}

/**
 * Opens the application's users table. The default table is created when missing; any
 * table is then checked against the column map, so a wrong map stops start-up with an
 * InvalidEnvironmentError naming APP_USERS_TABLE or APP_USERS_COLUMNS, the field and the
 * column, instead of failing every job later.
 */
export async function openSqlDirectory(options: OpenSqlDirectoryOptions): Promise<SqlDirectory> {
  const tableName = options.table ?? DEFAULT_TABLE;
  const isDefault = tableName === DEFAULT_TABLE;
  if (!isDefault && !options.columns) {
    throw new InvalidEnvironmentError([
      { path: 'APP_USERS_COLUMNS', message: `required when APP_USERS_TABLE is not ${DEFAULT_TABLE}: a JSON object of idsync field → column, e.g. {"id":"uid","username":"login","email":"mail"}` },
    ]);
  }
  const shared = 'query' in options.engine;
  const engine = 'query' in options.engine ? borrowed(options.engine) : await openEngine(options.engine);
  try {
    return await resolveTable(engine, tableName, isDefault, options.columns);
  } catch (err) {
    if (!shared) await engine.close().catch(() => {});
    if ((err as { name?: unknown }).name === 'InvalidEnvironmentError') throw err;
    throw sqlError(err, { what: 'opening the users table', table: tableName });
  }
}

async function resolveTable(engine: SqlEngine, tableName: string, isDefault: boolean, columns: OpenSqlDirectoryOptions['columns']): Promise<SqlDirectory> {
  const name = parseTableName(tableName);
  let found = await findTable(engine, name);
  // Only a missing table is created: an existing one is the application's (or an earlier
  // run's), and a database user without CREATE rights must still be able to use it.
  if (!found && isDefault) {
    await migrateDefaultTable(engine);
    found = await findTable(engine, name);
  }
  const issues: ValidationIssue[] = [];
  if (!found) issues.push({ path: 'APP_USERS_TABLE', message: `table "${tableName}" does not exist, or the database user cannot see it` });
  const present = found ? await tableColumns(engine, found) : undefined;
  const resolved = resolveColumns({ columns, tableColumns: present, table: tableName });
  issues.push(...resolved.issues);
  if (!found || !resolved.map || issues.length) throw new InvalidEnvironmentError(issues);

  const map = resolved.map;
  // The default table's updated_at follows every write unless the map already claims it.
  const claimed = new Set(Object.values(map).map((c) => c.name));
  const touchColumn = isDefault && present?.some((c) => c.name === 'updated_at') && !claimed.has('updated_at') ? 'updated_at' : undefined;
  return new SqlDirectory({ engine, tableName, target: { table: quoteTable(found), map, touchColumn } });
}

/** The caller's engine, whose life the caller manages. */
const borrowed = (engine: SqlEngine): SqlEngine => ({
  kind: engine.kind,
  query: (text, params) => engine.query(text, params),
  transaction: (fn) => engine.transaction(fn),
  close: async () => {},
});
