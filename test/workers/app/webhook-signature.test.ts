// The v1 signature: the documented canonical string (pinned by the docs' test vector),
// the replay window, rotation, and agreement with the example receiver's own verifier.
import { createHmac } from 'node:crypto';
import { signRequest, verifyRequest } from '../../../workers/app/webhook/index.js';
import { verifyRequest as exampleVerify } from '../../../examples/webhook-receiver/server.mjs';

// The test vector of docs/app-webhook.md.
const vector = {
  secret: 'change-me-to-a-long-random-secret',
  timestampSeconds: 1767225600,
  deliveryId: '0b6f9a8e-2f4c-4d61-9a57-3c2e8f1d7b40',
  method: 'POST',
  path: '/idsync',
  body: '{"type":"user.roles","id":"42","roles":["editor"]}',
};
const VECTOR_SIGNATURE = 'v1=f7b42dfe87d37ed8f526e46ebfce358b0cffaea6e9a4db9b1dd259a18695a1ee';
const nowMs = vector.timestampSeconds * 1000;

type Headers = Record<string, string | undefined>;
const lower = (headers: Headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
// The example reads Node's request headers, whose names arrive lower-cased.
const receiverVerify = (input: Parameters<typeof exampleVerify>[0] & { headers: Headers }) => exampleVerify({ ...input, headers: lower(input.headers) });

describe('webhook signature', () => {
  it('signs the documented canonical string', () => {
    const headers = signRequest(vector);
    const canonical = `${vector.timestampSeconds}\n${vector.deliveryId}\nPOST\n/idsync\n${vector.body}`;
    expect(headers).toEqual({
      'X-Idsync-Timestamp': '1767225600',
      'X-Idsync-Delivery': vector.deliveryId,
      'X-Idsync-Signature': `v1=${createHmac('sha256', vector.secret).update(canonical).digest('hex')}`,
      'Content-Type': 'application/json',
    });
    expect(headers['X-Idsync-Signature']).toBe(VECTOR_SIGNATURE);
  });

  it('verifies with either implementation, headers in any case', () => {
    const headers = signRequest(vector);
    const input = { secret: vector.secret, method: 'POST', path: vector.path, body: vector.body, nowMs };
    expect(verifyRequest({ ...input, headers })).toEqual({ ok: true, deliveryId: vector.deliveryId, timestampSeconds: vector.timestampSeconds });
    expect(receiverVerify({ ...input, headers })).toEqual({ ok: true, deliveryId: vector.deliveryId });
    expect(verifyRequest({ ...input, headers: lower(headers), body: Buffer.from(vector.body) })).toMatchObject({ ok: true });
  });

  it('refuses any change to what was signed', () => {
    const headers = signRequest(vector);
    const input = { secret: vector.secret, method: 'POST', path: vector.path, body: vector.body, headers, nowMs };
    const tampered = [
      { ...input, body: vector.body.replace('editor', 'admin') },
      { ...input, path: '/idsync?x=1' },
      { ...input, method: 'PUT' },
      { ...input, secret: 'another-secret-entirely' },
      { ...input, headers: { ...headers, 'X-Idsync-Delivery': '11111111-2f4c-4d61-9a57-3c2e8f1d7b40' } },
      { ...input, headers: { ...headers, 'X-Idsync-Timestamp': String(vector.timestampSeconds + 1) } },
    ];
    for (const t of tampered) {
      expect(verifyRequest(t)).toEqual({ ok: false, reason: 'bad-signature' });
      expect(receiverVerify(t)).toEqual({ ok: false, reason: 'bad-signature' });
    }
    for (const missing of ['X-Idsync-Signature', 'X-Idsync-Timestamp', 'X-Idsync-Delivery'] as const) {
      const { [missing]: _gone, ...rest } = headers;
      expect(verifyRequest({ ...input, headers: rest })).toEqual({ ok: false, reason: 'missing-headers' });
      expect(receiverVerify({ ...input, headers: rest })).toEqual({ ok: false, reason: 'missing-headers' });
    }
  });

  it('holds the replay window at ±300 s', () => {
    const headers = signRequest(vector);
    const at = (offsetMs: number) => ({ secret: vector.secret, method: 'POST', path: vector.path, body: vector.body, headers, nowMs: nowMs + offsetMs });
    for (const offset of [-300_000, 0, 300_000]) expect(verifyRequest(at(offset)).ok).toBe(true);
    for (const offset of [-301_000, 301_000]) {
      expect(verifyRequest(at(offset))).toEqual({ ok: false, reason: 'stale' });
      expect(receiverVerify(at(offset))).toEqual({ ok: false, reason: 'stale' });
    }
  });

  it('accepts any listed secret and any matching v1 entry (rotation)', () => {
    const headers = signRequest(vector);
    const input = { method: 'POST', path: vector.path, body: vector.body, nowMs };
    expect(verifyRequest({ ...input, headers, secret: ['the-new-secret-xxxxxx', vector.secret] }).ok).toBe(true);
    const two = { ...headers, 'X-Idsync-Signature': `v1=${'0'.repeat(64)}, ${headers['X-Idsync-Signature']}` };
    expect(verifyRequest({ ...input, headers: two, secret: vector.secret }).ok).toBe(true);
    expect(receiverVerify({ ...input, headers: two, secret: vector.secret }).ok).toBe(true);
    expect(verifyRequest({ ...input, headers: { ...headers, 'X-Idsync-Signature': 'v1=abc' }, secret: vector.secret })).toEqual({ ok: false, reason: 'bad-signature' });
  });
});
