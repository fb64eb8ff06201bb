import { userSnapshotSchema, type UserSnapshot } from '../../shared/jobs.js';
import { toIssues } from '../../shared/validation.js';
import type { AppUser } from '../app/directory.js';

/**
 * The push snapshot of an application user, checked by the same schema as the client's
 * events: a row the application stored badly is reported, never pushed half-valid. Without a
 * row version the clock stands in, as it does for the client library.
 */
export function toSnapshot(user: AppUser, now = Date.now()): { ok: true; snapshot: UserSnapshot & { version: number } } | { ok: false; reason: string } {
  const parsed = userSnapshotSchema.safeParse({
    id: user.id,
    username: user.username,
    email: user.email,
    firstName: user.firstName,
    lastName: user.lastName,
    displayName: user.displayName,
    active: user.active,
    ...(user.groups && { groups: user.groups }),
    ...(user.attributes && { attributes: user.attributes }),
    version: user.version ?? now,
  });
  if (!parsed.success) return { ok: false, reason: `invalid application data: ${toIssues(parsed.error).map((i) => `${i.path}: ${i.message}`).join('; ')}` };
  return { ok: true, snapshot: { ...parsed.data, version: parsed.data.version ?? now } };
}
