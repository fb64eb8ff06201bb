// Faults between the worker and Crowd: every job ends applied (or fails readably), no user
// is duplicated, requests stay bounded, and the application password leaks nowhere.
import { ThrottledError } from '../../../shared/errors.js';
import type { CrowdEmulator } from '../../../emulators/crowd/index.js';
import { dumpPrefix } from '../../helpers/redis.js';
import { runJobs } from '../../helpers/harness.js';
import { capturingLogger } from '../../helpers/logs.js';
import { waitFor } from '../../helpers/wait.js';
import { APP_PASSWORD, CrowdRest, crowdConfig, setup, startEmulator, type Setup } from './helpers.js';
import { createCrowdConnector } from '../../../workers/crowd/index.js';

const user = (i: number) => ({ id: `u-${i}`, username: `user${i}`, email: `user${i}@example.com`, firstName: 'User', lastName: String(i) });

describe('Crowd worker: faults', () => {
  let em: CrowdEmulator;
  let rest: CrowdRest;
  let s: Setup | undefined;
  beforeAll(async () => {
    em = await startEmulator();
    rest = new CrowdRest(em);
  });
  afterEach(async () => {
    await s?.close();
    s = undefined;
    em.reset();
  });
  afterAll(() => em.close());

  it('rides out a 5xx storm: every job applied, no duplicates, requests bounded', async () => {
    s = await setup(em, {}, { client: { attempts: 10 }, worker: { concurrency: 8 } });
    em.setFaults({ serverErrorRate: 0.3, seed: 7 });
    const results = await s!.h.pushAll(Array.from({ length: 30 }, (_, i) => user(i)));
    expect(results.every((r) => (r as { outcome: string }).outcome === 'applied')).toBe(true);
    const stats = em.stats();
    expect(stats.users).toBe(30);
    expect(stats.serverErrors).toBeGreaterThan(5);
    // 30 creates of 1 request each, plus at most 2 requests per failed request (a re-read and the retry).
    expect(stats.requests).toBeLessThanOrEqual(30 + 3 * stats.serverErrors);
    expect((await rest.user('user7'))).toMatchObject({ 'last-name': '7', active: true });
  });

  it('never creates twice after a lost reply (failAfterApply)', async () => {
    s = await setup(em);
    em.setFaults({ failAfterApply: true, serverErrorNext: 1, onlyMethods: ['POST'] });
    await expect(s!.h.pushAll([user(1)])).resolves.toMatchObject([{ outcome: 'applied' }]);
    // The retry creates again; Crowd answers "already exists", and the user is read and linked.
    expect(em.stats().byRoute['POST user']).toBe(2);
    expect(em.stats().byRoute['GET user']).toBe(1);
    expect(em.stats().users).toBe(1);
    const key = (await rest.user('user1'))!.key;
    expect(await s.h.links.get('crowd', 'u-1')).toMatchObject({ remoteId: key });

    // A rename and an update whose replies are lost on a reset connection.
    em.setFaults({ failAfterApply: true, resetNext: 2, onlyMethods: ['POST', 'PUT'], serverErrorNext: 0 });
    await expect(s!.h.pushAll([{ ...user(1), username: 'user1-renamed', lastName: 'Renamed' }])).resolves.toMatchObject([{ outcome: 'applied' }]);
    expect(em.stats()).toMatchObject({ users: 1, resets: 2 });
    expect(em.stats().byRoute['POST user/rename']).toBe(1);
    expect(await rest.user('user1-renamed')).toMatchObject({ key, 'last-name': 'Renamed' });
  });

  it('a cut-off "already exists" on a repeated create is a lost reply too, not a refusal', async () => {
    s = await setup(em);
    // The create lands and is answered 500; the repeat's "already exists" is cut in half.
    em.setFaults({ failAfterApply: true, serverErrorNext: 1, malformedNext: 1, onlyMethods: ['POST'] });
    const [job] = await s!.h.client.userChanged(user(1));
    await expect(s.h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied' });
    expect(em.stats()).toMatchObject({ users: 1, malformed: 1 });
    // Sent a third time in place, answered "already exists" in full, then read and linked.
    expect(em.stats().byRoute).toMatchObject({ 'POST user': 3, 'GET user': 1 });
    expect((await s.h.job(job!.jobId)).attemptsMade).toBe(1);
    expect(await s.h.links.get('crowd', 'u-1')).toMatchObject({ remoteId: (await rest.user('user1'))!.key });
  });

  it('sends an idempotent write whose reply was lost again in place, without reading first; a rename goes back to the runtime', async () => {
    s = await setup(em);
    await s!.h.pushAll([user(1)]);
    em.reset();
    await s.h.pushAll([user(2)]);
    const before = { ...em.stats().byRoute };
    // The update's PUT lands and is answered 502, then reset: the third PUT is answered.
    em.setFaults({ failAfterApply: true, serverErrorNext: 1, serverErrorStatus: 502, resetNext: 1, onlyMethods: ['PUT'] });
    const [job] = await s.h.client.userChanged({ ...user(2), lastName: 'Again' });
    await expect(s.h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'update' });
    const after = em.stats().byRoute;
    expect({ get: after['GET user']! - (before['GET user'] ?? 0), put: after['PUT user']! - (before['PUT user'] ?? 0) }).toEqual({ get: 1, put: 3 });
    expect((await s.h.job(job!.jobId)).attemptsMade).toBe(1);
    expect(await s.h.audit.query({ status: 'retrying' })).toEqual([]);
    expect(await rest.user('user2')).toMatchObject({ 'last-name': 'Again' });
    // A rename's repeat would not find the old name: its lost reply is the next attempt's, which reads first.
    em.setFaults({ failAfterApply: true, serverErrorNext: 1, serverErrorStatus: 500, resetNext: 0, onlyMethods: ['POST'] });
    const [renamed] = await s.h.client.userChanged({ ...user(2), username: 'user2-renamed', lastName: 'Again' });
    await expect(s.h.finished(renamed!.jobId)).resolves.toMatchObject({ outcome: 'applied' });
    expect(em.stats().byRoute['POST user/rename']).toBe(1);
    expect((await s.h.job(renamed!.jobId)).attemptsMade).toBe(2);
    expect(await rest.user('user2-renamed')).toMatchObject({ 'last-name': 'Again' });
  });

  it('sends failed reads and refused writes again within the attempt: one attempt is enough', async () => {
    s = await setup(em);
    await s!.h.pushAll([user(1)]);
    // The update's read fails on a 502 and a reset; its PUT is refused by a proxy's 503 and a 429.
    em.setFaults({ serverErrorNext: 1, serverErrorStatus: 502, resetNext: 1, onlyMethods: ['GET'] });
    const [first] = await s.h.client.userChanged({ ...user(1), lastName: 'Again' });
    await expect(s.h.finished(first!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'update' });
    em.setFaults({ serverErrorNext: 1, serverErrorStatus: 503, throttleNext: 1, throttleRetryAfterSeconds: 0, onlyMethods: ['PUT'] });
    const [second] = await s.h.client.userChanged({ ...user(1), lastName: 'Twice' });
    await expect(s.h.finished(second!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'update' });
    expect(em.stats()).toMatchObject({ resets: 1, throttled: 1 });
    expect((await s.h.audit.query({ status: 'retrying' })).map((e) => e.error)).toEqual([]);
    expect(await s.h.audit.query({ status: 'throttled' })).toEqual([]);
    for (const { jobId } of [first!, second!]) expect((await s.h.job(jobId)).attemptsMade).toBe(1);
    expect(await rest.user('user1')).toMatchObject({ 'last-name': 'Twice' });
  });

  it('on 429 pauses the whole queue for Retry-After, uses no attempt, then applies', async () => {
    s = await setup(em, {}, { worker: { concurrency: 1 } });
    // One 429 more than the in-place retries of a refused request, so the job itself is throttled.
    em.setFaults({ throttleNext: 4, throttleRetryAfterSeconds: 1 });
    const results = await s!.h.pushAll([user(1), user(2)]);
    expect(results).toMatchObject([{ outcome: 'applied' }, { outcome: 'applied' }]);
    const [throttled] = await s.h.audit.query({ status: 'throttled' });
    expect(throttled!.error).toMatch(/Crowd throttled POST \/user user1 \(429\) \(retry after 1000 ms\)/);
    const succeeded = await s.h.audit.query({ status: 'succeeded' });
    expect(succeeded).toHaveLength(2);
    for (const e of succeeded) expect(e.time - throttled!.time).toBeGreaterThanOrEqual(900);
    expect((await s.h.job(throttled!.jobId!)).attemptsMade).toBe(1);
    expect(em.stats().users).toBe(2);
  });

  it('falls back to X-RateLimit-Interval-Seconds when a 429 has no Retry-After', async () => {
    const connector = await createCrowdConnector(crowdConfig(em));
    em.setFaults({ throttleNext: 1, sendRetryAfter: false });
    const err = await connector.probe({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThrottledError);
    expect((err as ThrottledError).retryAfterMs).toBe(1000);
    await connector.close();
  });

  it('retries timeouts (latency above the timeout) and applies once Crowd answers in time', async () => {
    // Its own emulator: requests delayed past the client's timeout are still pending when
    // the test ends, and closing the emulator drops them instead of letting them hit the next test.
    const slow = await startEmulator();
    try {
      s = await setup(slow, { timeoutMs: 100 }, { client: { attempts: 10 } });
      slow.setFaults({ latencyMs: 250 });
      const [job] = await s.h.client.userChanged(user(1));
      await waitFor(() => slow.stats().requests >= 2);
      slow.setFaults({ latencyMs: 0 });
      await expect(s.h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied' });
      // The create is sent again in place (a repeat is answered "already exists"); should the
      // latency outlast those sends, the next attempt says why.
      expect(slow.stats().byRoute['POST user']).toBeGreaterThanOrEqual(2);
      for (const retry of await s.h.audit.query({ subject: 'u-1', status: 'retrying' })) {
        expect(retry.error).toMatch(/Crowd did not answer (POST|GET) \/user user1 within 100 ms/);
      }
      // The first, timed-out create may land server-side after the repeat; never twice.
      expect(slow.stats().users).toBe(1);
    } finally {
      await s?.close();
      s = undefined;
      await slow.close();
    }
  });

  it('retries connection resets', async () => {
    s = await setup(em);
    em.setFaults({ resetNext: 2 });
    await expect(s!.h.pushAll([user(1)])).resolves.toMatchObject([{ outcome: 'applied' }]);
    expect(em.stats()).toMatchObject({ users: 1, resets: 2 });
    // The reset create is sent again in the next attempt; no read is needed first.
    expect(em.stats().requests).toBe(3);
  });

  it('retries cut-off replies (truncated JSON on creates and reads): every user created with its group and link, no job failed', async () => {
    s = await setup(em, {}, { worker: { concurrency: 1 } });
    em.seed([], [{ name: 'staff' }]);
    // The create is applied and its reply cut in half; the read after the repeat's "already exists" is cut too.
    em.setFaults({ malformedNext: 2, malformedKind: 'truncated', onlyRoutes: ['user'] });
    const users = [1, 2, 3].map((i) => ({ ...user(i), groups: ['staff'] }));
    const results = await s!.h.pushAll(users);
    expect(results.every((r) => (r as { outcome: string }).outcome === 'applied')).toBe(true);
    expect(em.stats()).toMatchObject({ users: 3, malformed: 2 });
    // At most one more create per cut-off reply (answered "already exists" when it had landed).
    expect(em.stats().byRoute['POST user']).toBeLessThanOrEqual(3 + 2);
    for (const i of [1, 2, 3]) {
      const remote = (await rest.user(`user${i}`))!;
      expect(await rest.directGroups(`user${i}`)).toEqual(['staff']);
      expect(await s.h.links.get('crowd', `u-${i}`)).toMatchObject({ remoteId: remote.key });
    }
    expect(await s.h.audit.query({ status: 'failed' })).toEqual([]);
    // Both sent again in place: no attempt was spent.
    expect(await s.h.audit.query({ status: 'retrying' })).toEqual([]);
  });

  it('quarantines on an SSO proxy\'s HTML page with a 200, naming the proxy and not the page; once it is gone, the probe resumes', async () => {
    s = await setup(em);
    em.setFaults({ malformedRate: 1, malformedKind: 'html200' });
    const [job] = await s.h.client.userChanged(user(1));
    const state = await waitFor(() => s!.h.worker.quarantine.state());
    expect(state.reason).toMatch(
      /^Crowd answered POST \/user user1 with 200 and an HTML page \(text\/html[^)]*\) instead of JSON: a proxy answered instead of Crowd; .*CROWD_URL should point straight at Crowd/,
    );
    expect(state.reason).not.toMatch(/Sign in/);
    expect(await s.h.worker.queue.isPaused()).toBe(true);

    em.setFaults({ malformedRate: 0 });
    await expect(s.h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
    expect(await s.h.worker.quarantine.state()).toBeUndefined();
    expect(em.stats().users).toBe(1);
    expect(await s.h.audit.query({ status: 'failed' })).toEqual([]);
  });

  it('quarantines on a WAF\'s HTML 403, probes, and resumes', async () => {
    s = await setup(em);
    em.setFaults({ html403Next: 2 });
    const [job] = await s.h.client.userChanged(user(1));
    const state = await waitFor(() => s!.h.worker.quarantine.state());
    expect(state.reason).toMatch(/refused POST \/user user1 with a 403 HTML page: "403 Forbidden"; check the application's remote addresses/);
    await expect(s.h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied' });
    expect(await s.h.worker.quarantine.state()).toBeUndefined();
  });

  it('bad credentials quarantine the target; once fixed it recovers; the secrets appear in no key, log line or audit entry', async () => {
    // Crowd's side has a different application password than idsync's configuration.
    const wrong = await startEmulator({ applicationPassword: 'what-crowd-expects' });
    const port = (new URL(wrong.info.baseUrl).port);
    const { logger, lines } = capturingLogger();
    s = await setup(wrong, { applicationPassword: APP_PASSWORD }, { logger });
    const userPassword = 'U53r-p4ssw0rd-marker';
    const [pushed] = await s.h.client.userChanged(user(1));
    const state = await waitFor(() => s!.h.worker.quarantine.state());
    expect(state.reason).toMatch(/Crowd rejected the application credentials of "idsync" on (POST|GET) \/user user1 \(401 Application failed to authenticate\); check CROWD_APP_NAME and CROWD_APP_PASSWORD/);
    expect(await s.h.worker.queue.isPaused()).toBe(true);

    // The operator fixes Crowd's side: same address, the password idsync has.
    await wrong.close();
    const fixed = await startEmulator({ port: Number(port) });
    try {
      expect((fixed.info.baseUrl)).toBe(wrong.info.baseUrl);
      await expect(s.h.finished(pushed!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
      expect((await s.h.job(pushed!.jobId)).attemptsMade).toBe(1);
      const [pw] = await runJobs(s.h, () => s!.h.client.passwordChanged({ id: 'u-1' }, userPassword));
      expect(pw).toMatchObject({ ok: true });
      expect(await new CrowdRest(fixed).authenticate('user1', userPassword)).toBe(200);

      const audit = JSON.stringify(await s.h.audit.query({ limit: 1000 }));
      expect(audit).toMatch(/quarantine/);
      const everything = [await dumpPrefix(s.h.redis, s.h.prefix), lines.join('\n'), audit].join('\n');
      expect(lines.length).toBeGreaterThan(3);
      const basic = Buffer.from(`idsync:${APP_PASSWORD}`).toString('base64');
      for (const secret of [APP_PASSWORD, basic, userPassword]) expect(everything).not.toContain(secret);
    } finally {
      await s.close();
      s = undefined;
      await fixed.close();
    }
  });

  it('keeps to requestsPerSecond across the worker, so a rate-limited Crowd never says 429', async () => {
    s = await setup(em, { requestsPerSecond: 50 }, { worker: { concurrency: 10 } });
    em.setFaults({ rateLimitPerSecond: 50, rateLimitBurst: 10 });
    const started = Date.now();
    const results = await s!.h.pushAll(Array.from({ length: 40 }, (_, i) => user(i)));
    expect(results).toHaveLength(40);
    expect(em.stats()).toMatchObject({ users: 40, throttled: 0 });
    // 40 requests at 50/s after a burst of 5: at least ~0.7 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });
});
