import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { HEADERS, REPLAY_WINDOW_MS } from '../workers/app/webhook/protocol.js';

/**
 * Credentials of the ingest API, either of:
 * - `Authorization: Bearer <IDSYNC_INGEST_TOKEN>`;
 * - a signed request: `X-Idsync-Timestamp: <unix seconds>` and
 *   `X-Idsync-Signature: v1=<hex HMAC-SHA256(IDSYNC_INGEST_SECRET, timestamp + "." + raw body)>`.
 *
 * The header names, the `v1=` scheme (several comma-separated entries allowed, for a secret
 * rotation on the sender's side) and the ±5 minute window are the app webhook's
 * (workers/app/webhook), so an application that already verifies idsync's webhook signs
 * its own requests the same way. The signed string is shorter than the webhook's because
 * the API only needs what the body does not already say: when.
 */

export interface IngestAuthOptions {
  /** IDSYNC_INGEST_TOKEN; undefined = bearer auth off. */
  token?: string;
  /** IDSYNC_INGEST_SECRET; undefined = signed requests off. */
  secret?: string;
  /** @defaultValue 300000 (±5 minutes) */
  toleranceMs?: number;
  /** @defaultValue Date.now */
  now?: () => number;
}

export type Headers = Record<string, string | string[] | undefined>;

export type AuthVerdict =
  | { ok: true; signed: boolean }
  | { ok: false; message: string };

export interface IngestAuth {
  /** False when neither a token nor a secret is configured: every request is refused. */
  readonly enabled: boolean;
  /**
   * Before the body is read: a bearer token is decided here, so an unauthenticated caller
   * cannot make the server read a body; a signed request has only its timestamp checked
   * (`signed: true`), and its signature is checked by `verifySignature` once the body is in.
   */
  check(headers: Headers): AuthVerdict;
  /** The signature over `timestamp + "." + raw body`; compares MACs in constant time. */
  verifySignature(headers: Headers, body: Buffer): AuthVerdict;
}

export function createIngestAuth(options: IngestAuthOptions): IngestAuth {
  const { token, secret } = options;
  const toleranceMs = options.toleranceMs ?? REPLAY_WINDOW_MS;
  const now = options.now ?? Date.now;
  // Digests of equal length, so the comparison takes the same time whatever was sent.
  const tokenDigest = token === undefined ? undefined : sha256(token);

  return {
    enabled: token !== undefined || secret !== undefined,

    check(headers) {
      if (token === undefined && secret === undefined) return { ok: false, message: 'the ingest API is not enabled on this server' };
      // Another scheme (a proxy's Basic credentials, say) is not ours: look for a signature.
      const authorization = header(headers, 'authorization');
      if (authorization !== undefined && /^Bearer\b/i.test(authorization)) {
        const offered = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
        if (!tokenDigest || offered === undefined || !timingSafeEqual(sha256(offered), tokenDigest)) return { ok: false, message: 'invalid bearer token' };
        return { ok: true, signed: false };
      }
      const timestamp = header(headers, HEADERS.timestamp);
      const signature = header(headers, HEADERS.signature);
      if (timestamp === undefined && signature === undefined) return { ok: false, message: 'send Authorization: Bearer <token> or a signed request' };
      if (secret === undefined) return { ok: false, message: 'signed requests are not enabled on this server' };
      if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) {
        return { ok: false, message: `signed requests need ${HEADERS.timestamp} (unix seconds) and ${HEADERS.signature}` };
      }
      if (Math.abs(now() - Number(timestamp) * 1000) > toleranceMs) return { ok: false, message: `${HEADERS.timestamp} is more than ${toleranceMs / 60_000} minutes off` };
      return { ok: true, signed: true };
    },

    verifySignature(headers, body) {
      const timestamp = header(headers, HEADERS.timestamp) ?? '';
      const expected = mac(secret ?? '', timestamp, body);
      const offered = (header(headers, HEADERS.signature) ?? '')
        .split(',')
        .map((part) => /^v1=([0-9a-f]{64})$/i.exec(part.trim())?.[1])
        .filter((hex): hex is string => hex !== undefined);
      // Every entry is compared (no early exit), so timing says nothing about which matched.
      let match = false;
      for (const hex of offered) if (timingSafeEqual(Buffer.from(hex, 'hex'), expected)) match = true;
      return match && secret !== undefined ? { ok: true, signed: true } : { ok: false, message: 'signature does not match' };
    },
  };
}

export interface SignIngestRequestInput {
  secret: string;
  /** The raw body exactly as it will be sent; empty for a request without one. */
  body?: string | Buffer;
  /** @defaultValue now */
  timestampSeconds?: number;
}

/** The two headers that sign an ingest request (for Node callers and tests). */
export function signIngestRequest(input: SignIngestRequestInput): Record<'X-Idsync-Timestamp' | 'X-Idsync-Signature', string> {
  const timestamp = String(input.timestampSeconds ?? Math.floor(Date.now() / 1000));
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : (input.body ?? Buffer.alloc(0));
  return { [HEADERS.timestamp]: timestamp, [HEADERS.signature]: `v1=${mac(input.secret, timestamp, body).toString('hex')}` } as Record<'X-Idsync-Timestamp' | 'X-Idsync-Signature', string>;
}

function mac(secret: string, timestamp: string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return typeof value === 'string' ? value : value?.[0];
}
