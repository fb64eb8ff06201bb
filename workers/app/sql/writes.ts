import type { Assignment } from './changes.js';
import type { ColumnMap, MappedColumn } from './columns.js';
import { quoteIdent } from './identifiers.js';
import { idPlaceholder } from './rows.js';

/**
 * Statement text for writes. Only identifiers (quoted) and fixed SQL go into the text;
 * every value is a $n parameter. Each placeholder carries a cast so both drivers send the
 * value the same way (a JSON document as text, an array as text[]), and the server then
 * assigns it to the column's own type.
 */

export interface Statement {
  text: string;
  params: unknown[];
}

export interface WriteTarget {
  /** Quoted, schema-qualified table. */
  table: string;
  map: ColumnMap;
  /** A column (the default table's `updated_at`) set to now() on every write. */
  touchColumn: string | undefined;
}

function placeholder(column: MappedColumn, n: number): string {
  switch (column.shape) {
    case 'textArray':
      return `$${n}::text[]`;
    case 'json':
    case 'jsonb':
      return `$${n}::text::${column.shape}`;
    case 'bytea':
      return `$${n}::bytea`;
    case 'boolean':
      return `$${n}::boolean`;
    default:
      return `$${n}::text`;
  }
}

function paramValue(a: Assignment): unknown {
  if (a.value === null) return null;
  return a.column.shape === 'json' || a.column.shape === 'jsonb' ? JSON.stringify(a.value) : a.value;
}

/**
 * The version grows on every write, even when the clock does not (two writes in one
 * millisecond, a clock set back): GREATEST with the old value plus one step.
 */
function nextVersion(column: MappedColumn, params: unknown[], isInsert: boolean): string {
  const c = quoteIdent(column.name);
  switch (column.shape) {
    case 'bigint':
      params.push(Date.now());
      return isInsert ? `$${params.length}::bigint` : `GREATEST($${params.length}::bigint, COALESCE(${c}, 0) + 1)`;
    case 'timestamptz':
      return isInsert ? 'now()' : `GREATEST(now(), ${c} + interval '1 millisecond')`;
    case 'timestamp':
      return isInsert ? 'localtimestamp' : `GREATEST(localtimestamp, ${c} + interval '1 millisecond')`;
    default:
      // int2/int4 cannot hold epoch milliseconds: a plain counter.
      return isInsert ? '1' : `COALESCE(${c}, 0) + 1`;
  }
}

function bookkeeping(target: WriteTarget, params: unknown[], isInsert: boolean): [string, string][] {
  const out: [string, string][] = [];
  if (target.map.version) out.push([quoteIdent(target.map.version.name), nextVersion(target.map.version, params, isInsert)]);
  if (target.touchColumn) out.push([quoteIdent(target.touchColumn), 'now()']);
  return out;
}

export function updateStatement(target: WriteTarget, id: string, assignments: readonly Assignment[]): Statement {
  const params: unknown[] = [id];
  const sets = assignments.map((a) => {
    params.push(paramValue(a));
    return `${quoteIdent(a.column.name)} = ${placeholder(a.column, params.length)}`;
  });
  for (const [c, expression] of bookkeeping(target, params, false)) sets.push(`${c} = ${expression}`);
  const idColumn = target.map.id;
  return {
    text: `UPDATE ${target.table} SET ${sets.join(', ')} WHERE ${quoteIdent(idColumn.name)} = ${idPlaceholder(idColumn, 1)}`,
    params,
  };
}

/** `id` undefined leaves it to the column's default or identity and reads it back. */
export function insertStatement(target: WriteTarget, id: string | undefined, assignments: readonly Assignment[]): Statement {
  const params: unknown[] = [];
  const columns: string[] = [];
  const values: string[] = [];
  const idColumn = target.map.id;
  if (id !== undefined) {
    params.push(id);
    columns.push(quoteIdent(idColumn.name));
    values.push(idPlaceholder(idColumn, 1));
  }
  for (const a of assignments) {
    params.push(paramValue(a));
    columns.push(quoteIdent(a.column.name));
    values.push(placeholder(a.column, params.length));
  }
  for (const [c, expression] of bookkeeping(target, params, true)) {
    columns.push(c);
    values.push(expression);
  }
  return {
    text: `INSERT INTO ${target.table} (${columns.join(', ')}) VALUES (${values.join(', ')}) RETURNING ${quoteIdent(idColumn.name)}::text AS "id"`,
    params,
  };
}
