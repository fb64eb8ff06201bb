import type { ColumnInfo } from './columns.js';
import type { Queryable } from './engine.js';
import type { TableName } from './identifiers.js';

/**
 * Finds the configured table and its columns through information_schema, which shows only
 * what the connecting role may use: a table it cannot read counts as missing.
 */
export async function findTable(db: Queryable, table: TableName): Promise<{ schema: string; name: string } | undefined> {
  // PostgreSQL folds unquoted names to lower case, so `Users` in the configuration most
  // likely means a table created as `CREATE TABLE Users`, i.e. "users". The exact spelling wins.
  const candidates = [table, { schema: table.schema?.toLowerCase(), name: table.name.toLowerCase() }];
  for (const candidate of candidates) {
    const { rows } =
      candidate.schema === undefined
        ? await db.query<{ schema: string; name: string }>(
            `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
              WHERE table_name = $1 AND table_schema = ANY (current_schemas(false))
              ORDER BY array_position(current_schemas(false), table_schema::name) LIMIT 1`,
            [candidate.name],
          )
        : await db.query<{ schema: string; name: string }>(
            `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
              WHERE table_schema = $1 AND table_name = $2`,
            [candidate.schema, candidate.name],
          );
    if (rows[0]) return rows[0];
  }
  return undefined;
}

export async function tableColumns(db: Queryable, table: { schema: string; name: string }): Promise<ColumnInfo[]> {
  const { rows } = await db.query<{ name: string; data_type: string; udt_name: string; column_default: string | null; is_identity: string; is_generated: string }>(
    `SELECT column_name AS name, data_type, udt_name, column_default, is_identity, is_generated
       FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
    [table.schema, table.name],
  );
  return rows.map((r) => ({
    name: r.name,
    dataType: r.data_type,
    udtName: r.udt_name,
    hasDefault: r.column_default !== null,
    isIdentity: r.is_identity === 'YES',
    isGenerated: r.is_generated === 'ALWAYS',
  }));
}
