import { randomUUID } from 'node:crypto';
import type { AppApplyResult, AppChange, AppPhoto, AppUser, UserDirectory } from '../../workers/app/directory.js';

/**
 * An application directory in memory, for sync tests that are about pairing, guards and
 * convergence rather than storage (the SQL and webhook adapters have suites of their own).
 * `failListingAfter` cuts a listing short with an error, as a dying database would.
 */
export class MemoryDirectory implements UserDirectory {
  readonly kind = 'memory';
  readonly users = new Map<string, AppUser>();
  readonly photos = new Map<string, AppPhoto>();
  writes = 0;
  failListingAfter: number | undefined;

  constructor(users: AppUser[] = []) {
    for (const u of users) this.users.set(u.id, { ...u });
  }

  async *list(options: { pageSize?: number } = {}): AsyncIterableIterator<AppUser[]> {
    const all = [...this.users.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const size = options.pageSize ?? 1000;
    const cut = this.failListingAfter ?? Infinity;
    for (let i = 0; i < all.length; i += size) {
      yield all.slice(i, Math.min(i + size, cut)).map((u) => structuredClone(u));
      if (i + size >= cut && cut < all.length) throw new Error('connection to the application database lost');
    }
  }

  async get(id: string): Promise<AppUser | null> {
    const u = this.users.get(id);
    return u ? structuredClone(u) : null;
  }

  async apply(change: AppChange): Promise<AppApplyResult> {
    let id = change.id;
    let created = false;
    if (!id) {
      const lower = (v?: string) => v?.toLowerCase();
      const found = [...this.users.values()].find((u) => lower(u.username) === lower(change.values.username))
        ?? [...this.users.values()].find((u) => lower(u.email) === lower(change.values.email));
      id = found?.id;
    }
    if (!id) {
      id = randomUUID();
      created = true;
      this.users.set(id, { id, username: change.values.username ?? id, email: change.values.email ?? '', active: true });
    }
    const user = this.users.get(id);
    if (!user) throw new Error(`no application user ${id}`);
    const changed: string[] = [];
    for (const [k, v] of Object.entries(change.values)) {
      const cur = (user as unknown as Record<string, unknown>)[k];
      const next = v === null ? undefined : v;
      if (JSON.stringify(cur) === JSON.stringify(next)) continue;
      if (next === undefined) delete (user as unknown as Record<string, unknown>)[k];
      else (user as unknown as Record<string, unknown>)[k] = next;
      changed.push(k);
    }
    if (changed.length || created) {
      this.writes++;
      user.version = Math.max(Date.now(), (user.version ?? 0) + 1);
    }
    return { id, created, changed };
  }

  async setRoles(id: string, roles: readonly string[]): Promise<boolean> {
    const u = this.users.get(id);
    if (!u) return false;
    u.roles = [...roles];
    return true;
  }

  async setPhoto(id: string, photo: AppPhoto | null): Promise<boolean> {
    const u = this.users.get(id);
    if (!u) return false;
    if (photo) {
      this.photos.set(id, photo);
      u.photoHash = photo.hash;
    } else {
      this.photos.delete(id);
      delete u.photoHash;
    }
    return true;
  }

  async close(): Promise<void> {}
}
