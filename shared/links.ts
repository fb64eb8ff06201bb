import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RemoteUser, Target } from './jobs.js';

/**
 * The link store (design decision 3): app user id ↔ the user's stable id on each
 * target (Crowd `key`, Entra object `id`), plus what idsync last wrote and read.
 * A username is never the link; renames keep it.
 *
 * Layout, all under the prefix so keys share one Cluster hash slot:
 *   <prefix>:link:<target>:<appUserId>   hash  remoteId, remoteName, writtenHash, readHash, version, updatedAt
 *   <prefix>:link-remote:<target>         hash  remoteId → appUserId (reverse index for pulls)
 */

export interface Link {
  appUserId: string;
  target: Target;
  remoteId?: string;
  /** The remote's current name for the user (Crowd username, Entra UPN). */
  remoteName?: string;
  /** Hash of the mapped attributes idsync last wrote. */
  writtenHash?: string;
  /** Hash of the mapped attributes idsync last read. */
  readHash?: string;
  /** Highest snapshot version applied to this target. */
  version?: number;
  updatedAt?: number;
}

export type LinkUpdate = Partial<Omit<Link, 'appUserId' | 'target' | 'updatedAt'>>;

// Sets the fields, keeps `version` monotonic and maintains the reverse index, atomically.
const UPDATE_LINK = `
local key, rev = KEYS[1], KEYS[2]
local appUserId, newVersion = ARGV[1], ARGV[2]
if newVersion ~= '' then
  local cur = redis.call('HGET', key, 'version')
  if (not cur) or tonumber(newVersion) > tonumber(cur) then
    redis.call('HSET', key, 'version', newVersion)
  end
end
for i = 3, #ARGV, 2 do
  if ARGV[i] == 'remoteId' then
    local old = redis.call('HGET', key, 'remoteId')
    if old and old ~= ARGV[i + 1] then redis.call('HDEL', rev, old) end
    redis.call('HSET', rev, ARGV[i + 1], appUserId)
  end
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
return 1
`;

const REMOVE_LINK = `
local remoteId = redis.call('HGET', KEYS[1], 'remoteId')
if remoteId then redis.call('HDEL', KEYS[2], remoteId) end
return redis.call('DEL', KEYS[1])
`;

// Registered once per connection, so each call is an EVALSHA (ioredis resends the body
// after a NOSCRIPT) rather than an EVAL that Redis hashes on every job.
interface LinkCommands {
  idsyncUpdateLink(key: string, rev: string, ...args: string[]): Promise<number>;
  idsyncRemoveLink(key: string, rev: string): Promise<number>;
}

function withLinkCommands(redis: Redis): Redis & LinkCommands {
  const r = redis as Redis & Partial<LinkCommands>;
  if (!r.idsyncUpdateLink) redis.defineCommand('idsyncUpdateLink', { numberOfKeys: 2, lua: UPDATE_LINK });
  if (!r.idsyncRemoveLink) redis.defineCommand('idsyncRemoveLink', { numberOfKeys: 2, lua: REMOVE_LINK });
  return r as Redis & LinkCommands;
}

export class LinkStore {
  readonly #redis: Redis & LinkCommands;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = withLinkCommands(redis);
    this.#prefix = prefix;
  }

  #key(target: Target, appUserId: string) {
    return `${this.#prefix}:link:${target}:${appUserId}`;
  }

  #reverseKey(target: Target) {
    return `${this.#prefix}:link-remote:${target}`;
  }

  async get(target: Target, appUserId: string): Promise<Link | undefined> {
    const h = await this.#redis.hgetall(this.#key(target, appUserId));
    if (!h || Object.keys(h).length === 0) return undefined;
    return {
      appUserId,
      target,
      ...(h.remoteId && { remoteId: h.remoteId }),
      ...(h.remoteName && { remoteName: h.remoteName }),
      ...(h.writtenHash && { writtenHash: h.writtenHash }),
      ...(h.readHash && { readHash: h.readHash }),
      ...(h.version !== undefined && { version: Number(h.version) }),
      ...(h.updatedAt !== undefined && { updatedAt: Number(h.updatedAt) }),
    };
  }

  /** Merges the fields into the link; `version` only ever increases. */
  async update(target: Target, appUserId: string, update: LinkUpdate, now = Date.now()): Promise<void> {
    const args: string[] = [appUserId, update.version === undefined ? '' : String(update.version)];
    for (const field of ['remoteId', 'remoteName', 'writtenHash', 'readHash'] as const) {
      const v = update[field];
      if (v !== undefined) args.push(field, v);
    }
    args.push('updatedAt', String(now));
    await this.#redis.idsyncUpdateLink(this.#key(target, appUserId), this.#reverseKey(target), ...args);
  }

  async remove(target: Target, appUserId: string): Promise<void> {
    await this.#redis.idsyncRemoveLink(this.#key(target, appUserId), this.#reverseKey(target));
  }

  /** The app user linked to a remote id, for pulls. */
  async findByRemoteId(target: Target, remoteId: string): Promise<string | undefined> {
    return (await this.#redis.hget(this.#reverseKey(target), remoteId)) ?? undefined;
  }

  /** Every link of a target, paged with HSCAN over the reverse index. */
  async *listLinks(target: Target): AsyncIterableIterator<Link> {
    let cursor = '0';
    do {
      const [next, flat] = await this.#redis.hscan(this.#reverseKey(target), cursor, 'COUNT', 500);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) {
        const link = await this.get(target, flat[i]!);
        if (link) yield link;
      }
    } while (cursor !== '0');
  }
}

/**
 * The hash of a remote user as read (the link's `readHash`): when an incremental pull sees the
 * same hash again, nothing changed since idsync last applied it (for instance, the pull sees
 * idsync's own write), so it is an echo and nothing is applied. The photo counts by its hash.
 */
export function remoteHash(remote: RemoteUser): string {
  const { photo, target: _t, ...rest } = remote;
  const canonical: unknown[] = Object.keys(rest).sort().map((k) => [k, rest[k as keyof typeof rest]]);
  canonical.push(['photo', photo === undefined ? '-' : photo === null ? null : photo.hash]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url').slice(0, 32);
}
