import { webcrypto, X509Certificate as NodeX509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type * as X509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type X509Lib = typeof X509;

let loaded: Promise<X509Lib> | undefined;

/**
 * @peculiar/x509 needs the Reflect metadata polyfill installed before it is evaluated;
 * loaders that evaluate CommonJS dependencies while linking (jest's VM modules) would run
 * it before a sibling static import, so it is imported lazily, after the polyfill.
 */
function x509Lib(): Promise<X509Lib> {
  loaded ??= import('./reflect-polyfill.js').then(async () => {
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto as unknown as Parameters<X509Lib['cryptoProvider']['set']>[0]);
    return lib;
  });
  return loaded;
}

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const RSA_KEY = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;
const DAY_MS = 86_400_000;

export interface CertificateAuthority {
  caFile: string;
  certificatePem: string;
  key: CryptoKey;
  certificate: X509.X509Certificate;
}

export interface IssuedCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

function keyToPem(x509: X509Lib, der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

async function loadAuthority(dir: string): Promise<CertificateAuthority | undefined> {
  const x509 = await x509Lib();
  const caFile = join(dir, 'ca.pem');
  let certificatePem: string;
  let keyPem: string;
  try {
    [certificatePem, keyPem] = await Promise.all([readFile(caFile, 'utf8'), readFile(join(dir, 'ca-key.pem'), 'utf8')]);
  } catch {
    return undefined;
  }
  try {
    const certificate = new x509.X509Certificate(certificatePem);
    // The key must belong to the certificate; a half-written pair (crash between the two files) is unusable.
    const nodeCert = new NodeX509Certificate(certificatePem);
    if (!nodeCert.checkPrivateKey(createPrivateKey(keyPem))) return undefined;
    if (new Date(nodeCert.validTo).getTime() < Date.now() + DAY_MS) return undefined;
    const der = x509.PemConverter.decodeFirst(keyPem);
    const key = await webcrypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign']);
    return { caFile, certificatePem, key, certificate };
  } catch {
    return undefined;
  }
}

async function generateAuthority(dir: string): Promise<void> {
  const x509 = await x509Lib();
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=idsync Entra emulator local CA, O=idsync',
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 3650 * DAY_MS),
    keys,
    signingAlgorithm: EC_SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = keyToPem(x509, await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  // Key first, certificate last: a reader that sees ca.pem always finds its key beside it.
  await writeAtomically(join(dir, 'ca-key.pem'), keyPem, 0o600);
  await writeAtomically(join(dir, 'ca.pem'), certificate.toString('pem') + '\n', 0o644);
}

async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, file);
}

// Several jest workers (and a CLI) may start at once; only one of them may create the CA,
// because every process trusts whatever ca.pem held when it started.
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lockFile = join(dir, '.ca.lock');
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx');
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lockFile).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 30_000) await unlink(lockFile).catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockFile}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockFile).catch(() => undefined);
  }
}

export async function loadOrCreateAuthority(stateDir: string): Promise<CertificateAuthority> {
  const dir = resolve(stateDir);
  await mkdir(dir, { recursive: true });
  const existing = await loadAuthority(dir);
  if (existing) return existing;
  return withLock(dir, async () => {
    const again = await loadAuthority(dir);
    if (again) return again;
    await generateAuthority(dir);
    const created = await loadAuthority(dir);
    if (!created) throw new Error(`could not create a certificate authority in ${dir}`);
    return created;
  });
}

/** Creates `ca.pem` + `ca-key.pem` in stateDir unless a valid pair is already there. */
export async function ensureCertificateAuthority(stateDir: string): Promise<{ caFile: string }> {
  const { caFile } = await loadOrCreateAuthority(stateDir);
  return { caFile };
}

/** A fresh loopback server certificate, signed by the stable CA, on every start. */
export async function issueServerCertificate(ca: CertificateAuthority): Promise<IssuedCertificate> {
  const x509 = await x509Lib();
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create({
    subject: 'CN=localhost',
    issuer: ca.certificate.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 90 * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: EC_SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
        { type: 'dns', value: 'localhost' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
    ],
  });
  return {
    certificatePem: certificate.toString('pem') + '\n' + ca.certificatePem,
    privateKeyPem: keyToPem(x509, await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  };
}

/**
 * A self-signed RSA client certificate for `ClientCertificateCredential` (PS256 needs RSA).
 * `pem` holds key and certificate together, the form the credential reads.
 */
export async function createClientCertificate(
  commonName = 'idsync-client',
): Promise<IssuedCertificate & { pem: string; thumbprintSha256: string }> {
  const x509 = await x509Lib();
  const keys = await webcrypto.subtle.generateKey(RSA_KEY, true, ['sign', 'verify']);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 365 * DAY_MS),
    keys,
    signingAlgorithm: RSA_KEY,
  });
  const certificatePem = certificate.toString('pem') + '\n';
  const privateKeyPem = keyToPem(x509, await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const thumbprintSha256 = new NodeX509Certificate(certificatePem).fingerprint256.replace(/:/g, '');
  return { certificatePem, privateKeyPem, pem: privateKeyPem + certificatePem, thumbprintSha256 };
}
