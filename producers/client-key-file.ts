import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Keyring, parseKey } from '../shared/crypto.js';

/**
 * Where the zero-config `idsync start` keeps its generated password key, relative to the
 * working directory. The client falls back to it only when no key is configured, so
 * `passwordChanged` works against `npm start` from the same checkout.
 */
export const SECRET_KEY_FILE = '.idsync/secret.key';

/** The key in the file, or undefined when there is no such file. */
export function readKeyFile(path = SECRET_KEY_FILE): Keyring | undefined {
  const text = readKeyText(path);
  return text === undefined ? undefined : new Keyring(checked(text, path));
}

/**
 * The key in the file, created once (owner-only, 0600) when absent. Returns the key text for
 * the process's own environment; callers must not log it.
 */
export function ensureKeyFile(path = SECRET_KEY_FILE): string {
  const existing = readKeyText(path);
  if (existing !== undefined) {
    checked(existing, path);
    return existing.trim();
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString('base64');
  try {
    // `wx`: two starts racing on a fresh checkout keep one key, the first one written.
    writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return ensureKeyFile(path);
    throw err;
  }
  return key;
}

function readKeyText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function checked(text: string, path: string): Buffer {
  try {
    return parseKey(text);
  } catch (err) {
    // Names the file, never its content.
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}
