import type { Authority } from '../../shared/config.js';
import type { AppField, RemoteUser } from '../../shared/jobs.js';
import type { AppUser } from '../app/directory.js';
import { valuesFrom } from '../runtime/authority.js';
import { sameValues } from '../runtime/mapping-module.js';

/** One attribute that differs, with both values (never a secret: passwords are not compared). */
export interface AttributeDiff {
  attribute: string;
  app?: unknown;
  target?: unknown;
}

type Expected = Omit<RemoteUser, 'remoteId'>;
type Authorities = Readonly<Record<AppField, Authority>>;

const PROFILE = ['username', 'email', 'firstName', 'lastName', 'displayName', 'active'] as const;

const norm = (v: unknown) => (v === '' || v === null ? undefined : v);
const sameList = (a: readonly string[], b: readonly string[]) => {
  const x = [...new Set(a.map((s) => s.toLowerCase()))].sort();
  const y = [...new Set(b.map((s) => s.toLowerCase()))].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
};
const valueList = (v: unknown): string[] => (Array.isArray(v) ? v : norm(v) === undefined ? [] : [v]).map(String);
// A multi-valued attribute compares by its distinct values (see sameValues).
const sameValue = (a: unknown, b: unknown) => (Array.isArray(a) || Array.isArray(b) ? sameValues(valueList(a), valueList(b)) : norm(a) === norm(b));
const sameAttributes = (a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined) => {
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  return [...keys].every((k) => sameValue(a?.[k], b?.[k]));
};

/**
 * Where the target differs from what pushing the app's snapshot would make of it, for the
 * attributes the application is the authority for. Only what the snapshot sets is compared
 * (an omitted field leaves the remote alone), so the diff agrees with what a push writes: the
 * connectors' `expectedRemote` leaves such a field undefined, and gives a field the snapshot
 * clears as "" (compared as empty) or as the value the target refills it with.
 */
export function diffForTarget(expected: Expected, actual: RemoteUser, authority: Authorities): AttributeDiff[] {
  const out: AttributeDiff[] = [];
  for (const f of PROFILE) {
    if (authority[f] !== 'app' || expected[f] === undefined) continue;
    const same = f === 'username' ? expected.username.toLowerCase() === actual.username.toLowerCase() : sameValue(expected[f], actual[f]);
    if (!same) out.push({ attribute: f, app: expected[f], target: actual[f] });
  }
  if (authority.groups === 'app' && expected.groups && actual.groups && !sameList(expected.groups, actual.groups)) {
    out.push({ attribute: 'groups', app: expected.groups, target: actual.groups });
  }
  if (authority.attributes === 'app' && expected.attributes) {
    for (const [k, v] of Object.entries(expected.attributes)) {
      if (!sameValue(v, actual.attributes?.[k])) out.push({ attribute: `attributes.${k}`, app: v, target: actual.attributes?.[k] });
    }
  }
  return out;
}

/**
 * Where the application differs from the target, for the attributes the target is the
 * authority for. Fields the target did not report (groups not read, no photo read) are not
 * compared: absence is not a value.
 */
export function diffForApp(app: AppUser, actual: RemoteUser, authority: Authorities, appUsername?: string): { fields: AppField[]; diff: AttributeDiff[] } {
  const fields: AppField[] = [];
  const diff: AttributeDiff[] = [];
  const theirs = valuesFrom(actual, Object.keys(authority).filter((f) => authority[f as AppField] === 'target') as AppField[], appUsername);
  const differs = (f: AppField, mine: unknown, other: unknown, same: boolean) => {
    if (same) return;
    fields.push(f);
    diff.push({ attribute: f, app: mine, target: other });
  };
  for (const [f, v] of Object.entries(theirs) as [AppField, unknown][]) {
    const mine = app[f as keyof AppUser];
    if (f === 'groups') differs(f, mine, v, sameList((mine as string[] | undefined) ?? [], v as string[]));
    else if (f === 'attributes') differs(f, mine, v, sameAttributes(mine as Record<string, unknown> | undefined, v as Record<string, unknown> | undefined));
    else if (f === 'username' || f === 'email') differs(f, mine, v, String(mine ?? '').toLowerCase() === String(v ?? '').toLowerCase());
    else differs(f, mine, v, sameValue(mine, v));
  }
  if (authority.roles === 'target' && actual.roles) differs('roles', app.roles, actual.roles, sameList(app.roles ?? [], actual.roles));
  if (authority.photo === 'target' && actual.photo !== undefined) differs('photo', app.photoHash, actual.photo?.hash, (app.photoHash ?? null) === (actual.photo?.hash ?? null));
  return { fields, diff };
}
