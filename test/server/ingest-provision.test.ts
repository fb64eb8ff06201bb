import { dumpPrefix } from '../helpers/redis.js';
import { startTestServer, type TestServer } from './support.js';

/** `POST /provision`: one `provision` job on the sync queue, as `client.provision` enqueues it. */
describe('ingest API: provision', () => {
  let t: TestServer;
  beforeEach(async () => { t = await startTestServer(); });
  afterEach(() => t.close());

  it('enqueues a provision job for the ids, the targets and the direction given', async () => {
    const res = await t.request('POST', '/api/v1/provision', { body: { ids: ['1', '2'] } });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ jobs: [{ target: 'sync', jobId: expect.any(String) }] });
    const [job] = await t.jobs('sync');
    expect(job!.id).toBe((res.json.jobs as { jobId: string }[])[0]!.jobId);
    expect(job!).toMatchObject({ name: 'provision', data: { scope: { ids: ['1', '2'] }, targets: ['crowd', 'entra'], direction: 'to-target' } });

    await t.request('POST', '/api/v1/provision', { body: { all: true, targets: ['entra'] } });
    await t.request('POST', '/api/v1/provision', { body: { remoteIds: ['bob'], direction: 'from-target' } });
    const data = (await t.jobs('sync')).map((j) => j.data).sort((a, b) => a.enqueuedAt - b.enqueuedAt);
    expect(data[1]).toMatchObject({ scope: 'all', targets: ['entra'], direction: 'to-target' });
    expect(data[2]).toMatchObject({ scope: { remoteIds: ['bob'] }, direction: 'from-target' });
  });

  it('names each bad field and enqueues nothing', async () => {
    const cases: [unknown, string[]][] = [
      [{}, ['']],
      [{ ids: ['1'], all: true }, ['all']],
      [{ all: false }, ['all']],
      [{ ids: ['', 'ok', 3], direction: 'sideways', targets: ['ldap'], extra: 1 }, ['direction', 'extra', 'ids.0', 'ids.2', 'targets.0']],
      [{ remoteIds: ['bob'] }, ['remoteIds']],
      [{ ids: [] }, ['ids']],
    ];
    for (const [body, paths] of cases) {
      const res = await t.request('POST', '/api/v1/provision', { body });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('validation');
      expect((res.json.issues as { path: string }[]).map((i) => i.path).sort()).toEqual(paths);
    }
    expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
  });

  it('refuses targets this server does not push to', async () => {
    const t2 = await startTestServer({ env: { IDSYNC_TARGETS: 'crowd' } });
    try {
      const res = await t2.request('POST', '/api/v1/provision', { body: { all: true, targets: ['entra'] } });
      expect(res.status).toBe(400);
      expect(res.json.issues).toEqual([{ path: 'targets', message: expect.stringContaining('entra') }]);
    } finally {
      await t2.close();
    }
  });
});
