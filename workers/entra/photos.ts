import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RemoteUser } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { CallOptions, GraphClient } from './client.js';
import { PERMISSION } from './permissions.js';

/**
 * Profile photos flow one way, Entra → app (the photo's authority is Entra, design
 * decision 9). A pull reads `GET /users/{id}/photo/$value` and hashes the bytes (SHA-256);
 * the bytes travel to the app (base64 in `RemoteUser.photo.data`) only when the hash differs
 * from the one recorded for that user the last time they were handed over, so an unchanged
 * photo costs one read and no copy. Hashes live in one Redis hash,
 * `<prefix>:photo-hash:entra` (object id → hash), shared by every worker process.
 *
 * The hash is recorded when the pull result is produced: if the apply job that carries the
 * bytes is lost, the photo is only copied again once it changes (or the hash is cleared).
 */
export class PhotoStore {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #logger: Logger;
  #warned = false;

  constructor(redis: Redis, prefix: string, logger: Logger) {
    this.#redis = redis;
    this.#key = `${prefix}:photo-hash:entra`;
    this.#logger = logger;
  }

  /** The user's photo for the app: bytes only when changed; null when there is none; undefined when it may not be read. */
  async read(client: GraphClient, userId: string, options: CallOptions & { subject?: string }): Promise<RemoteUser['photo'] | undefined> {
    const reply = await client.getBytes(`/users/${userId}/photo/$value`, {
      ...options,
      accept: [403, 404],
      permission: PERMISSION.readPhotos,
    });
    if (reply.status === 403) {
      // Photos are optional: a missing ProfilePhoto.Read.All must not quarantine user sync.
      if (!this.#warned) this.#logger.warn({ permission: PERMISSION.readPhotos }, 'Graph refused reading profile photos; photos are not synced until the app holds ProfilePhoto.Read.All');
      this.#warned = true;
      return undefined;
    }
    if (reply.status === 404 || !reply.bytes?.length) {
      // ImageNotFound, ErrorItemNotFound, ErrorEntityNotFound: all mean "no photo" (reference §3.6).
      await this.#redis.hdel(this.#key, userId);
      return null;
    }
    const hash = createHash('sha256').update(reply.bytes).digest('hex');
    const contentType = (reply.headers['content-type'] ?? 'image/jpeg').split(';')[0]!.trim();
    const previous = await this.#redis.hget(this.#key, userId);
    if (previous === hash) return { hash, contentType };
    await this.#redis.hset(this.#key, userId, hash);
    return { hash, contentType, data: reply.bytes.toString('base64') };
  }

  /** Forget the user's hash, so the next pull copies the photo again. */
  async forget(userId: string): Promise<void> {
    await this.#redis.hdel(this.#key, userId);
  }
}
