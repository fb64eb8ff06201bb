import type { AppField, RemoteUser } from '../../shared/jobs.js';
import type { AppPhoto } from './directory.js';

/** Every field an import takes from the remote user. */
export const IMPORT_FIELDS: readonly AppField[] = ['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'roles', 'attributes', 'photo'];

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
