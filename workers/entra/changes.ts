import type { GraphUser } from './entities.js';
import { EXTENSION_ATTRIBUTES, sameValue, type GraphUserBody } from './mapping.js';

/**
 * What a write must carry: for an update, only the managed properties whose Graph value
 * differs (so an unchanged user costs no write, and a PATCH never re-sends what is there);
 * for a create, everything that has a value.
 */

/**
 * The managed properties whose Graph value differs; extension attributes are compared one by
 * one. Create-only defaults (an omitted displayName) are not managed on an update.
 */
export function diff(user: GraphUser, body: GraphUserBody, skip: readonly string[] = []): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [k, want] of Object.entries(body)) {
    if (skip.includes(k)) continue;
    const have = user.values[k];
    if (k === EXTENSION_ATTRIBUTES && want && typeof want === 'object') {
      const current = (have && typeof have === 'object' ? have : {}) as Record<string, unknown>;
      const sub = Object.fromEntries(Object.entries(want as Record<string, unknown>).filter(([ek, ev]) => !sameValue(ek, current[ek], ev)));
      if (Object.keys(sub).length) patch[k] = sub;
    } else if (!sameValue(k, have, want)) patch[k] = want;
  }
  return patch;
}

/** A create body without nulls and empty lists: there is nothing to clear on a new user. */
export function createBody(body: GraphUserBody): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    if (k === EXTENSION_ATTRIBUTES && typeof v === 'object') {
      const set = Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, ev]) => ev !== null && ev !== undefined && ev !== ''));
      if (Object.keys(set).length) out[k] = set;
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** Property names a body writes, extension attributes by their own names. */
export function writtenProperties(body: Record<string, unknown>): string[] {
  return Object.entries(body).flatMap(([k, v]) => (k === EXTENSION_ATTRIBUTES && v && typeof v === 'object' ? Object.keys(v) : [k]));
}

/** Exactly these keys, no others. */
export const keysAre = (o: object, ...keys: string[]): boolean => Object.keys(o).length === keys.length && keys.every((k) => k in o);
