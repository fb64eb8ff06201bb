// Details of the webhook protocol that the signature vector and the receiver tests leave open:
// defaults of signing, how headers and signature entries are read, the edges of the replay
// window, and what the reply schemas accept, drop and refuse.
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { signRequest, verifyRequest, type VerifyRequestInput } from '../../../workers/app/webhook/signature.js';
import { appUserSchema, applyResultSchema, describeIssue, errorBodySchema, userPageSchema } from '../../../workers/app/webhook/schemas.js';

const SECRET = 'a-long-shared-secret';
const TS = 1_767_225_600;
const DELIVERY = '0b6f9a8e-2f4c-4d61-9a57-3c2e8f1d7b40';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const mac = (canonical: string, secret = SECRET) => createHmac('sha256', secret).update(canonical).digest('hex');
const signed = (over: Partial<Parameters<typeof signRequest>[0]> = {}) =>
  signRequest({ secret: SECRET, method: 'POST', path: '/hook', body: '{}', timestampSeconds: TS, deliveryId: DELIVERY, ...over });
const verify = (over: Partial<VerifyRequestInput> = {}) =>
  verifyRequest({ secret: SECRET, method: 'POST', path: '/hook', body: '{}', headers: signed(), nowMs: TS * 1000, ...over });
const withSignature = (signature: string) => ({ ...signed(), 'X-Idsync-Signature': signature });
const ok = { ok: true, deliveryId: DELIVERY, timestampSeconds: TS };

describe('signRequest', () => {
  it('signs an empty body when there is none', () => {
    const headers = signRequest({ secret: SECRET, method: 'GET', path: '/hook/users?limit=10', timestampSeconds: TS, deliveryId: DELIVERY });
    expect(headers['X-Idsync-Signature']).toBe(`v1=${mac(`${TS}\n${DELIVERY}\nGET\n/hook/users?limit=10\n`)}`);
  });

  it('signs the method in upper case', () => {
    expect(signed({ method: 'post' })).toEqual(signed({ method: 'POST' }));
    expect(signed({ method: 'get' })['X-Idsync-Signature']).toBe(`v1=${mac(`${TS}\n${DELIVERY}\nGET\n/hook\n{}`)}`);
  });

  it('signs a Buffer body like the same string', () => {
    expect(signed({ body: Buffer.from('{"a":"é"}') })).toEqual(signed({ body: '{"a":"é"}' }));
  });

  it('takes a zero timestamp and an empty delivery id as given', () => {
    const headers = signed({ timestampSeconds: 0, deliveryId: '' });
    expect(headers).toEqual({
      'X-Idsync-Timestamp': '0',
      'X-Idsync-Delivery': '',
      'X-Idsync-Signature': `v1=${mac(`0\n\nPOST\n/hook\n{}`)}`,
      'Content-Type': 'application/json',
    });
  });

  it('stamps the current second and a fresh UUID by default', () => {
    const before = Math.floor(Date.now() / 1000);
    const first = signRequest({ secret: SECRET, method: 'POST', path: '/hook', body: '{}' });
    const second = signRequest({ secret: SECRET, method: 'POST', path: '/hook', body: '{}' });
    const after = Math.floor(Date.now() / 1000);
    const ts = Number(first['X-Idsync-Timestamp']);
    expect(first['X-Idsync-Timestamp']).toMatch(/^\d+$/);
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(after);
    expect(first['X-Idsync-Delivery']).toMatch(UUID);
    expect(second['X-Idsync-Delivery']).toMatch(UUID);
    expect(first['X-Idsync-Delivery']).not.toBe(second['X-Idsync-Delivery']);
    expect(first['X-Idsync-Signature']).toBe(`v1=${mac(`${ts}\n${first['X-Idsync-Delivery']}\nPOST\n/hook\n{}`)}`);
    // Verified against the real clock, with no nowMs given.
    expect(verifyRequest({ secret: SECRET, method: 'POST', path: '/hook', body: '{}', headers: first })).toEqual({
      ok: true,
      deliveryId: first['X-Idsync-Delivery'],
      timestampSeconds: ts,
    });
  });
});

describe('verifyRequest', () => {
  it('accepts a lower-case method for an upper-case signature', () => {
    expect(verify({ method: 'post' })).toEqual(ok);
  });

  it('finds its headers among others, in any case', () => {
    const h = signed();
    const headers = {
      host: 'app.example.com',
      'content-type': 'application/json',
      'X-IDSYNC-TIMESTAMP': h['X-Idsync-Timestamp'],
      'x-idsync-delivery': h['X-Idsync-Delivery'],
      'x-Idsync-signature': h['X-Idsync-Signature'],
    };
    expect(verify({ headers })).toEqual(ok);
  });

  it('reads the first of repeated headers', () => {
    const h = signed();
    const headers = {
      'x-idsync-timestamp': [h['X-Idsync-Timestamp'], '1'],
      'x-idsync-delivery': [h['X-Idsync-Delivery'], 'other'],
      'x-idsync-signature': [h['X-Idsync-Signature'], 'v1=00'],
    };
    expect(verify({ headers })).toEqual(ok);
  });

  it('reads the first header of a name when two spellings are given', () => {
    const h = signed();
    const wrong = `v1=${'0'.repeat(64)}`;
    expect(verify({ headers: { ...h, 'x-idsync-signature': wrong } })).toEqual(ok);
    expect(verify({ headers: { 'x-idsync-signature': wrong, ...h } })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it.each<[string, Record<string, string | string[] | undefined>]>([
    ['an empty timestamp', { 'X-Idsync-Timestamp': '' }],
    ['an empty delivery id', { 'X-Idsync-Delivery': '' }],
    ['an empty signature', { 'X-Idsync-Signature': '' }],
    ['a header given as undefined', { 'X-Idsync-Signature': undefined }],
    ['an empty list of values', { 'X-Idsync-Timestamp': [] }],
    ['a timestamp with letters after', { 'X-Idsync-Timestamp': `${TS}abc` }],
    ['a timestamp with letters before', { 'X-Idsync-Timestamp': `t${TS}` }],
    ['a negative timestamp', { 'X-Idsync-Timestamp': `-${TS}` }],
    ['a timestamp with a fraction', { 'X-Idsync-Timestamp': `${TS}.5` }],
    ['a timestamp in exponent form', { 'X-Idsync-Timestamp': '1.7e9' }],
    ['a timestamp with blanks', { 'X-Idsync-Timestamp': ` ${TS}` }],
    ['a timestamp of 13 digits', { 'X-Idsync-Timestamp': '1767225600000' }],
  ])('refuses %s as missing', (_, override) => {
    expect(verify({ headers: { ...signed(), ...override } })).toEqual({ ok: false, reason: 'missing-headers' });
  });

  it('refuses an empty delivery id even when it was signed', () => {
    // A receiver that drops duplicates by delivery id could not tell two such requests apart.
    expect(verify({ headers: signed({ deliveryId: '' }) })).toEqual({ ok: false, reason: 'missing-headers' });
  });

  it('reads timestamps of one to twelve digits', () => {
    expect(verify({ headers: signed({ timestampSeconds: 0 }), nowMs: 0 })).toEqual({ ...ok, timestampSeconds: 0 });
    expect(verify({ headers: signed({ timestampSeconds: 7 }), nowMs: 7000 })).toEqual({ ...ok, timestampSeconds: 7 });
    expect(verify({ headers: signed({ timestampSeconds: 999_999_999_999 }), nowMs: 999_999_999_999_000 })).toEqual({ ...ok, timestampSeconds: 999_999_999_999 });
  });

  it('checks the window before the signature', () => {
    expect(verify({ headers: withSignature('garbage'), nowMs: TS * 1000 + 300_001 })).toEqual({ ok: false, reason: 'stale' });
    expect(verify({ headers: withSignature('garbage'), nowMs: TS * 1000 - 300_001 })).toEqual({ ok: false, reason: 'stale' });
    expect(verify({ headers: withSignature('garbage'), nowMs: TS * 1000 + 300_000 })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('takes a tolerance of its own, to the millisecond', () => {
    expect(verify({ toleranceMs: 1000, nowMs: TS * 1000 + 1000 })).toEqual(ok);
    expect(verify({ toleranceMs: 1000, nowMs: TS * 1000 - 1000 })).toEqual(ok);
    expect(verify({ toleranceMs: 1000, nowMs: TS * 1000 + 1001 })).toEqual({ ok: false, reason: 'stale' });
    expect(verify({ toleranceMs: 1000, nowMs: TS * 1000 - 1001 })).toEqual({ ok: false, reason: 'stale' });
    expect(verify({ toleranceMs: 0, nowMs: TS * 1000 })).toEqual(ok);
    expect(verify({ toleranceMs: 0, nowMs: TS * 1000 + 1 })).toEqual({ ok: false, reason: 'stale' });
  });

  it('reads signature entries in any case and skips the ones it does not know', () => {
    const hex = signed()['X-Idsync-Signature'].slice(3);
    const zeros = '0'.repeat(64);
    expect(verify({ headers: withSignature(`v1=${hex.toUpperCase()}`) })).toEqual(ok);
    expect(verify({ headers: withSignature(`V1=${hex}`) })).toEqual(ok);
    expect(verify({ headers: withSignature(`v2=${zeros},v1=${hex}`) })).toEqual(ok);
    expect(verify({ headers: withSignature(`v1=abc,  v1=${hex}  `) })).toEqual(ok);
    expect(verify({ headers: withSignature(`v1=${hex},v1=${zeros}`) })).toEqual(ok);
  });

  it.each<[string, (hex: string) => string]>([
    ['another version', (hex) => `v2=${hex}`],
    ['a prefix before the entry', (hex) => `xv1=${hex}`],
    ['a suffix after the entry', (hex) => `v1=${hex}x`],
    ['one digit short', (hex) => `v1=${hex.slice(1)}`],
    ['one digit more', (hex) => `v1=${hex}0`],
    ['no prefix', (hex) => hex],
    ['a digit that is not hex', (hex) => `v1=${hex.slice(1)}g`],
    ['a blank inside', (hex) => `v1= ${hex}`],
  ])('refuses %s', (_, entry) => {
    const hex = signed()['X-Idsync-Signature'].slice(3);
    expect(verify({ headers: withSignature(entry(hex)) })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('refuses everything when no secret is listed', () => {
    expect(verify({ secret: [] })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('accepts the matching secret wherever it is in the list', () => {
    expect(verify({ secret: [SECRET, 'the-next-secret'] })).toEqual(ok);
    expect(verify({ secret: ['the-next-secret', SECRET, 'an-old-one'] })).toEqual(ok);
    expect(verify({ secret: ['the-next-secret', 'an-old-one'] })).toEqual({ ok: false, reason: 'bad-signature' });
  });
});

describe('appUserSchema', () => {
  const minimal = { id: '42', username: 'alice', email: 'alice@example.com', active: true };

  it('keeps every field it knows', () => {
    const full = {
      ...minimal,
      firstName: 'Alice',
      lastName: 'Liddell',
      displayName: 'Alice L.',
      groups: ['staff'],
      roles: ['editor', 'admin'],
      attributes: { dept: 'R&D', tags: ['a', 'b'] },
      photoHash: 'ab'.repeat(32),
      version: 17,
    };
    expect(appUserSchema.parse(full)).toStrictEqual(full);
  });

  it('leaves absent and null optional fields out, and drops unknown ones', () => {
    const nulls = { firstName: null, lastName: null, displayName: null, groups: null, roles: null, attributes: null, photoHash: null, version: null };
    const parsed = appUserSchema.parse({ ...minimal, ...nulls, extra: 'x' });
    expect(parsed).toStrictEqual(minimal);
    expect(Object.keys(parsed)).toEqual(['id', 'username', 'email', 'active']);
  });

  it('keeps empty and zero values, which are values', () => {
    const empty = { ...minimal, email: '', firstName: '', lastName: '', displayName: '', groups: [], roles: [], attributes: {}, photoHash: '', version: 0 };
    expect(appUserSchema.parse(empty)).toStrictEqual(empty);
  });

  it('takes a whole number as an id, as a string', () => {
    expect(appUserSchema.parse({ ...minimal, id: 42 })).toStrictEqual(minimal);
    expect(appUserSchema.parse({ ...minimal, id: 0 }).id).toBe('0');
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an empty id', { id: '' }, 'id: Too small: expected string to have >=1 characters'],
    ['a negative id', { id: -1 }, 'id: Too small: expected number to be >=0'],
    ['a fractional id', { id: 1.5 }, 'id: Invalid input'],
    ['a missing id', { id: undefined }, 'id: Invalid input'],
    ['an empty username', { username: '' }, 'username: Too small: expected string to have >=1 characters'],
    ['a missing e-mail', { email: undefined }, 'email: Invalid input: expected string, received undefined'],
    ['a missing active', { active: undefined }, 'active: Invalid input: expected boolean, received undefined'],
    ['a string for active', { active: 'true' }, 'active: Invalid input: expected boolean, received string'],
    ['a group that is not a string', { groups: [1] }, 'groups.0: Invalid input: expected string, received number'],
    ['an attribute list with a number', { attributes: { tags: ['a', 2] } }, 'attributes.tags: Invalid input'],
    ['a negative version', { version: -1 }, 'version: Too small: expected number to be >=0'],
    ['a fractional version', { version: 1.5 }, 'version: Invalid input: expected int, received number'],
  ])('refuses %s, naming where', (_, over, issue) => {
    const result = appUserSchema.safeParse({ ...minimal, ...over });
    expect(result.success).toBe(false);
    expect(describeIssue(result.error!)).toBe(issue);
  });
});

describe('userPageSchema', () => {
  const user = { id: 1, username: 'alice', email: 'a@example.com', active: false };

  it('reads a page with or without a next cursor', () => {
    expect(userPageSchema.parse({ users: [user], nextCursor: 'c2' })).toStrictEqual({ users: [{ ...user, id: '1' }], nextCursor: 'c2' });
    expect(userPageSchema.parse({ users: [], nextCursor: null })).toStrictEqual({ users: [], nextCursor: null });
  });

  it.each<[string, unknown, string]>([
    ['a page without nextCursor', { users: [] }, 'nextCursor: Invalid input: expected string, received undefined'],
    ['an empty nextCursor', { users: [], nextCursor: '' }, 'nextCursor: Too small: expected string to have >=1 characters'],
    ['a page without users', { nextCursor: null }, 'users: Invalid input: expected array, received undefined'],
    ['a bad user deep in the page', { users: [user, { ...user, username: '' }], nextCursor: null }, 'users.1.username: Too small: expected string to have >=1 characters'],
    ['a body that is not an object', null, '(root): Invalid input: expected object, received null'],
  ])('refuses %s', (_, body, issue) => {
    const result = userPageSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect(describeIssue(result.error!)).toBe(issue);
  });
});

describe('applyResultSchema', () => {
  it('reads a result, with a numeric id as a string', () => {
    expect(applyResultSchema.parse({ id: 7, created: true, changed: ['username'] })).toStrictEqual({ id: '7', created: true, changed: ['username'] });
    expect(applyResultSchema.parse({ id: 'u-7', created: false, changed: [] })).toStrictEqual({ id: 'u-7', created: false, changed: [] });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an empty id', { id: '' }, 'id: Too small: expected string to have >=1 characters'],
    ['no created', { created: undefined }, 'created: Invalid input: expected boolean, received undefined'],
    ['created as a string', { created: 'false' }, 'created: Invalid input: expected boolean, received string'],
    ['no changed', { changed: undefined }, 'changed: Invalid input: expected array, received undefined'],
    ['a changed field that is not a string', { changed: [1] }, 'changed.0: Invalid input: expected string, received number'],
  ])('refuses a result with %s', (_, over, issue) => {
    const result = applyResultSchema.safeParse({ id: '7', created: false, changed: [], ...over });
    expect(result.success).toBe(false);
    expect(describeIssue(result.error!)).toBe(issue);
  });
});

describe('errorBodySchema', () => {
  it('reads either field, or neither', () => {
    expect(errorBodySchema.parse({ error: 'e', code: 'C', other: 1 })).toStrictEqual({ error: 'e', code: 'C' });
    expect(errorBodySchema.parse({})).toStrictEqual({});
    expect(errorBodySchema.safeParse({ code: 3 }).success).toBe(false);
  });
});

describe('describeIssue', () => {
  it('says "invalid" when there is no issue to describe', () => {
    expect(describeIssue(new z.ZodError([]))).toBe('invalid');
  });

  it('names the first issue only, never the value', () => {
    const result = z.object({ a: z.string(), b: z.string() }).safeParse({ a: 5, b: 'private@example.com' });
    expect(describeIssue(result.error!)).toBe('a: Invalid input: expected string, received number');
    const secret = z.string().min(100).safeParse('private@example.com');
    expect(describeIssue(secret.error!)).toBe('(root): Too small: expected string to have >=100 characters');
  });
});
