import { canonicalJson } from '../../../shared/canonical-json.js';
import { PermanentError } from '../../../shared/errors.js';
import type { AppUser, AppUserValues } from '../directory.js';
import type { ColumnMap, MappedColumn } from './columns.js';

/**
 * What a change would actually alter. Comparing first keeps `apply` idempotent in effect,
 * not only in outcome: a re-delivered job finds nothing to do, writes nothing, bumps no
 * version, and reports `changed: []`.
 */

/** The AppUserValues keys, i.e. the fields a change may carry. */
export const VALUE_FIELDS = ['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'attributes'] as const;
export type ValueField = (typeof VALUE_FIELDS)[number];

const NOT_NULL: ReadonlySet<ValueField> = new Set(['username', 'email', 'active']);

export interface Assignment {
  field: ValueField | 'roles' | 'photo' | 'photoHash' | 'photoContentType';
  column: MappedColumn;
  /** Already in the form the placeholder expects (see writes.ts); null clears. */
  value: unknown;
}

/**
 * The change's values for mapped columns. A field the table does not map is dropped: the
 * application does not keep it, so there is nothing to write or compare.
 */
export function mappedValues(values: AppUserValues, map: ColumnMap): Assignment[] {
  const out: Assignment[] = [];
  for (const field of VALUE_FIELDS) {
    if (!Object.prototype.hasOwnProperty.call(values, field)) continue;
    const value = values[field];
    if (value === undefined) continue;
    const column = map[field];
    if (!column) continue;
    if (value === null && NOT_NULL.has(field)) throw new PermanentError(`Field ${field} cannot be cleared (null); it is required`, { code: 'invalid_value' });
    out.push({ field, column, value });
  }
  return out;
}

/** The assignments whose value differs from what `current` holds. */
export function differing(current: AppUser, assignments: readonly Assignment[]): Assignment[] {
  return assignments.filter((a) => !sameValue(current[a.field as keyof AppUser], a.value));
}

export function sameValue(stored: unknown, wanted: unknown): boolean {
  const s = stored ?? null;
  const w = wanted ?? null;
  if (s === null || w === null) return s === w;
  if (Array.isArray(s) && Array.isArray(w)) return sameSet(s as string[], w as string[]);
  if (typeof s === 'object' && typeof w === 'object') return canonicalJson(s) === canonicalJson(w);
  return s === w;
}

// Groups and roles are sets: a different order is the same membership.
function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((v, i) => v === y[i]);
}
