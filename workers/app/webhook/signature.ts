import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { HEADERS, REPLAY_WINDOW_MS } from './protocol.js';

/**
 * Request signing, v1. The MAC covers everything a replay or a tampering proxy could
 * change: when (timestamp), which delivery (so a replayed request cannot pose as a new one
 * to a receiver that drops duplicates), what (method, path with query) and the body:
 *
 *   {timestamp}\n{delivery id}\n{METHOD}\n{path with query}\n{raw body}
 *
 * The path is the request target exactly as sent (`/hook/users?cursor=x&limit=1000`), so a
 * receiver signs what it read off the request line, never a URL it rebuilt.
 */

export interface SignRequestInput {
  secret: string;
  method: string;
  /** Path with query, as it goes on the request line. */
  path: string;
  /** The raw body; empty for GET. */
  body?: string | Buffer;
  /** @defaultValue now */
  timestampSeconds?: number;
  /** @defaultValue a fresh UUID */
  deliveryId?: string;
}

/** The headers that authenticate one request (plus its content type). */
export type SignedHeaders = Record<'X-Idsync-Timestamp' | 'X-Idsync-Signature' | 'X-Idsync-Delivery' | 'Content-Type', string>;

export function signRequest(input: SignRequestInput): SignedHeaders {
  const timestamp = String(input.timestampSeconds ?? Math.floor(Date.now() / 1000));
  const deliveryId = input.deliveryId ?? randomUUID();
  const mac = hmac(input.secret, { timestamp, deliveryId, method: input.method, path: input.path, body: input.body ?? '' });
  return {
    [HEADERS.timestamp]: timestamp,
    [HEADERS.signature]: `v1=${mac.toString('hex')}`,
    [HEADERS.delivery]: deliveryId,
    'Content-Type': 'application/json',
  };
}

export interface VerifyRequestInput {
  /** Several during a rotation: the request passes if it was signed with any of them. */
  secret: string | readonly string[];
  method: string;
  path: string;
  /** The request's headers; names are matched case-insensitively. */
  headers: Record<string, string | readonly string[] | undefined>;
  body: string | Buffer;
  /** @defaultValue Date.now() */
  nowMs?: number;
  /** @defaultValue REPLAY_WINDOW_MS (300 s) */
  toleranceMs?: number;
}

export type VerifyResult =
  | { ok: true; deliveryId: string; timestampSeconds: number }
  | { ok: false; reason: 'missing-headers' | 'stale' | 'bad-signature' };

/** Checks a request's signature and replay window; compares MACs in constant time. */
export function verifyRequest(input: VerifyRequestInput): VerifyResult {
  const timestamp = header(input.headers, HEADERS.timestamp);
  const deliveryId = header(input.headers, HEADERS.delivery);
  const signature = header(input.headers, HEADERS.signature);
  if (!timestamp || !deliveryId || !signature || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'missing-headers' };
  const nowMs = input.nowMs ?? Date.now();
  if (Math.abs(nowMs - Number(timestamp) * 1000) > (input.toleranceMs ?? REPLAY_WINDOW_MS)) return { ok: false, reason: 'stale' };

  const offered = signature
    .split(',')
    .map((part) => /^v1=([0-9a-f]{64})$/i.exec(part.trim())?.[1])
    .filter((hex): hex is string => hex !== undefined)
    .map((hex) => Buffer.from(hex, 'hex'));
  const secrets = typeof input.secret === 'string' ? [input.secret] : input.secret;
  const parts = { timestamp, deliveryId, method: input.method, path: input.path, body: input.body };
  // Every pair is compared (no early exit on the first secret), so timing says nothing about which matched.
  let match = false;
  for (const secret of secrets) {
    const expected = hmac(secret, parts);
    for (const mac of offered) if (timingSafeEqual(mac, expected)) match = true;
  }
  return match ? { ok: true, deliveryId, timestampSeconds: Number(timestamp) } : { ok: false, reason: 'bad-signature' };
}

interface CanonicalParts {
  timestamp: string;
  deliveryId: string;
  method: string;
  path: string;
  body: string | Buffer;
}

function hmac(secret: string, p: CanonicalParts): Buffer {
  return createHmac('sha256', secret)
    .update(`${p.timestamp}\n${p.deliveryId}\n${p.method.toUpperCase()}\n${p.path}\n`)
    .update(p.body)
    .digest();
}

function header(headers: VerifyRequestInput['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    return typeof value === 'string' ? value : value?.[0];
  }
  return undefined;
}
