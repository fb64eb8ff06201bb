import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  kid: string;
}

/**
 * The key that signs access tokens lives in the state directory, so tokens cached by a
 * running worker stay valid when the emulator restarts (MSAL would otherwise keep sending
 * a token the new process rejects until it nears expiry).
 */
export async function loadOrCreateSigningKey(stateDir: string): Promise<SigningKey> {
  const file = join(stateDir, 'token-signing-key.pem');
  let pem = await readFile(file, 'utf8').catch(() => '');
  if (!pem) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const fresh = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // Write aside, then link into place: link fails if another process won the race (use its
    // key), and nobody can read a half-written file.
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, fresh, { mode: 0o600 });
    pem = await link(tmp, file).then(
      () => fresh,
      () => readFile(file, 'utf8'),
    );
    await unlink(tmp).catch(() => undefined);
  }
  const privateKey = createPrivateKey(pem);
  const publicKey = createPublicKey(privateKey);
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const kid = createHash('sha256').update(der).digest('base64url').slice(0, 27);
  return { privateKey, publicKey, kid };
}
