import fc from 'fast-check';
import { Keyring, keyId, parseKey } from '../../shared/crypto.js';

const k1 = parseKey(Buffer.alloc(32, 1).toString('base64'));
const k2 = parseKey(Buffer.alloc(32, 2).toString('hex'));

describe('crypto envelopes', () => {
  it('round-trips any text and never contains the plaintext', () => {
    const ring = new Keyring(k1);
    fc.assert(
      fc.property(fc.string({ minLength: 4 }), fc.string(), (plain, aad) => {
        const env = ring.encrypt(plain, aad);
        expect(JSON.stringify(env)).not.toContain(plain);
        expect(ring.decrypt(env, aad)).toBe(plain);
      }),
    );
  });

  it('binds an envelope to its associated data', () => {
    const ring = new Keyring(k1);
    const env = ring.encrypt('secret', 'crowd:u1');
    expect(() => ring.decrypt(env, 'crowd:u2')).toThrow(/failed authentication/);
  });

  it('detects tampering', () => {
    const ring = new Keyring(k1);
    const env = ring.encrypt('secret', 'a');
    const ct = Buffer.from(env.ct, 'base64');
    ct[0] = ct[0]! ^ 1;
    expect(() => ring.decrypt({ ...env, ct: ct.toString('base64') }, 'a')).toThrow(/failed authentication/);
  });

  it('decrypts with a previous key during rotation and names unknown key ids', () => {
    const before = new Keyring(k1).encrypt('pw', 'a');
    const rotated = new Keyring(k2, [k1]);
    expect(rotated.currentKeyId).toBe(keyId(k2));
    expect(rotated.decrypt(before, 'a')).toBe('pw');
    expect(() => new Keyring(k2).decrypt(before, 'a')).toThrow(new RegExp(keyId(k1)));
  });

  it('rejects keys of the wrong length', () => {
    expect(() => parseKey('abcd')).toThrow(/32 bytes/);
  });

  it('reports a hex key of the wrong length as hex, not as base64', () => {
    const short = Buffer.alloc(31, 7).toString('hex');
    expect(() => parseKey(short)).toThrow('expected 32 bytes as hex (64 hex digits), got 62 hex digits');
    expect(() => parseKey(`${short}ab12`)).toThrow(/as hex .*got 66 hex digits/);
    expect(() => parseKey(Buffer.alloc(31, 7).toString('base64'))).toThrow(/got 31 bytes/);
    expect(parseKey(Buffer.alloc(32, 7).toString('hex'))).toEqual(Buffer.alloc(32, 7));
  });
});

describe('crypto keys and key ids', () => {
  it('reads keys with surrounding whitespace, as a file or an environment variable holds them', () => {
    expect(parseKey(`  ${Buffer.alloc(32, 7).toString('hex')}\n`)).toEqual(Buffer.alloc(32, 7));
    expect(parseKey(`\t${Buffer.alloc(32, 7).toString('base64')}\n`)).toEqual(Buffer.alloc(32, 7));
  });

  it('reads unpadded base64 whose last character is a hex digit as base64', () => {
    const unpadded = Buffer.alloc(32, 1).toString('base64').replace(/=+$/, '');
    expect(unpadded).toMatch(/[0-9a-fA-F]$/);
    expect(parseKey(unpadded)).toEqual(Buffer.alloc(32, 1));
  });

  it('names an unknown key id as unconfigured, not as a failed authentication', () => {
    const before = new Keyring(k1).encrypt('pw', 'a');
    expect(() => new Keyring(k2).decrypt(before, 'a')).toThrow(
      `no key with id ${keyId(k1)} is configured (set it in IDSYNC_SECRET_KEY or IDSYNC_PREVIOUS_SECRET_KEYS)`,
    );
  });

  it('opens envelopes holding non-ASCII text and associated data', () => {
    const ring = new Keyring(k1);
    const env = ring.encrypt('pässwörd😀', 'crowd:ü1');
    expect(Buffer.from(env.ct, 'base64').length).toBe(Buffer.byteLength('pässwörd😀', 'utf8'));
    expect(ring.decrypt(env, 'crowd:ü1')).toBe('pässwörd😀');
  });
});
