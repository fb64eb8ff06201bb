import { createHash, createHmac, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ValidationError } from '../shared/errors.js';

/**
 * `Idempotency-Key` for the ingest API. The first request with a key reserves it atomically
 * (SET NX), so of two concurrent identical requests only one enqueues; once its jobs are
 * accepted the answer is stored for 24 h and every later request with the same key and
 * the same body gets that answer again, enqueueing nothing. The same key with another body
 * is a client bug and answers 409.
 *
 * Redis holds `{prefix}:ingest:idempotency:<sha256(key)>` → `{ bodyHash, status, body }`:
 * the key is hashed so a caller's key (which may embed anything) is not stored, and the
 * body hash is keyed (HMAC with the server's ingest credential) because a password request's
 * body is in it: a plain SHA-256 of a short body could be guessed back from a Redis dump.
 */

export interface IdempotencyOptions {
  redis: Redis;
  prefix: string;
  /** Keys the body hash; every replica must use the same (the ingest credential). */
  hashKey: string;
  /** How long an answer is replayed. @defaultValue 86400 (24 h) */
  ttlSeconds?: number;
  /**
   * How long a reservation whose request never finished (the process died mid-request)
   * blocks the key. @defaultValue 60
   */
  pendingTtlSeconds?: number;
}

export type Reservation =
  | { kind: 'new'; complete(status: number, body: unknown): Promise<void>; release(): Promise<void> }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'conflict' }
  | { kind: 'in-progress' };

interface Stored {
  bodyHash: string;
  status?: number;
  body?: unknown;
  /** Set while the first request runs; identifies its reservation. */
  owner?: string;
}

const MAX_KEY_LENGTH = 255;

/** Reads the header; absent = no idempotency. Printable ASCII only, as the IETF draft has it. */
export function parseIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const key = Array.isArray(value) ? value[0] : value;
  if (Array.isArray(value) && value.length > 1) throw new ValidationError([{ path: 'Idempotency-Key', message: 'send the header once' }], 'headers');
  if (!key || key.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
    throw new ValidationError([{ path: 'Idempotency-Key', message: `must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters without spaces` }], 'headers');
  }
  return key;
}

// Replace or delete the record only while it is still this request's reservation.
const SWAP = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 0`;

export class IdempotencyStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #hashKey: string;
  readonly #ttl: number;
  readonly #pendingTtl: number;

  constructor(options: IdempotencyOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
    this.#hashKey = options.hashKey;
    this.#ttl = options.ttlSeconds ?? 86_400;
    this.#pendingTtl = options.pendingTtlSeconds ?? 60;
  }

  /** What identifies "the same request": method, path and the raw body. */
  bodyHash(method: string, path: string, body: Buffer): string {
    return createHmac('sha256', this.#hashKey).update(`${method.toUpperCase()} ${path}\n`).update(body).digest('hex');
  }

  async reserve(key: string, bodyHash: string): Promise<Reservation> {
    const redisKey = `${this.#prefix}:ingest:idempotency:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
    const pending = JSON.stringify({ bodyHash, owner: randomUUID() } satisfies Stored);
    // Two rounds at most: the record can expire between the failed SET NX and the GET.
    for (let round = 0; round < 2; round++) {
      if (await this.#redis.set(redisKey, pending, 'EX', this.#pendingTtl, 'NX')) {
        return {
          kind: 'new',
          complete: async (status, body) => {
            await this.#redis.eval(SWAP, 1, redisKey, pending, JSON.stringify({ bodyHash, status, body } satisfies Stored), this.#ttl);
          },
          release: async () => {
            await this.#redis.eval(SWAP, 1, redisKey, pending, '', 0);
          },
        };
      }
      const text = await this.#redis.get(redisKey);
      if (text === null) continue;
      const stored = JSON.parse(text) as Stored;
      if (stored.bodyHash !== bodyHash) return { kind: 'conflict' };
      if (stored.status === undefined) return { kind: 'in-progress' };
      return { kind: 'replay', status: stored.status, body: stored.body };
    }
    return { kind: 'in-progress' };
  }
}
