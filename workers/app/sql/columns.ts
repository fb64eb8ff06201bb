import type { ValidationIssue } from '../../../shared/errors.js';

/**
 * The column map (APP_USERS_COLUMNS): idsync field → column of the users table. The field
 * names are a public interface (README, "The application side"); `id`, `username` and
 * `email` are required, every other field is optional and simply not synced when unmapped.
 */

export const SQL_FIELDS = [
  'id',
  'username',
  'email',
  'firstName',
  'lastName',
  'displayName',
  'active',
  'groups',
  'roles',
  'attributes',
  'photo',
  'photoHash',
  'photoContentType',
  'version',
] as const;
export type SqlField = (typeof SQL_FIELDS)[number];

export const REQUIRED_FIELDS: readonly SqlField[] = ['id', 'username', 'email'];

export const DEFAULT_TABLE = 'idsync_users';

export const DEFAULT_COLUMNS: Readonly<Record<SqlField, string>> = Object.freeze({
  id: 'id',
  username: 'username',
  email: 'email',
  firstName: 'first_name',
  lastName: 'last_name',
  displayName: 'display_name',
  active: 'active',
  groups: 'groups',
  roles: 'roles',
  attributes: 'attributes',
  photo: 'photo',
  photoHash: 'photo_hash',
  photoContentType: 'photo_content_type',
  version: 'version',
});

/** A column as information_schema.columns describes it. */
export interface ColumnInfo {
  name: string;
  dataType: string;
  udtName: string;
  hasDefault: boolean;
  isIdentity: boolean;
  isGenerated: boolean;
}

/** How idsync reads and writes a column; only these shapes are accepted. */
export type ColumnShape = 'text' | 'uuid' | 'integer' | 'bigint' | 'boolean' | 'textArray' | 'json' | 'jsonb' | 'bytea' | 'timestamp' | 'timestamptz';

export interface MappedColumn {
  field: SqlField;
  /** The column's name as the database spells it. */
  name: string;
  shape: ColumnShape;
  /** The type's own name (`text`, `varchar`, `citext`, `int4` …). */
  udtName: string;
}

export function shapeOf(column: ColumnInfo): ColumnShape | undefined {
  const { dataType, udtName } = column;
  if (dataType === 'text' || dataType === 'character varying' || dataType === 'character' || udtName === 'citext') return 'text';
  if (dataType === 'ARRAY') return ['_text', '_varchar', '_bpchar', '_citext'].includes(udtName) ? 'textArray' : undefined;
  const simple: Record<string, ColumnShape> = {
    uuid: 'uuid',
    smallint: 'integer',
    integer: 'integer',
    bigint: 'bigint',
    boolean: 'boolean',
    json: 'json',
    jsonb: 'jsonb',
    bytea: 'bytea',
    'timestamp without time zone': 'timestamp',
    'timestamp with time zone': 'timestamptz',
  };
  return simple[dataType];
}

const TEXT: readonly ColumnShape[] = ['text'];
const ACCEPTED: Record<SqlField, { shapes: readonly ColumnShape[]; expected: string }> = {
  id: { shapes: ['text', 'uuid', 'integer', 'bigint'], expected: 'text, uuid or an integer' },
  username: { shapes: TEXT, expected: 'text' },
  email: { shapes: TEXT, expected: 'text' },
  firstName: { shapes: TEXT, expected: 'text' },
  lastName: { shapes: TEXT, expected: 'text' },
  displayName: { shapes: TEXT, expected: 'text' },
  active: { shapes: ['boolean'], expected: 'boolean' },
  groups: { shapes: ['textArray'], expected: 'an array of text (text[])' },
  roles: { shapes: ['textArray'], expected: 'an array of text (text[])' },
  attributes: { shapes: ['json', 'jsonb'], expected: 'jsonb or json' },
  photo: { shapes: ['bytea'], expected: 'bytea' },
  photoHash: { shapes: TEXT, expected: 'text' },
  photoContentType: { shapes: TEXT, expected: 'text' },
  version: { shapes: ['integer', 'bigint', 'timestamp', 'timestamptz'], expected: 'an integer, a timestamp or a timestamptz' },
};

export interface ColumnMapInput {
  /** The map as configured; undefined = the default map (default table only). */
  columns: Readonly<Record<string, string>> | undefined;
  /** The table's columns; undefined when the table does not exist (only the map itself is checked). */
  tableColumns: readonly ColumnInfo[] | undefined;
  /** The table as configured, for messages. */
  table: string;
}

export type ColumnMap = Partial<Record<SqlField, MappedColumn>> & Record<'id' | 'username' | 'email', MappedColumn>;

/**
 * Checks the map against the table and resolves each field to its column. Every problem is
 * collected so one start-up message lists them all. Issues name the variable, the field and
 * the column, never a stored value.
 */
export function resolveColumns(input: ColumnMapInput): { map: ColumnMap | undefined; issues: ValidationIssue[] } {
  const variable = input.columns ? 'APP_USERS_COLUMNS' : 'APP_USERS_TABLE';
  const wanted: Record<string, string> = input.columns ? { ...input.columns } : { ...DEFAULT_COLUMNS };
  const issues: ValidationIssue[] = [];
  const issue = (message: string) => issues.push({ path: variable, message });
  const known = new Set<string>(SQL_FIELDS);

  for (const key of Object.keys(wanted)) {
    if (!known.has(key)) issue(`unknown field "${key}"; expected fields among ${SQL_FIELDS.join(', ')}`);
  }
  for (const field of REQUIRED_FIELDS) {
    if (wanted[field] === undefined) issue(`field "${field}" is required (id, username and email must be mapped)`);
  }

  if (!input.tableColumns) return { map: undefined, issues };
  const byName = new Map(input.tableColumns.map((c) => [c.name, c]));
  const usedBy = new Map<string, SqlField>();
  const map: Partial<Record<SqlField, MappedColumn>> = {};
  for (const field of SQL_FIELDS) {
    const wantedName = wanted[field];
    if (wantedName === undefined) continue;
    // PostgreSQL folds unquoted names to lower case: `CREATE TABLE t (Login text)` has a column "login".
    const column = byName.get(wantedName) ?? byName.get(wantedName.toLowerCase());
    if (!column) {
      issue(`field "${field}" maps to column "${wantedName}", which table "${input.table}" does not have`);
      continue;
    }
    const shape = shapeOf(column);
    const accepted = ACCEPTED[field];
    if (!shape || !accepted.shapes.includes(shape)) {
      issue(`field "${field}" maps to column "${column.name}" of type ${describeType(column)}; expected ${accepted.expected}`);
      continue;
    }
    if (column.isGenerated) issue(`field "${field}" maps to column "${column.name}", a generated column idsync cannot write`);
    if (field === 'id' && (shape === 'integer' || shape === 'bigint') && !column.hasDefault && !column.isIdentity) {
      issue(`field "id" maps to integer column "${column.name}" without a default or identity; idsync could not create users (use an identity or serial column, or a text/uuid id)`);
    }
    const other = usedBy.get(column.name);
    if (other) issue(`fields "${other}" and "${field}" both map to column "${column.name}"`);
    usedBy.set(column.name, field);
    map[field] = { field, name: column.name, shape, udtName: column.udtName };
  }
  return { map: issues.length ? undefined : (map as ColumnMap), issues };
}

const describeType = (c: ColumnInfo): string => (c.dataType === 'ARRAY' ? `${c.udtName.replace(/^_/, '')}[]` : c.dataType === 'USER-DEFINED' ? c.udtName : c.dataType);
