// Crowd stores PKCS5S2 (PBKDF2, 10k rounds) hashes. That costs milliseconds per call and
// would cap the emulator far below the benchmark's 2,000 users/s, so a salted SHA-256 stands
// in: the point is only that clear-text passwords are never kept or returned.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// Salts only need to be unique; a random prefix plus a counter avoids an entropy call per hash.
const saltPrefix = randomBytes(6).toString('base64');
let saltCounter = 0;

export function hashPassword(password: string): string {
  const salt = `${saltPrefix}${(saltCounter++).toString(36)}`;
  return `${salt}$${digest(salt, password)}`;
}

export function verifyPassword(stored: string | null, password: string): boolean {
  if (stored === null) return false;
  const cut = stored.indexOf('$');
  if (cut < 0) return false; // an imported `encrypted-password` in a foreign format
  const expected = Buffer.from(stored.slice(cut + 1), 'base64');
  const actual = Buffer.from(digest(stored.slice(0, cut), password), 'base64');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function digest(salt: string, password: string): string {
  return createHash('sha256').update(salt).update('\0').update(password).digest('base64');
}
