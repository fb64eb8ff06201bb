import { existsSync, mkdirSync } from 'node:fs';
import { Job } from 'bullmq';
import { chromium, type Browser, type Page } from 'playwright-core';
import { crowdEnv, type CrowdEmulator } from '../../emulators/crowd/index.js';
import { PlanStore } from '../../workers/sync/plan-store.js';
import type { Harness } from '../helpers/harness.js';
import { MemoryDirectory } from '../helpers/memory-directory.js';
import { startSyncHarness, type SyncHarness } from '../helpers/sync-harness.js';
import { waitFor } from '../helpers/wait.js';
import { startEmulator } from '../workers/crowd/helpers.js';
import { ADMIN_TOKEN, startWithFailedJob } from './dashboard-support.js';
import { startTestServer, type TestServer } from './support.js';

// The dashboard in a real headless Chromium (Debian's package, driven by playwright-core):
// log in, replay a failed job, approve a staged plan. Screenshots go to test-artifacts/.
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts';

describe('dashboard in a browser', () => {
  let browser: Browser;
  const cspErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (the dashboard's browser test needs it)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(() => browser?.close());

  const open = async (url: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/.test(m.text())) cspErrors.push(m.text());
    });
    await page.goto(`${url}/`);
    await page.waitForURL(/\/login/);
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Status' }).waitFor();
    return page;
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}/dashboard-${name}.png`, fullPage: true });

  describe('a failed job', () => {
    let h: Harness;
    let t: TestServer;
    let jobId: string;

    beforeAll(async () => {
      ({ h, t, jobId } = await startWithFailedJob());
    });
    afterAll(async () => {
      await t?.close();
      await h?.close();
    });

    it('is listed, replayed from the page, succeeds and leaves the failed list', async () => {
      const page = await open(t.server.url);
      await shot(page, 'status');
      await page.getByRole('link', { name: 'Failed jobs' }).click();
      const row = page.locator('tr', { hasText: `crowd/${jobId}` });
      await row.waitFor();
      expect(await row.textContent()).toContain('staff does not exist');
      await shot(page, 'failed');

      await row.getByRole('button', { name: 'Replay' }).click();
      await page.getByRole('status').filter({ hasText: 'Replayed 1, refused 0.' }).waitFor();
      await waitFor(async () => (await Job.fromId(h.worker.queue, jobId))?.isCompleted(), 15_000);
      await page.reload();
      await page.getByText('No failed jobs match.').waitFor();
      expect(await page.locator('tr', { hasText: `crowd/${jobId}` }).count()).toBe(0);
      await shot(page, 'failed-after-replay');

      await page.goto(`${t.server.url}/trace?user=u-9`);
      await page.getByRole('heading', { name: 'Diagnosis' }).waitFor();
      await shot(page, 'trace');
      await page.goto(`${t.server.url}/audit?user=u-9`);
      await page.getByRole('link', { name: 'CSV' }).waitFor();
      await shot(page, 'audit');
      await page.close();
    });

    it('shows bull-board behind the same login, under the CSP', async () => {
      const page = await open(t.server.url);
      await page.getByRole('link', { name: 'Queues' }).click();
      // bull-board is a React app: its queue names only appear once its scripts ran.
      await page.getByText('crowd', { exact: false }).first().waitFor({ timeout: 15_000 });
      await page.getByText('entra', { exact: false }).first().waitFor();
      await page.getByRole('link', { name: 'crowd' }).first().click();
      await page.getByText('Loading...').waitFor({ state: 'detached', timeout: 10_000 }).catch(() => undefined);
      await shot(page, 'queues');
      // Web fonts from Google are refused by default-src 'self' (no external assets); nothing else may be.
      expect(cspErrors.filter((e) => !/fonts\.googleapis\.com/.test(e))).toEqual([]);
      await page.close();
    });
  });

  describe('a staged plan', () => {
    let em: CrowdEmulator;
    let s: SyncHarness;
    let t: TestServer;

    beforeAll(async () => {
      em = await startEmulator();
      em.seed([
        { name: 'bob', email: 'bob@example.com' },
        { name: 'dave', email: 'dave@example.com' },
        { name: 'twin', email: 'same@example.com' },
      ]);
      const dir = new MemoryDirectory([
        { id: 'b1', username: 'bob', email: 'bob@example.com', active: true },
        { id: 'e1', username: 'erin', email: 'same@example.com', active: true },
        { id: 'f1', username: 'frank', email: 'SAME@example.com', active: true },
      ]);
      s = await startSyncHarness({ ...crowdEnv(em.info), SYNC_DELETE_THRESHOLD_PERCENT: '5', SYNC_IMPORT_UNMATCHED: 'false' }, dir);
      // dave was linked to an application user that has since been deleted: a removal above 5 %.
      const dave = await s.connectors.crowd!.readUser('dave');
      await s.links.update('crowd', 'gone-1', { remoteId: dave!.remoteId, remoteName: 'dave' });
      t = await startTestServer({ env: { IDSYNC_PREFIX: s.prefix, IDSYNC_ADMIN_TOKEN: ADMIN_TOKEN } });
    });
    afterAll(async () => {
      await t?.close();
      await s?.close();
      await em?.close();
    });

    it('is shown with its entries and approved from the page, then applied', async () => {
      const staged = await s.fullSync('crowd', 'apply');
      expect(staged.status).toBe('staged');
      const page = await open(t.server.url);
      await page.getByRole('link', { name: 'Plans' }).click();
      await page.getByRole('link', { name: staged.id }).click();
      await page.getByRole('button', { name: 'Approve and apply' }).waitFor();
      expect(await page.locator('tr', { hasText: 'dave' }).first().textContent()).toContain('disable');
      await shot(page, 'plan-staged');

      await page.getByRole('button', { name: 'Approve and apply' }).click();
      await page.getByRole('status').filter({ hasText: 'approved; its apply job is queued' }).waitFor();
      const store = new PlanStore(s.redis, s.prefix);
      await waitFor(async () => (await store.get(staged.id))?.status === 'applied', 30_000);
      await page.reload();
      expect(await page.locator('table').first().textContent()).toContain('applied');
      expect(await page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(0);
      await shot(page, 'plan-applied');
      expect((await s.connectors.crowd!.readUser('dave'))?.active).toBe(false);

      await page.getByRole('link', { name: 'Matches' }).click();
      await page.getByRole('heading', { name: 'Unresolved matches' }).waitFor();
      await shot(page, 'matches');
      await page.close();
    });
  });
});
