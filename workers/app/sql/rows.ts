import type { AppUser } from '../directory.js';
import type { ColumnMap, ColumnShape, MappedColumn } from './columns.js';
import { quoteIdent } from './identifiers.js';

/**
 * Reading users: one select list for every read, with each column cast so both drivers hand
 * back the same JavaScript types (ids and text as strings, arrays as string[], the version
 * as a number of milliseconds), whatever the column's exact type (varchar, citext, int4 …).
 */

const col = (c: MappedColumn): string => quoteIdent(c.name);

function versionExpression(c: MappedColumn): string {
  // Timestamps become epoch milliseconds; float8 keeps the value a JavaScript number in both drivers.
  return c.shape === 'timestamp' || c.shape === 'timestamptz' ? `floor(extract(epoch from ${col(c)}) * 1000)::float8` : `${col(c)}::float8`;
}

export function selectList(map: ColumnMap): string {
  const out = [`${col(map.id)}::text AS "id"`, `${col(map.username)}::text AS "username"`, `${col(map.email)}::text AS "email"`];
  for (const field of ['firstName', 'lastName', 'displayName'] as const) {
    const c = map[field];
    if (c) out.push(`${col(c)}::text AS "${field}"`);
  }
  if (map.active) out.push(`${col(map.active)} AS "active"`);
  if (map.groups) out.push(`${col(map.groups)}::text[] AS "groups"`);
  if (map.roles) out.push(`${col(map.roles)}::text[] AS "roles"`);
  if (map.attributes) out.push(`${col(map.attributes)} AS "attributes"`);
  // Without a hash column the hash is computed from the bytes, so a listing can still tell
  // a changed photo; mapping photoHash spares the database that work.
  if (map.photoHash) out.push(`${col(map.photoHash)}::text AS "photoHash"`);
  else if (map.photo) out.push(`encode(sha256(${col(map.photo)}), 'hex') AS "photoHash"`);
  if (map.version) out.push(`${versionExpression(map.version)} AS "version"`);
  return out.join(', ');
}

export function toAppUser(row: Record<string, unknown>): AppUser {
  const user: AppUser = {
    id: String(row.id),
    username: typeof row.username === 'string' ? row.username : '',
    email: typeof row.email === 'string' ? row.email : '',
    // An unmapped or NULL active column means the application does not disable users.
    active: row.active !== false,
  };
  for (const field of ['firstName', 'lastName', 'displayName', 'photoHash'] as const) {
    const v = row[field];
    if (typeof v === 'string') user[field] = v;
  }
  if (Array.isArray(row.groups)) user.groups = row.groups as string[];
  if (Array.isArray(row.roles)) user.roles = row.roles as string[];
  if (row.attributes !== null && typeof row.attributes === 'object' && !Array.isArray(row.attributes)) {
    user.attributes = row.attributes as Record<string, string | string[]>;
  }
  if (typeof row.version === 'number') user.version = row.version;
  return user;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const INTEGER = /^-?\d{1,19}$/;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** False for an id the column could never hold: a lookup of it finds nobody, without a type error. */
export function idFits(shape: ColumnShape, id: string): boolean {
  if (shape === 'uuid') return UUID.test(id);
  if (shape === 'integer' || shape === 'bigint') return INTEGER.test(id) && BigInt(id) >= INT8_MIN && BigInt(id) <= INT8_MAX;
  return true;
}

/**
 * The placeholder for an id given as text, typed so a comparison uses the column's own
 * ordering and index. For citext that matters beyond speed: compared as text, `>` would
 * disagree with ORDER BY, and a keyset listing could skip or repeat rows.
 */
export function idPlaceholder(column: MappedColumn, n: number): string {
  if (column.shape === 'uuid') return `$${n}::text::uuid`;
  if (column.shape === 'integer' || column.shape === 'bigint') return `$${n}::text::bigint`;
  if (column.udtName === 'citext') return `$${n}::text::citext`;
  return `$${n}::text`;
}
