import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Where the zero-config start keeps its generated ingest token, relative to the working directory. */
export const INGEST_TOKEN_FILE = '.idsync/ingest.token';

/**
 * A token kept in an owner-only file (0600), created once: curl examples and scripts read it
 * with `$(cat …)`, so the token itself never has to appear in a log line.
 */
export function ensureTokenFile(path: string): string {
  try {
    const existing = readFileSync(path, 'utf8').trim();
    if (existing.length >= 24) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return token;
}
