import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A login session lasts this long; logging in again starts a new one. */
export const SESSION_TTL_S = 12 * 3600;
export const SESSION_COOKIE = 'idsync_session';

export interface Session {
  id: string;
  /** Sent back with every mutation (hidden field or X-CSRF-Token). */
  csrf: string;
}

/**
 * Dashboard login sessions in Redis (`<prefix>:dashboard:session:<sha256 of id>`, a hash with
 * the CSRF token and a one-shot flash message). The key holds a digest of the id, so someone
 * able to list Redis keys still cannot take over a session from the key names.
 */
export class SessionStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  #key(id: string): string {
    return `${this.#prefix}:dashboard:session:${createHash('sha256').update(id).digest('hex')}`;
  }

  async create(): Promise<Session> {
    const session = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url') };
    await this.#redis.multi().hset(this.#key(session.id), { csrf: session.csrf, createdAt: String(Date.now()) }).expire(this.#key(session.id), SESSION_TTL_S).exec();
    return session;
  }

  async get(id: string | undefined): Promise<Session | undefined> {
    // Our ids are 43 characters of base64url; anything else is not worth a Redis round trip.
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const csrf = await this.#redis.hget(this.#key(id), 'csrf');
    return csrf ? { id, csrf } : undefined;
  }

  async destroy(id: string): Promise<void> {
    await this.#redis.del(this.#key(id));
  }

  async setFlash(id: string, text: string): Promise<void> {
    await this.#redis.hset(this.#key(id), 'flash', text);
  }

  /** The message left by the last mutation, once. */
  async takeFlash(id: string): Promise<string | undefined> {
    const [[, flash]] = (await this.#redis.multi().hget(this.#key(id), 'flash').hdel(this.#key(id), 'flash').exec()) as [[Error | null, string | null]];
    return flash ?? undefined;
  }
}

/** Equal-time comparison of two secrets of any length (digests first, so lengths leak nothing). */
export function sameSecret(offered: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(offered), digest(expected));
}
