/** Opaque, URL-safe page and delta tokens: base64url JSON, so links survive any client unmodified. */
export function encodeToken(state: object): string {
  return Buffer.from(JSON.stringify(state)).toString('base64url');
}

export function decodeToken<T extends object>(token: string): T | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}
