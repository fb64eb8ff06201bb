import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * AES-256-GCM envelopes for secrets that must cross Redis (passwords).
 * The key never leaves the process; the envelope names the key by id so a rotated
 * key can still open envelopes written before the rotation. The associated data
 * binds an envelope to its (target, user): a copied envelope does not decrypt
 * for anyone else.
 */

export const encryptedEnvelopeSchema = z.object({
  v: z.literal(1),
  kid: z.string().regex(/^[0-9a-f]{16}$/),
  iv: z.string().min(1),
  tag: z.string().min(1),
  ct: z.string(),
});
export type EncryptedEnvelope = z.infer<typeof encryptedEnvelopeSchema>;

const KEY_BYTES = 32;

/** Parses a 32-byte key written as base64 (44 chars) or hex (64 chars). */
export function parseKey(text: string): Buffer {
  const trimmed = text.trim();
  // Only hex digits reads as hex, so a hex key of the wrong length is reported as hex, not
  // as base64 that decoded to some other number of bytes. (A 32-byte base64 key has 44
  // characters ending in "=", so it is never all hex digits.)
  if (/^[0-9a-fA-F]+$/.test(trimmed)) {
    if (trimmed.length !== KEY_BYTES * 2) {
      throw new Error(`expected ${KEY_BYTES} bytes as hex (${KEY_BYTES * 2} hex digits), got ${trimmed.length} hex digits`);
    }
    return Buffer.from(trimmed, 'hex');
  }
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new Error(`expected ${KEY_BYTES} bytes as base64 (44 characters) or hex (64 hex digits), got ${key.length} bytes`);
  }
  return key;
}

/** A key's public id: the first 8 bytes of its SHA-256, so ids need no configuration. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

export class Keyring {
  readonly #current: Buffer;
  readonly #currentId: string;
  readonly #byId = new Map<string, Buffer>();

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    this.#current = current;
    this.#currentId = keyId(current);
    for (const key of [current, ...previous]) this.#byId.set(keyId(key), key);
  }

  get currentKeyId(): string {
    return this.#currentId;
  }

  encrypt(plaintext: string, associatedData: string): EncryptedEnvelope {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#current, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      v: 1,
      kid: this.#currentId,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ct: ct.toString('base64'),
    };
  }

  /** Throws a message that names the key id, never the plaintext or the key. */
  decrypt(envelope: EncryptedEnvelope, associatedData: string): string {
    const key = this.#byId.get(envelope.kid);
    if (!key) {
      throw new Error(
        `no key with id ${envelope.kid} is configured (set it in IDSYNC_SECRET_KEY or IDSYNC_PREVIOUS_SECRET_KEYS)`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.iv, 'base64'));
      decipher.setAAD(Buffer.from(associatedData, 'utf8'));
      decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
      return Buffer.concat([
        decipher.update(Buffer.from(envelope.ct, 'base64')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new Error(`envelope with key id ${envelope.kid} failed authentication (tampered, or meant for another user)`);
    }
  }
}
