import { signIngestRequest } from '../../server/auth.js';
import { dumpPrefix } from '../helpers/redis.js';
import { SECRET, TOKEN, alice, startTestServer, type TestServer } from './support.js';

/** Credentials (bearer or HMAC signature) and the transport limits: 401, 413, 415. */
describe('ingest API: credentials and limits', () => {
  let t: TestServer;
  beforeEach(async () => { t = await startTestServer(); });
  afterEach(() => t.close());

  const expectRefused = (res: { status: number; headers: Headers; json: Record<string, unknown> }) => {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.json.error).toBe('unauthorized');
  };

  it('refuses a request without credentials or with a wrong bearer token, and accepts the right one', async () => {
    expectRefused(await t.request('PUT', '/api/v1/users/42', { body: alice, auth: 'none' }));
    expectRefused(await t.request('PUT', '/api/v1/users/42', { body: alice, auth: 'none', headers: { authorization: `Bearer ${TOKEN}x` } }));
    expectRefused(await t.request('PUT', '/api/v1/users/42', { body: alice, auth: 'none', headers: { authorization: `Basic ${TOKEN}` } }));
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
    expect((await t.request('PUT', '/api/v1/users/42', { body: alice })).status).toBe(202);
    expect(t.logs.join('')).not.toContain(TOKEN);
  });

  it('accepts a signed request, with or without a body', async () => {
    expect((await t.request('PUT', '/api/v1/users/42', { body: alice, auth: 'signed' })).status).toBe(202);
    expect((await t.request('POST', '/api/v1/users/42/pull', { auth: 'signed' })).status).toBe(202);
    expect(await t.jobs('crowd')).toHaveLength(2);
  });

  it('refuses a bad signature, a tampered body and a stale or future timestamp, enqueueing nothing', async () => {
    const body = JSON.stringify(alice);
    // A minute clear of the 5-minute edge either way, so a slow machine cannot tip a case over.
    const now = Math.floor(Date.now() / 1000);
    const attempts = [
      signIngestRequest({ secret: `${SECRET}-other`, body }),
      signIngestRequest({ secret: SECRET, body: JSON.stringify({ ...alice, username: 'mallory' }) }),
      signIngestRequest({ secret: SECRET, body, timestampSeconds: now - 360 }),
      signIngestRequest({ secret: SECRET, body, timestampSeconds: now + 360 }),
      { 'X-Idsync-Signature': signIngestRequest({ secret: SECRET, body })['X-Idsync-Signature'] },
      { ...signIngestRequest({ secret: SECRET, body }), 'X-Idsync-Signature': 'v1=zz' },
    ];
    for (const headers of attempts) expectRefused(await t.request('PUT', '/api/v1/users/42', { body, auth: 'none', headers }));
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
    // Within the window either way is fine.
    const ok = signIngestRequest({ secret: SECRET, body, timestampSeconds: now - 240 });
    expect((await t.request('PUT', '/api/v1/users/42', { body, auth: 'none', headers: ok })).status).toBe(202);
  });

  it('answers 413 above the body limit and 415 for a body that is not JSON', async () => {
    const big = JSON.stringify({ ...alice, attributes: { blob: 'x'.repeat(300 * 1024) } });
    const tooLarge = await t.request('PUT', '/api/v1/users/42', { body: big });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json).toEqual({ error: 'payload-too-large', limitBytes: 256 * 1024 });
    const form = await t.request('PUT', '/api/v1/users/42', { body: 'username=alice', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    expect(form.json).toEqual({ error: 'unsupported-media-type' });
    const untyped = await t.request('PUT', '/api/v1/users/42', { body: JSON.stringify(alice), headers: { 'content-type': '' } });
    expect(untyped.status).toBe(415);
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
    // A JSON body with a charset, or under a +json type, is JSON.
    const typed = await t.request('PUT', '/api/v1/users/42', { body: alice, headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(typed.status).toBe(202);
  });

  it('answers 401 before reading the body of an unauthenticated request', async () => {
    const res = await t.request('PUT', '/api/v1/users/42', { body: 'x'.repeat(300 * 1024), auth: 'none', headers: { 'content-type': 'text/plain' } });
    expectRefused(res);
    // The unread body is not drained: the connection ends with the answer.
    expect(res.headers.get('connection')).toBe('close');
  });
});

describe('ingest API with one kind of credential', () => {
  it('refuses bearer tokens when only a secret is set, and signatures when only a token is set', async () => {
    const signedOnly = await startTestServer({ env: { IDSYNC_INGEST_TOKEN: undefined } });
    const bearerOnly = await startTestServer({ env: { IDSYNC_INGEST_SECRET: undefined } });
    try {
      expect((await signedOnly.request('PUT', '/api/v1/users/1', { body: alice })).status).toBe(401);
      expect((await signedOnly.request('PUT', '/api/v1/users/1', { body: alice, auth: 'signed' })).status).toBe(202);
      expect((await bearerOnly.request('PUT', '/api/v1/users/1', { body: alice, auth: 'signed' })).status).toBe(401);
      expect((await bearerOnly.request('PUT', '/api/v1/users/1', { body: alice })).status).toBe(202);
    } finally {
      await Promise.all([signedOnly.close(), bearerOnly.close()]);
    }
  });

  it('refuses everything with neither, and says once at start how to enable it', async () => {
    const t = await startTestServer({ env: { IDSYNC_INGEST_TOKEN: undefined, IDSYNC_INGEST_SECRET: undefined } });
    try {
      for (const auth of ['bearer', 'signed', 'none'] as const) {
        const res = await t.request('PUT', '/api/v1/users/1', { body: alice, auth });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
      }
      const notices = t.logs.filter((l) => l.includes('IDSYNC_INGEST_TOKEN'));
      expect(notices).toHaveLength(1);
      expect(notices[0]).toContain('IDSYNC_INGEST_SECRET');
      expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
    } finally {
      await t.close();
    }
  });
});
