// Server-side write semantics of Crowd's internal directory (reference §4.3, S2 UserUtils,
// InternalEntityUtils): derived names, 255-character truncation, name validation.
import { CrowdError, illegalArgument } from './errors.js';
import type { AttributeInput } from './input.js';

export const MAX_FIELD = 255;

const isBlank = (s: string | null | undefined): boolean => s === null || s === undefined || s.trim() === '';

/** StringUtils.abbreviate(value, 255): over-long values silently end in "...". */
export function truncate(value: string | null): string | null {
  if (value === null || value.length <= MAX_FIELD) return value;
  return `${value.slice(0, MAX_FIELD - 3)}...`;
}

export function checkUserName(name: string | null): string {
  if (name === null || name === '') throw illegalArgument('User name must be given');
  if (name.trim() !== name) throw new CrowdError('INVALID_USER', 'User name may not contain leading or trailing whitespace');
  if (name.length > MAX_FIELD) throw illegalArgument(`User name cannot be longer than ${MAX_FIELD} characters`);
  return name;
}

export function checkGroupName(name: string | null): string {
  if (name === null || name === '') throw illegalArgument('Group name must be given');
  if (name.trim() !== name) throw new CrowdError('INVALID_GROUP', 'Group name may not contain leading or trailing whitespace');
  if (name.length > MAX_FIELD) throw illegalArgument(`Group name cannot be longer than ${MAX_FIELD} characters`);
  return name;
}

// StringUtils.split(full, " ", 2) then trim: first token, and the rest after the separator run.
function splitName(full: string): [string, string] {
  const s = full.replace(/^ +/, '');
  if (s === '') return ['', ''];
  const cut = s.indexOf(' ');
  if (cut < 0) return ['', s.trim()];
  const rest = s.slice(cut).replace(/^ +/, '');
  return rest === '' ? ['', s.slice(0, cut).trim()] : [s.slice(0, cut).trim(), rest.trim()];
}

export interface Names {
  firstName: string;
  lastName: string;
  displayName: string;
}

/** UserUtils.populateNames: what Crowd stores for first/last/display given what was sent. */
export function populateNames(
  username: string,
  firstName: string | null,
  lastName: string | null,
  displayName: string | null,
): Names {
  let display: string;
  if (!isBlank(displayName)) display = displayName as string;
  else if (!isBlank(firstName) && !isBlank(lastName)) display = `${firstName} ${lastName}`;
  else if (!isBlank(firstName)) display = firstName as string;
  else if (!isBlank(lastName)) display = lastName as string;
  else display = username;

  if (!isBlank(displayName) || isBlank(lastName)) {
    const [splitFirst, splitLast] = splitName(display);
    const first = !isBlank(firstName) ? (firstName as string) : splitFirst;
    const last = !isBlank(lastName) ? (lastName as string) : !isBlank(splitLast) ? splitLast : display;
    return { firstName: first, lastName: last, displayName: display };
  }
  return { firstName: firstName ?? '', lastName: lastName as string, displayName: display };
}

/**
 * Attribute names must be non-blank; values are truncated like every other directory field.
 * Crowd keeps one attribute's values as a set (its `Attributes.getValues` is a `Set<String>`,
 * duplicates refused ignoring case) and promises no order: they are kept here without
 * duplicates and sorted, so a client that relies on the order it wrote is caught.
 */
export function storeAttributes(target: Map<string, string[]>, attrs: AttributeInput[]): void {
  for (const [name, values] of attrs) {
    if (isBlank(name)) throw illegalArgument('Attribute name must be given');
    const distinct = new Map<string, string>();
    for (const v of values.map((x) => truncate(x) as string)) if (!distinct.has(v.toLowerCase())) distinct.set(v.toLowerCase(), v);
    target.set(name, [...distinct.values()].sort());
  }
}
