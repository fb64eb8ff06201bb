import { Job } from 'bullmq';
import { PlanStore, emptyCounts, newPlanId, type PlanMeta } from '../../workers/sync/plan-store.js';
import type { Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_TOKEN, browse, csrfOf, login, startWithFailedJob } from './dashboard-support.js';
import type { TestServer } from './support.js';

// The dashboard over plain HTTP: who gets in, and that no mutation runs without its CSRF token.
describe('dashboard: login, sessions and CSRF', () => {
  let h: Harness;
  let t: TestServer;
  let jobId: string;
  let url: string;

  beforeAll(async () => {
    ({ h, t, jobId } = await startWithFailedJob());
    url = t.server.url;
  });
  afterAll(async () => {
    await t.close();
    await h.close();
  });

  const stagePlan = async (): Promise<PlanMeta> => {
    const now = Date.now();
    const plan: PlanMeta = { id: newPlanId('crowd'), target: 'crowd', status: 'staged', dryRun: false, reason: 'removals above the threshold: waiting for an operator', createdAt: now, updatedAt: now, counts: { ...emptyCounts(), disable: 3 }, linked: 4, removals: 3, threshold: { absolute: 100, percent: 5 } };
    await new PlanStore(h.redis, h.prefix).create(plan);
    return plan;
  };
  const planStatus = async (id: string) => (await new PlanStore(h.redis, h.prefix).get(id))?.status;

  it('sends pages to /login and answers 401 on the APIs without a session', async () => {
    for (const path of ['/', '/failed', '/audit', '/trace?user=u-9', '/plans', '/matches', '/queues', '/audit/export?format=csv']) {
      const res = await browse(url, path);
      expect([path, res.status]).toEqual([path, 303]);
      expect(res.location).toMatch(/^\/login/);
    }
    for (const path of ['/dashboard/api/status', '/dashboard/api/failed', '/dashboard/api/session', '/queues/api/queues']) {
      const res = await browse(url, path);
      expect([path, res.status]).toEqual([path, 401]);
    }
    expect((await browse(url, '/dashboard/api/failed/replay', { json: { jobIds: [`crowd/${jobId}`] } })).status).toBe(401);
    expect(await (await h.job(jobId)).isFailed()).toBe(true);
  });

  it('refuses a wrong token and a cross-site login, and sets a strict HttpOnly cookie for the right one', async () => {
    const wrong = await login(url, 'not-the-admin-token-0123456789');
    expect(wrong.page.status).toBe(401);
    expect(wrong.setCookie).toBe('');
    const crossSite = await browse(url, '/login', { form: { token: ADMIN_TOKEN }, headers: { origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get('set-cookie')).toBeNull();

    const right = await login(url);
    expect(right.page.status).toBe(303);
    expect(right.page.location).toBe('/');
    expect(right.setCookie).toMatch(/^idsync_session=[\w-]{43};/);
    expect(right.setCookie).toMatch(/HttpOnly/i);
    expect(right.setCookie).toMatch(/SameSite=Strict/i);
    expect(right.setCookie).toMatch(/Path=\//);
    const home = await browse(url, '/', { cookie: right.cookie });
    expect(home.status).toBe(200);
    expect(home.text).toContain('Queues');
    expect(home.headers.get('content-security-policy')).toMatch(/^default-src 'self'/);
    expect(home.headers.get('x-frame-options')).toBe('DENY');
    expect(home.headers.get('referrer-policy')).toBe('same-origin');
    expect(t.logs.join('')).not.toContain(ADMIN_TOKEN);
    expect(home.text).not.toContain(ADMIN_TOKEN);
  });

  it('refuses a replay without or with a wrong CSRF token, and replays with it', async () => {
    const { cookie } = await login(url);
    const page = await browse(url, '/failed', { cookie });
    expect(page.text).toContain(jobId);
    const csrf = csrfOf(page.text);
    const form = { jobId: `crowd/${jobId}` };
    expect((await browse(url, '/failed/replay', { cookie, form })).status).toBe(403);
    expect((await browse(url, '/failed/replay', { cookie, form: { ...form, _csrf: 'x'.repeat(43) } })).status).toBe(403);
    expect((await browse(url, '/dashboard/api/failed/replay', { cookie, json: { jobIds: [`crowd/${jobId}`] } })).status).toBe(403);
    expect((await browse(url, '/dashboard/api/failed/replay', { cookie, json: { jobIds: [`crowd/${jobId}`] }, headers: { 'x-csrf-token': 'wrong' } })).status).toBe(403);
    // Another session's token is no good either.
    const other = await login(url);
    const otherCsrf = csrfOf((await browse(url, '/failed', { cookie: other.cookie })).text);
    expect((await browse(url, '/failed/replay', { cookie, form: { ...form, _csrf: otherCsrf } })).status).toBe(403);
    expect(await (await h.job(jobId)).isFailed()).toBe(true);

    const done = await browse(url, '/failed/replay', { cookie, form: { ...form, _csrf: csrf } });
    expect(done.status).toBe(303);
    await waitFor(async () => (await Job.fromId(h.worker.queue, jobId))?.isCompleted(), 15_000);
    const after = await browse(url, '/failed', { cookie });
    expect(after.text).toContain('Replayed 1, refused 0.');
    expect(after.text).not.toContain(`crowd/${jobId}`);
  });

  it('refuses an approve without or with a wrong CSRF token, and approves with it (form and API)', async () => {
    const { cookie } = await login(url);
    const plan = await stagePlan();
    const page = await browse(url, `/plans/${plan.id}`, { cookie });
    expect(page.text).toContain('Approve and apply');
    const csrf = csrfOf(page.text);
    expect((await browse(url, `/plans/${plan.id}/approve`, { cookie, form: {} })).status).toBe(403);
    expect((await browse(url, `/plans/${plan.id}/approve`, { cookie, form: { _csrf: `${csrf}x` } })).status).toBe(403);
    expect((await browse(url, `/dashboard/api/plans/${plan.id}/approve`, { cookie, json: {} })).status).toBe(403);
    expect(await planStatus(plan.id)).toBe('staged');
    expect(await t.jobs('sync')).toHaveLength(0);

    const done = await browse(url, `/plans/${plan.id}/approve`, { cookie, form: { _csrf: csrf } });
    expect(done.status).toBe(303);
    expect(await planStatus(plan.id)).toBe('approved');
    expect((await browse(url, `/plans/${plan.id}`, { cookie })).text).toContain('approved; its apply job is queued');

    const second = await stagePlan();
    const { csrfToken } = JSON.parse((await browse(url, '/dashboard/api/session', { cookie })).text) as { csrfToken: string };
    const api = await browse(url, `/dashboard/api/plans/${second.id}/reject`, { cookie, json: {}, headers: { 'x-csrf-token': csrfToken } });
    expect(api.status).toBe(200);
    expect(await planStatus(second.id)).toBe('rejected');
  });

  it('serves bull-board at /queues to a session only', async () => {
    const { cookie } = await login(url);
    const board = await browse(url, '/queues', { cookie });
    expect(board.status).toBe(200);
    expect(board.text).toContain('<base href="/queues');
    expect(board.headers.get('content-security-policy')).toContain("style-src 'self' 'unsafe-inline'");
    const api = await browse(url, '/queues/api/queues', { cookie });
    expect(api.status).toBe(200);
    expect((JSON.parse(api.text) as { queues: { name: string }[] }).queues.map((q) => q.name).sort()).toEqual(['app', 'crowd', 'entra', 'sync']);
  });

  it('streams the audit export with the filters of the page, and refuses a bad one', async () => {
    const { cookie } = await login(url);
    const csv = await browse(url, '/audit/export?format=csv&user=u-9', { cookie });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="idsync-audit-.*\.csv"$/);
    expect(csv.text.split('\r\n')[0]).toBe('id,time,target,operation,resource,subject,status,attempt,durationMs,error,jobId,changedAttributes');
    expect(csv.text).toContain('u-9');
    const json = await browse(url, '/audit/export?format=json&user=u-9&status=failed', { cookie });
    expect((JSON.parse(json.text) as { status: string }[]).every((e) => e.status === 'failed')).toBe(true);
    expect((await browse(url, '/audit/export?format=xml', { cookie })).status).toBe(400);
    expect((await browse(url, '/audit/export?format=csv&since=yesterday', { cookie })).status).toBe(400);
  });

  it('escapes what it shows, and logout ends the session', async () => {
    const { cookie } = await login(url);
    const trace = await browse(url, `/trace?user=${encodeURIComponent('<script>alert(1)</script>')}`, { cookie });
    expect(trace.status).toBe(200);
    expect(trace.text).not.toContain('<script>alert(1)');
    expect(trace.text).toContain('&lt;script&gt;alert(1)');
    const csrf = csrfOf(trace.text);
    expect((await browse(url, '/logout', { cookie, form: { _csrf: csrf } })).status).toBe(303);
    expect((await browse(url, '/', { cookie })).status).toBe(303);
    expect((await browse(url, '/dashboard/api/status', { cookie })).status).toBe(401);
  });
});
