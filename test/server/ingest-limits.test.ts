import { dumpPrefix } from '../helpers/redis.js';
import { alice, startTestServer, type TestServer } from './support.js';

/** The ingest API applies the client library's limits: a 400 naming each field, nothing enqueued. */
describe('ingest API: limits and characters', () => {
  let t: TestServer;
  beforeAll(async () => { t = await startTestServer(); });
  afterAll(() => t.close());

  const issuesOf = async (method: string, path: string, body: unknown) => {
    const res = await t.request(method, path, { body });
    expect([res.status, res.json.error]).toEqual([400, 'validation']);
    expect(res.text).not.toContain('Zq7-mark');
    return res.json.issues as { path: string; message: string }[];
  };

  it('refuses control, bidi and zero-width characters, lengths over the limit in UTF-16 units, and oversized snapshots', async () => {
    expect(await issuesOf('PUT', '/api/v1/users/42', { ...alice, username: 'Zq7-mark\u202e', firstName: 'Zq7-mark\u0000', groups: ['Zq7-mark\u200b'] })).toEqual([
      { path: 'username', message: 'must not contain bidirectional formatting characters' },
      { path: 'firstName', message: expect.stringMatching(/^must not contain control characters/) },
      { path: 'groups.0', message: 'must not contain zero-width characters' },
    ]);
    expect(await issuesOf('PUT', '/api/v1/users/a%0Ab', alice)).toEqual([{ path: 'id', message: expect.stringMatching(/control characters/) }]);
    expect(await issuesOf('PUT', '/api/v1/users/42', { ...alice, username: '\u{1f600}'.repeat(128) })).toEqual([{ path: 'username', message: 'must be at most 255 characters (UTF-16 code units)' }]);
    const attributes = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`a${i}`, 'v']));
    expect(await issuesOf('PUT', '/api/v1/users/42', { ...alice, attributes })).toEqual([{ path: 'attributes', message: 'has 257 attributes; at most 256' }]);
    const big = { ...alice, attributes: { a: Array.from({ length: 20 }, () => 'Zq7-mark'.repeat(500)) } };
    expect(await issuesOf('PUT', '/api/v1/users/42', big)).toEqual([{ path: '', message: expect.stringMatching(/^the snapshot is [\d,]+ bytes as JSON; the limit is 64 KiB$/) }]);
    expect(await issuesOf('POST', '/api/v1/users/42/password', { password: 'Zq7-mark\ud800' })).toEqual([{ path: 'password', message: expect.stringMatching(/unpaired surrogates/) }]);
    expect(await issuesOf('DELETE', '/api/v1/users/42', { username: 'Zq7-mark\r\n' })).toEqual([{ path: 'username', message: expect.stringMatching(/control characters/) }]);
    expect(await issuesOf('POST', '/api/v1/provision', { remoteIds: ['Zq7-mark\u2066'], direction: 'from-target' })).toEqual([{ path: 'remoteIds.0', message: 'must not contain bidirectional formatting characters' }]);
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
  });
});
