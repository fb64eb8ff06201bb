/**
 * Identifiers come from configuration (APP_USERS_TABLE, APP_USERS_COLUMNS) and are always
 * double-quoted: a name with odd characters, upper case or a reserved word still names
 * exactly one object, and nothing in it can end the identifier early.
 */

export function quoteIdent(name: string): string {
  if (name.includes('\u0000')) throw new Error('an SQL identifier cannot contain a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

export interface TableName {
  /** Undefined = the first schema on the search path that has the table. */
  schema: string | undefined;
  name: string;
}

/** `schema.table` or `table`; the first dot separates the schema (APP_USERS_TABLE allows one). */
export function parseTableName(text: string): TableName {
  const dot = text.indexOf('.');
  return dot < 0 ? { schema: undefined, name: text } : { schema: text.slice(0, dot), name: text.slice(dot + 1) };
}

export const quoteTable = (table: { schema: string; name: string }): string => `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
