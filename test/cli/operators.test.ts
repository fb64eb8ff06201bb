import { PermanentError } from '../../shared/errors.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { runIdsync } from '../helpers/cli.js';

// The operator commands as a script runs them, on the harness's prefix.

describe('idsync status and failed', () => {
  let h: Harness;
  let jobId: string;

  beforeAll(async () => {
    const connector = new FakeConnector().then(() => {
      throw new PermanentError('Crowd group staff does not exist');
    });
    h = await startHarness({ connector });
    const [enqueued] = await h.client.userChanged({ id: 'u-9', username: 'nine', email: 'nine@example.com' });
    jobId = enqueued!.jobId;
    await expect(h.finished(jobId)).rejects.toThrow(/staff does not exist/);
  });

  afterAll(() => h.close());

  it('failed list --json prints the failed job in the documented shape', async () => {
    const r = await runIdsync(h.prefix, ['failed', 'list', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ jobId, target: 'crowd', queue: 'crowd', name: 'push-user', userId: 'u-9', errorClass: 'permanent', reason: expect.stringMatching(/staff does not exist/), attempts: 1, failedAt: expect.any(String) }),
    ]);
  });

  it('status --json counts it, and a dry-run replay names it without changing anything', async () => {
    const status = await runIdsync(h.prefix, ['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.stringify(JSON.parse(status.stdout))).toMatch(/"failed":1/);
    const replay = await runIdsync(h.prefix, ['failed', 'replay', jobId, '--dry-run', '--json']);
    expect(replay.stdout).toContain(jobId);
    expect(await h.worker.queue.getFailedCount()).toBe(1);
  });

  it('trace names why the user is not in Crowd, and audit search finds the failure', async () => {
    const trace = await runIdsync(h.prefix, ['trace', 'u-9', '--json']);
    expect(trace.code).toBe(0);
    const t = JSON.parse(trace.stdout);
    expect(t.diagnosis).toEqual(expect.arrayContaining([expect.objectContaining({ target: 'crowd', ok: false, text: expect.stringMatching(/failed.*staff does not exist/) })]));
    const search = await runIdsync(h.prefix, ['audit', 'search', '--user', 'u-9', '--status', 'failed', '--json']);
    expect(search.code).toBe(0);
    expect(JSON.parse(search.stdout)).toEqual([expect.objectContaining({ subject: 'u-9', status: 'failed', jobId })]);
  });
});
