import { constants, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

export const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export function encodeJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = sign('sha256', Buffer.from(signingInput), key);
  return `${signingInput}.${b64url(signature)}`;
}

export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  try {
    const header: unknown = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    const payload: unknown = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    if (!isObject(header) || !isObject(payload)) return undefined;
    return { header, payload, signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RS256 or PS256 (RFC 7518: PSS with MGF1-SHA256 and a 32-byte salt). */
export function verifyJwt(jwt: DecodedJwt, key: KeyObject | string): boolean {
  const publicKey = typeof key === 'string' ? createPublicKey(key) : key;
  const data = Buffer.from(jwt.signingInput);
  try {
    switch (jwt.header.alg) {
      case 'RS256':
        return verify('sha256', data, publicKey, jwt.signature);
      case 'PS256':
        return verify(
          'sha256',
          data,
          { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
          jwt.signature,
        );
      default:
        return false;
    }
  } catch {
    return false;
  }
}
