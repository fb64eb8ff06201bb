import { crowdEnv, type CrowdEmulator } from '../../../emulators/crowd/index.js';
import { startReceiver } from '../../../examples/webhook-receiver/server.mjs';
import { createWebhookDirectory } from '../../../workers/app/webhook/index.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';
import { startSyncHarness } from '../../helpers/sync-harness.js';
import { startEmulator } from '../crowd/helpers.js';

const SECRET = 'webhook-Secret-for-tests-0042';

describe('the application side in a full sync', () => {
  let em: CrowdEmulator;
  beforeEach(async () => {
    em = await startEmulator();
  });
  afterEach(() => em.close());

  it('Crowd groups become application roles through CROWD_ROLE_MAP (many groups, one role)', async () => {
    em.seed([{ name: 'bob', email: 'bob@example.com', groups: ['jira-admins'] }, { name: 'cy', email: 'cy@example.com', groups: ['confluence-admins', 'staff'] }]);
    const dir = new MemoryDirectory([
      { id: 'b1', username: 'bob', email: 'bob@example.com', active: true },
      { id: 'c1', username: 'cy', email: 'cy@example.com', active: true, roles: ['admin'] },
    ]);
    const s = await startSyncHarness({ ...crowdEnv(em.info), CROWD_ROLE_MAP: '{"jira-admins":"admin","confluence-admins":"admin","staff":"member"}' }, dir);
    try {
      const plan = await s.fullSync('crowd', 'apply');
      expect(plan.status).toBe('applied');
      expect(dir.users.get('b1')?.roles).toEqual(['admin']);
      expect([...(dir.users.get('c1')?.roles ?? [])].sort()).toEqual(['admin', 'member']);
      // Crowd owns the roles: a second run finds nothing to do.
      expect((await s.fullSync('crowd', 'apply')).counts).toMatchObject({ appUpdate: 0, link: 0, update: 0 });
    } finally {
      await s.close();
    }
  });

  it('a signed webhook receives imports and is listed for pairing', async () => {
    em.seed([{ name: 'remote-only', email: 'ro@example.com', firstName: 'Remo' }, { name: 'both', email: 'both@example.com' }]);
    const receiver = await startReceiver({ secret: SECRET });
    receiver.users.set('w1', { id: 'w1', username: 'both', email: 'both@example.com', active: true });
    const s = await startSyncHarness(crowdEnv(em.info), createWebhookDirectory({ url: receiver.url, secret: SECRET }));
    try {
      const plan = await s.fullSync('crowd', 'apply');
      expect(plan).toMatchObject({ status: 'applied', counts: { import: 1, link: 1 } });
      const imported = [...receiver.users.values()].find((u) => u.username === 'remote-only');
      expect(imported).toMatchObject({ email: 'ro@example.com', firstName: 'Remo' });
      expect(await s.links.findByRemoteId('crowd', (await s.connectors.crowd!.readUser('remote-only'))!.remoteId)).toBe(imported!.id);
      expect((await s.fullSync('crowd', 'apply')).counts).toMatchObject({ import: 0, link: 0, create: 0, update: 0 });
    } finally {
      await s.close();
      await receiver.close();
    }
  });
});
