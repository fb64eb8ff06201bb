import { crowdEnv, type CrowdEmulator } from '../../../emulators/crowd/index.js';
import { JOB_NAMES, type ProvisionResult } from '../../../shared/jobs.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';
import { startSyncHarness, type SyncHarness } from '../../helpers/sync-harness.js';
import { startEmulator } from '../crowd/helpers.js';

// Provisioning enqueues a chunk of 1,000 while the one before it still runs: every user of
// every chunk is counted once, and nothing is left behind at a chunk boundary.
describe('provisioning more users than one chunk', () => {
  const USERS = 1200;
  // Each case pushes over a thousand users through the real pipeline: seconds on a quiet
  // machine, but throughput-bound, so a loaded one needs more than the default 30 s.
  const TIMEOUT_MS = 90_000;
  let em: CrowdEmulator;
  let s: SyncHarness;

  beforeAll(async () => {
    em = await startEmulator();
    const dir = new MemoryDirectory(Array.from({ length: USERS }, (_, i) => ({ id: `c${i}`, username: `chunk${i}`, email: `chunk${i}@example.com`, active: true })));
    s = await startSyncHarness(crowdEnv(em.info), dir);
  });

  afterAll(async () => {
    await s.close();
    await em.close();
  });

  it('provisions every user of overlapping chunks once and counts each', async () => {
    const result = (await s.run(JOB_NAMES.provision, { scope: 'all', targets: ['crowd'], direction: 'to-target' })) as ProvisionResult;
    expect(result.targets.crowd).toEqual({ users: USERS, succeeded: USERS, skipped: 0, failed: 0, notFound: 0 });
    expect(em.stats().byRoute['POST user']).toBe(USERS);
    expect((await s.links.get('crowd', `c${USERS - 1}`))?.remoteName).toBe(`chunk${USERS - 1}`);
  }, TIMEOUT_MS);

  it('waits for each id once when a list names a user twice, across chunks', async () => {
    const ids = [...Array.from({ length: 1100 }, (_, i) => `c${i}`), 'c1099', 'c0'];
    const result = (await s.run(JOB_NAMES.provision, { scope: { ids }, targets: ['crowd'], direction: 'to-target' })) as ProvisionResult;
    expect(result.targets.crowd).toMatchObject({ users: 1100, failed: 0 });
    expect(result.targets.crowd!.succeeded + result.targets.crowd!.skipped).toBe(1100);
  }, TIMEOUT_MS);
});
