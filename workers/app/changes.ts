import type { AppField, RemoteUser } from '../../shared/jobs.js';
import type { AppPhoto, AppUserValues } from './directory.js';

/** Every field an import takes from the remote user. */
export const IMPORT_FIELDS: readonly AppField[] = ['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'roles', 'attributes', 'photo'];

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
 * The photo to store: bytes only travel when the hash changed since the last copy (the Entra
 * connector leaves `data` out otherwise), so `undefined` here means "leave it alone".
 */
export function photoFrom(remote: RemoteUser): AppPhoto | null | undefined {
  const p = remote.photo;
  if (p === undefined) return undefined;
  if (p === null) return null;
  if (p.data === undefined) return undefined;
  return { hash: p.hash, contentType: p.contentType, data: Buffer.from(p.data, 'base64') };
}
