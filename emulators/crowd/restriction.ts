// Search restrictions (the tree behind both CQL and POST bodies) and their evaluation. A
// restriction is compiled once into a predicate, so a search is one pass over name-ordered
// records with early exit once the page is full.
import { illegalArgument } from './errors.js';
import type { GroupRecord, UserRecord } from './store.js';

export type MatchMode =
  | 'EXACTLY_MATCHES'
  | 'STARTS_WITH'
  | 'ENDS_WITH'
  | 'CONTAINS'
  | 'LESS_THAN'
  | 'LESS_THAN_OR_EQUAL'
  | 'GREATER_THAN'
  | 'GREATER_THAN_OR_EQUAL'
  | 'NULL';

export const MATCH_MODES: readonly MatchMode[] = [
  'EXACTLY_MATCHES', 'STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'LESS_THAN', 'LESS_THAN_OR_EQUAL',
  'GREATER_THAN', 'GREATER_THAN_OR_EQUAL', 'NULL',
];

export type PropertyType = 'STRING' | 'BOOLEAN' | 'DATE';

export type Restriction =
  | { kind: 'null' }
  | { kind: 'boolean'; logic: 'and' | 'or'; restrictions: Restriction[] }
  | { kind: 'property'; property: string; type: PropertyType; mode: MatchMode; value: string | number | boolean | null };

export type EntityType = 'user' | 'group';

type Value = string | number | boolean | null;
/** Reads one property; custom attributes yield every value (any may match). */
type Getter<T> = (record: T) => Value | string[];

const USER_PROPERTIES: Record<string, [PropertyType, Getter<UserRecord>]> = {
  name: ['STRING', (u) => u.name],
  email: ['STRING', (u) => u.email],
  firstName: ['STRING', (u) => u.firstName],
  lastName: ['STRING', (u) => u.lastName],
  displayName: ['STRING', (u) => u.displayName],
  active: ['BOOLEAN', (u) => u.active],
  createdDate: ['DATE', (u) => u.createdDate],
  updatedDate: ['DATE', (u) => u.updatedDate],
};

const GROUP_PROPERTIES: Record<string, [PropertyType, Getter<GroupRecord>]> = {
  name: ['STRING', (g) => g.name],
  description: ['STRING', (g) => g.description],
  active: ['BOOLEAN', (g) => g.active],
  createdDate: ['DATE', (g) => g.createdDate],
  updatedDate: ['DATE', (g) => g.updatedDate],
  // Internal-directory groups are never "local" and carry no external id.
  local: ['BOOLEAN', () => false],
  externalId: ['STRING', () => null],
};

/** The type a property has for an entity type; unknown names are custom attributes (strings). */
export function propertyType(entity: EntityType, property: string): PropertyType {
  const table = entity === 'user' ? USER_PROPERTIES : GROUP_PROPERTIES;
  return Object.hasOwn(table, property) ? (table[property] as [PropertyType, unknown])[0] : 'STRING';
}

function getter<T extends { attributes: Map<string, string[]> }>(
  table: Record<string, [PropertyType, Getter<T>]>,
  property: string,
): Getter<T> {
  if (Object.hasOwn(table, property)) return (table[property] as [PropertyType, Getter<T>])[1];
  return (r) => r.attributes.get(property) ?? [];
}

const cmp = (a: string | number, b: string | number): number => (a < b ? -1 : a > b ? 1 : 0);

function matcher(r: Extract<Restriction, { kind: 'property' }>): (v: Value) => boolean {
  const { mode, type } = r;
  if (mode === 'NULL') return (v) => v === null || v === '';
  if (type === 'BOOLEAN') {
    if (mode !== 'EXACTLY_MATCHES') throw illegalArgument(`Match mode ${mode} is not supported for boolean property ${r.property}`);
    return (v) => v === r.value;
  }
  if (type === 'DATE') {
    const t = r.value as number;
    switch (mode) {
      case 'EXACTLY_MATCHES': return (v) => v === t;
      case 'LESS_THAN': return (v) => typeof v === 'number' && v < t;
      case 'LESS_THAN_OR_EQUAL': return (v) => typeof v === 'number' && v <= t;
      case 'GREATER_THAN': return (v) => typeof v === 'number' && v > t;
      case 'GREATER_THAN_OR_EQUAL': return (v) => typeof v === 'number' && v >= t;
      default: throw illegalArgument(`Match mode ${mode} is not supported for date property ${r.property}`);
    }
  }
  // Strings compare case-insensitively, like Crowd's lower-cased columns.
  const want = String(r.value ?? '').toLowerCase();
  const text = (v: Value): string | null => (v === null ? null : String(v).toLowerCase());
  switch (mode) {
    case 'EXACTLY_MATCHES': return (v) => text(v) === want;
    case 'STARTS_WITH': return (v) => text(v)?.startsWith(want) ?? false;
    case 'ENDS_WITH': return (v) => text(v)?.endsWith(want) ?? false;
    case 'CONTAINS': return (v) => text(v)?.includes(want) ?? false;
    case 'LESS_THAN': return (v) => v !== null && cmp(text(v) as string, want) < 0;
    case 'LESS_THAN_OR_EQUAL': return (v) => v !== null && cmp(text(v) as string, want) <= 0;
    case 'GREATER_THAN': return (v) => v !== null && cmp(text(v) as string, want) > 0;
    case 'GREATER_THAN_OR_EQUAL': return (v) => v !== null && cmp(text(v) as string, want) >= 0;
  }
}

function compileFor<T extends { attributes: Map<string, string[]> }>(
  table: Record<string, [PropertyType, Getter<T>]>,
  r: Restriction,
): (record: T) => boolean {
  switch (r.kind) {
    case 'null':
      return () => true;
    case 'boolean': {
      const parts = r.restrictions.map((x) => compileFor(table, x));
      return r.logic === 'and' ? (rec) => parts.every((p) => p(rec)) : (rec) => parts.some((p) => p(rec));
    }
    case 'property': {
      const natural = Object.hasOwn(table, r.property) ? (table[r.property] as [PropertyType, unknown])[0] : 'STRING';
      if (natural !== r.type) throw illegalArgument(`Property ${r.property} is of type ${natural}, not ${r.type}`);
      const get = getter(table, r.property);
      const test = matcher(r);
      if (Object.hasOwn(table, r.property)) return (rec) => test(get(rec) as Value);
      // Custom attribute: NULL means "no such attribute"; otherwise any value may match.
      if (r.mode === 'NULL') return (rec) => (get(rec) as string[]).length === 0;
      return (rec) => (get(rec) as string[]).some((v) => test(v));
    }
  }
}

export const compileUserRestriction = (r: Restriction): ((u: UserRecord) => boolean) => compileFor(USER_PROPERTIES, r);
export const compileGroupRestriction = (r: Restriction): ((g: GroupRecord) => boolean) => compileFor(GROUP_PROPERTIES, r);
