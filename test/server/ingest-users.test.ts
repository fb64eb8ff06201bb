import { Keyring, parseKey } from '../../shared/crypto.js';
import { passwordAad } from '../../shared/jobs.js';
import { TEST_KEY } from '../helpers/harness.js';
import { dumpPrefix } from '../helpers/redis.js';
import { alice, startTestServer, type TestServer } from './support.js';

/** The `/users/{id}` endpoints: each enqueues what the client library call would, or names the bad fields. */
describe('ingest API: users', () => {
  let t: TestServer;
  beforeEach(async () => { t = await startTestServer(); });
  afterEach(() => t.close());

  it('PUT enqueues the snapshot on every target and answers 202 with the job ids', async () => {
    const res = await t.request('PUT', '/api/v1/users/42', { body: { ...alice, groups: ['staff'], version: 7 } });
    expect(res.status).toBe(202);
    const jobs = res.json.jobs as { target: string; jobId: string }[];
    expect(jobs.map((j) => j.target)).toEqual(['crowd', 'entra']);
    for (const target of ['crowd', 'entra'] as const) {
      const [job, ...more] = await t.jobs(target);
      expect(more).toHaveLength(0);
      expect(job!.id).toBe(jobs.find((j) => j.target === target)!.jobId);
      expect(job!.name).toBe('push-user');
      expect(job!.data).toMatchObject({ op: 'upsert', user: { id: '42', ...alice, groups: ['staff'], version: 7, active: true } });
    }
  });

  it('PUT takes the id from the path, accepts the same id in the body, refuses another', async () => {
    expect((await t.request('PUT', '/api/v1/users/a%2Fb', { body: { id: 'a/b', ...alice } })).status).toBe(202);
    expect((await t.jobs('crowd'))[0]!.data.user.id).toBe('a/b');
    const res = await t.request('PUT', '/api/v1/users/42', { body: { id: '43', ...alice } });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'validation', issues: [{ path: 'id', message: expect.any(String) }] });
  });

  it('PUT with bad fields answers 400 naming each field, echoes no value, enqueues nothing', async () => {
    const distinctive = 'zq-distinctive-7731';
    const res = await t.request('PUT', '/api/v1/users/42', { body: { username: '', email: `${distinctive}-not-an-email`, active: 'yes', firstname: distinctive } });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('validation');
    expect((res.json.issues as { path: string }[]).map((i) => i.path).sort()).toEqual(['active', 'email', 'firstname', 'username']);
    expect(res.text).not.toContain(distinctive);
    expect(t.logs.join('')).not.toContain(distinctive);
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
  });

  it('answers 400 for a body that is not a JSON object or not JSON, without quoting it', async () => {
    for (const body of ['[1,2]', '"text"', '{"email": "zq-broken-4410"']) {
      const res = await t.request('PUT', '/api/v1/users/42', { body });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'validation', issues: [{ path: '', message: expect.any(String) }] });
      expect(res.text).not.toContain('zq-broken');
    }
    expect(t.logs.join('')).not.toContain('zq-broken');
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
  });

  it('DELETE enqueues a delete, with or without a body', async () => {
    const bare = await t.request('DELETE', '/api/v1/users/7');
    expect(bare.status).toBe(202);
    expect((await t.jobs('crowd'))[0]!.data).toMatchObject({ op: 'delete', user: { id: '7' } });
    const res = await t.request('DELETE', '/api/v1/users/8', { body: { username: 'bob', version: 5 } });
    expect(res.status).toBe(202);
    const job = (await t.jobs('entra')).find((j) => j.id === (res.json.jobs as { jobId: string }[])[1]!.jobId);
    expect(job!.data).toMatchObject({ op: 'delete', user: { id: '8', username: 'bob', version: 5 } });
    const bad = await t.request('DELETE', '/api/v1/users/9', { body: { version: -1, colour: 'red' } });
    expect(bad.status).toBe(400);
    expect((bad.json.issues as { path: string }[]).map((i) => i.path).sort()).toEqual(['colour', 'version']);
  });

  it('POST password enqueues an encrypted envelope; the plaintext is nowhere in Redis, the answer or the logs', async () => {
    const password = 'Plaintext-Zebra-5521!';
    const res = await t.request('POST', '/api/v1/users/42/password', { body: { password } });
    expect(res.status).toBe(202);
    expect(res.text).not.toContain(password);
    const keyring = new Keyring(parseKey(TEST_KEY));
    for (const target of ['crowd', 'entra'] as const) {
      const [job] = await t.jobs(target);
      expect(job!.name).toBe('set-password');
      expect(keyring.decrypt(job!.data.password, passwordAad(target, '42'))).toBe(password);
    }
    // Refused requests carrying it: an unknown field beside it, and JSON cut short after it.
    const bad = await t.request('POST', '/api/v1/users/42/password', { body: { password, pasword: password } });
    expect(bad.status).toBe(400);
    expect(bad.json.issues).toEqual([{ path: 'pasword', message: 'unknown field' }]);
    const broken = await t.request('POST', '/api/v1/users/42/password', { body: `{"password": "${password}"` });
    expect(broken.status).toBe(400);
    for (const text of [bad.text, broken.text, await dumpPrefix(t.redis, t.prefix), t.logs.join('')]) expect(text).not.toContain(password);
    expect(t.logs.length).toBeGreaterThan(0);
  });

  it('POST password names a missing or oversized password', async () => {
    for (const body of [{}, { password: '' }, { password: 'x'.repeat(1025) }, { password: 5 }]) {
      const res = await t.request('POST', '/api/v1/users/42/password', { body });
      expect(res.status).toBe(400);
      expect(res.json.issues).toEqual([{ path: 'password', message: expect.any(String) }]);
    }
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
  });

  it('POST pull enqueues a pull on every target, or on the ones named', async () => {
    const all = await t.request('POST', '/api/v1/users/42/pull');
    expect(all.status).toBe(202);
    expect((all.json.jobs as { target: string }[]).map((j) => j.target)).toEqual(['crowd', 'entra']);
    expect((await t.jobs('crowd'))[0]).toMatchObject({ name: 'pull-user', data: { user: { id: '42' }, mode: 'pull' } });
    const one = await t.request('POST', '/api/v1/users/43/pull', { body: { targets: ['entra'] } });
    expect(one.status).toBe(202);
    expect(one.json.jobs).toEqual([{ target: 'entra', jobId: expect.any(String) }]);
    const bad = await t.request('POST', '/api/v1/users/44/pull', { body: { targets: ['ldap'] } });
    expect(bad.status).toBe(400);
    expect(bad.json.issues).toEqual([{ path: 'targets.0', message: expect.any(String) }]);
  });

  it('answers 404 in JSON for unknown paths and methods', async () => {
    for (const [method, path] of [['GET', '/'], ['POST', '/api/v1/users'], ['GET', '/api/v1/users/42'], ['POST', '/api/v2/provision']] as const) {
      const res = await t.request(method, path);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.json).toEqual({ error: 'not-found' });
    }
  });
});

describe('ingest API without a secret key', () => {
  it('refuses passwords with 501 and enqueues nothing', async () => {
    const t = await startTestServer({ env: { IDSYNC_SECRET_KEY: undefined } });
    try {
      const res = await t.request('POST', '/api/v1/users/42/password', { body: { password: 'zq-unsent-8812' } });
      expect(res.status).toBe(501);
      expect(res.json.error).toBe('passwords-disabled');
      expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
    } finally {
      await t.close();
    }
  });
});
