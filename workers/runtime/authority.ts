import type { Authority } from '../../shared/config.js';
import type { AppField, RemoteUser, UserSnapshot } from '../../shared/jobs.js';

/** Profile values an application change sets; absent = leave alone, `null` = clear. */
export interface AppUserValues {
  username?: string;
  email?: string;
  firstName?: string | null;
  lastName?: string | null;
  displayName?: string | null;
  active?: boolean;
  groups?: string[];
  attributes?: Record<string, string | string[]>;
}

/** The fields a push writes; `roles` and `photo` only ever flow from the targets. */
export const PUSHED_FIELDS = ['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'attributes'] as const satisfies readonly AppField[];

/** The pushed fields the target, not the application, is the authority for. */
export function ownedByTarget(authority: Readonly<Record<AppField, Authority>> | undefined): AppField[] {
  return authority ? PUSHED_FIELDS.filter((f) => authority[f] === 'target') : [];
}

/**
 * The profile values of `fields` as the remote user has them. A field the remote did not
 * report (groups not read, no attributes) is left out, never cleared: absence is not deletion.
 */
export function valuesFrom(remote: RemoteUser, fields: readonly AppField[], appUsername?: string): AppUserValues {
  const out: AppUserValues = {};
  const want = new Set(fields);
  if (want.has('username')) out.username = appUsername ?? remote.username;
  // An Entra user without mail still needs an address in the app: its UPN is one.
  if (want.has('email')) {
    const email = remote.email ?? (remote.username.includes('@') ? remote.username : undefined);
    if (email !== undefined) out.email = email;
  }
  if (want.has('firstName')) out.firstName = remote.firstName ?? null;
  if (want.has('lastName')) out.lastName = remote.lastName ?? null;
  if (want.has('displayName')) out.displayName = remote.displayName ?? null;
  if (want.has('active')) out.active = remote.active;
  if (want.has('groups') && remote.groups) out.groups = remote.groups;
  if (want.has('attributes') && remote.attributes) out.attributes = remote.attributes;
  return out;
}

/**
 * The snapshot a push should write when the target owns some of its fields: those take the
 * remote's current values, so a push never overwrites what the target is the authority for,
 * and values derived from several fields (Crowd's display name from first and last name)
 * come out as the target has them.
 */
export function withTargetValues<S extends UserSnapshot>(snapshot: S, remote: RemoteUser, owned: readonly AppField[], appUsername?: string): S {
  if (!owned.length) return snapshot;
  const theirs = valuesFrom(remote, owned, appUsername);
  const out: Record<string, unknown> = { ...snapshot };
  for (const [k, v] of Object.entries(theirs)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out as S;
}
