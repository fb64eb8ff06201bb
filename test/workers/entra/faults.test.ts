// Faults between the worker and Entra: every job ends applied (or fails readably, alone), no
// user is duplicated, throttling pauses instead of failing, credentials and permissions
// quarantine and recover, and no secret leaks into Redis, logs or the audit log.
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientCertificate, SYNC_WORKER_ROLES, type EntraEmulator } from '../../../emulators/entra/index.js';
import { createEntraConnector } from '../../../workers/entra/index.js';
import { dumpPrefix, workerRedis } from '../../helpers/redis.js';
import { runJobs } from '../../helpers/harness.js';
import { capturingLogger } from '../../helpers/logs.js';
import { waitFor } from '../../helpers/wait.js';
import { DOMAIN, Graph, entraConfig, setup, startEmulator, type Setup } from './helpers.js';

const user = (i: number) => ({ id: `u-${i}`, username: `user${i}`, email: `user${i}@example.com`, firstName: 'User', lastName: String(i) });
const upn = (name: string) => `${name}@${DOMAIN}`;

describe('Entra worker: faults', () => {
  let em: EntraEmulator;
  let graph: Graph;
  let s: Setup | undefined;
  beforeAll(async () => {
    em = await startEmulator();
    graph = new Graph(em);
  });
  afterEach(async () => {
    await s?.close();
    s = undefined;
    em.reset();
  });
  afterAll(() => em.close());

  it('rides out a 5xx storm: every job applied, no duplicates', async () => {
    // Deterministic storm: one wave of users per status, each wave meeting exactly `burst`
    // failed Graph requests (the first ones it sends, spread over its concurrent jobs). A job
    // can meet at most `burst` of them, fewer than its attempts, so every job must end
    // applied; random error rates could exhaust a job's attempts on an unlucky draw.
    const attempts = 10;
    const burst = attempts - 1;
    s = await setup(em, { upnDomain: DOMAIN }, { client: { attempts }, worker: { concurrency: 8, maxBackoffMs: 200 } });
    const statuses = [500, 502, 503, 504];
    const users = Array.from({ length: 32 }, (_, i) => user(i));
    for (const [w, status] of statuses.entries()) {
      em.setFaults({ failNext: burst, failNextStatus: status, failNextMode: 'before' });
      const results = await s!.h.pushAll(users.slice(w * 8, (w + 1) * 8));
      expect(results.map((r) => (r as { outcome: string }).outcome)).toEqual(Array(8).fill('applied'));
      // Every injected failure was met (each one is followed by a retry while its job lives).
      expect(em.faults.failNext).toBe(0);
    }
    expect(em.stats().faultsInjected).toBe(statuses.length * burst);
    expect(em.stats().users).toBe(32);
    expect((await s.h.audit.query({ status: 'failed' }))).toEqual([]);
    // Creates go out without a read first, and every refused item was sent exactly once more.
    expect(em.stats().batchItems).toBe(users.length + statuses.length * burst);
    expect(await graph.user(upn('user7'))).toMatchObject({ surname: '7', accountEnabled: true });
    expect(await graph.user(upn('user31'))).toMatchObject({ surname: '31', accountEnabled: true });
  });

  it('rides out 503s from the token endpoint: @azure/identity honours their Retry-After, the job applies without a failed attempt', async () => {
    s = await setup(em, { upnDomain: DOMAIN });
    em.setFaults({ tokenFailNext: 2 });
    await expect(s!.h.pushAll([user(1)])).resolves.toMatchObject([{ outcome: 'applied', operation: 'create' }]);
    expect(em.faults.tokenFailNext).toBe(0);
    expect(await s.h.audit.query({ status: 'retrying' })).toEqual([]);
    expect(await graph.user(upn('user1'))).toMatchObject({ surname: '1' });
  });

  it('after a lost create reply, creates again in place and settles the conflict by a read: never twice', async () => {
    s = await setup(em, { upnDomain: DOMAIN });
    // The create is applied, then answered 500.
    em.setFaults({ failNext: 1, failNextMode: 'after', failNextStatus: 500 });
    const [job] = await s!.h.client.userChanged(user(1));
    await expect(s.h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'noop' });
    expect((await s.h.job(job!.jobId)).attemptsMade).toBe(1);
    expect(em.stats()).toMatchObject({ users: 1, batchItems: 2 });
    // A patch whose reply is lost is sent again the same way, with no read in between.
    em.setFaults({ failNext: 1, failNextMode: 'after', failNextStatus: 504, failNextMethods: ['PATCH'], faultRetryAfterSeconds: null });
    const reads = em.stats().graphRequests - em.stats().batchRequests;
    const [update] = await s.h.client.userChanged({ ...user(1), lastName: 'Again' });
    await expect(s.h.finished(update!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'update' });
    expect({ items: em.stats().batchItems, reads: em.stats().graphRequests - em.stats().batchRequests - reads }).toEqual({ items: 4, reads: 1 });
    expect(await s.h.audit.query({ status: 'retrying' })).toEqual([]);
    expect(await graph.user(upn('user1'))).toMatchObject({ surname: 'Again' });
    expect(await s.h.links.get('entra', 'u-1')).toMatchObject({ remoteId: (await graph.user(upn('user1')))!.id });
  });

  it('retries a create that failed before Graph acted by creating again, without reading first', async () => {
    s = await setup(em, { upnDomain: DOMAIN });
    em.setFaults({ failNext: 1, failNextStatus: 500, failNextMode: 'before' });
    await expect(s!.h.pushAll([user(1)])).resolves.toMatchObject([{ outcome: 'applied', operation: 'create' }]);
    const stats = em.stats();
    // Two `POST /users` items and no read: a landed create would have come back as ObjectConflict.
    expect({ items: stats.batchItems, reads: stats.graphRequests - stats.batchRequests, users: stats.users }).toEqual({ items: 2, reads: 0, users: 1 });
  });

  it('sends failed reads and refused writes again within the attempt: one attempt is enough', async () => {
    s = await setup(em, { upnDomain: DOMAIN });
    // A create (no read first) whose `$batch` item is refused with a 503 without Retry-After.
    em.setFaults({ failNext: 1, failNextStatus: 503, faultRetryAfterSeconds: null });
    const [created] = await s!.h.client.userChanged(user(1));
    await expect(s.h.finished(created!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
    expect(em.stats()).toMatchObject({ batchItems: 2, users: 1 });
    // An update whose read fails twice (502): read again in place, then patched.
    em.setFaults({ failNext: 2, failNextStatus: 502 });
    const [updated] = await s.h.client.userChanged({ ...user(1), lastName: 'Again' });
    await expect(s.h.finished(updated!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'update' });
    expect((await s.h.audit.query({ status: 'retrying' })).map((e) => e.error)).toEqual([]);
    // Each applied by its first attempt.
    for (const { jobId } of [created!, updated!]) expect((await s.h.job(jobId)).attemptsMade).toBe(1);
    expect(await graph.user(upn('user1'))).toMatchObject({ surname: 'Again' });
  });

  it('on a 429 pauses the whole queue for Retry-After, uses no attempt, then applies', async () => {
    s = await setup(em, { upnDomain: DOMAIN }, { worker: { concurrency: 1 } });
    await s!.h.pushAll([user(1), user(2)]);
    // 50 Graph seconds at timeScale 0.01: Retry-After 0.5.
    // One 429 more than the reads' in-place retries, so the job itself is throttled.
    em.setFaults({ failNext: 4, failNextStatus: 429, faultRetryAfterSeconds: 50 });
    await expect(s!.h.pushAll([{ ...user(1), lastName: 'One' }, { ...user(2), lastName: 'Two' }])).resolves.toMatchObject([{ operation: 'update' }, { operation: 'update' }]);
    const [throttled] = await s.h.audit.query({ status: 'throttled' });
    expect(throttled!.error).toMatch(/Graph throttled GET \/users\/[0-9a-f-]+ user1@\S+ \(429 TooManyRequests\) \(retry after 500 ms\)/);
    const updated = (await s.h.audit.query({ status: 'succeeded' })).filter((e) => e.operation === 'update');
    expect(updated).toHaveLength(2);
    for (const e of updated) expect(e.time - throttled!.time).toBeGreaterThanOrEqual(450);
    expect((await s.h.job(throttled!.jobId!)).attemptsMade).toBe(1);
  });

  it('retries per-item 429s inside $batch after their Retry-After; concurrent writes share batches', async () => {
    s = await setup(em, { upnDomain: DOMAIN }, { worker: { concurrency: 20 }, client: { attempts: 10 }, connector: { batch: { lingerMs: 10 } } });
    em.setFaults({ throttleRate: 0.3 });
    const results = await s!.h.pushAll(Array.from({ length: 40 }, (_, i) => user(i)));
    expect(results.every((r) => (r as { outcome: string }).outcome === 'applied')).toBe(true);
    const stats = em.stats();
    expect(stats.users).toBe(40);
    expect(stats.throttled).toBeGreaterThan(3);
    // Every 429 was a batch item, retried as an item; 40 creates were admitted once each.
    expect(stats.batchItems).toBe(40 + stats.throttled);
    expect(stats.writes).toBe(40);
    expect(stats.batchRequests).toBeLessThan(stats.batchItems / 2);
  });

  it('retries timeouts (latency above the timeout) and applies once Graph answers in time', async () => {
    // Its own emulator: requests delayed past the timeout are still pending when the test ends.
    const slow = await startEmulator();
    let local: Setup | undefined;
    try {
      local = await setup(slow, { timeoutMs: 200, upnDomain: DOMAIN }, { client: { attempts: 10 } });
      await local.h.push(user(0)); // the token is cached before the latency starts
      const before = slow.stats().requests;
      slow.setFaults({ latencyMs: 400 });
      const [job] = await local.h.client.userChanged(user(1));
      await waitFor(() => slow.stats().requests >= before + 2);
      slow.setFaults({ latencyMs: 0 });
      await expect(local.h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied' });
      // The create's timed-out `$batch` is sent again in place (a repeat is answered
      // ObjectConflict); should the latency outlast those sends, the next attempt says why.
      for (const retry of await local.h.audit.query({ subject: 'u-1', status: 'retrying' })) {
        expect(retry.error).toMatch(/Graph did not answer (POST|GET) \S+ (user1@\S+|\(1 item\)) within 200 ms/);
      }
      expect(slow.stats().batchItems).toBeGreaterThanOrEqual(3);
      // The timed-out create may land after the repeat; never twice.
      await waitFor(() => slow.stats().users === 2 || undefined);
    } finally {
      await local?.close();
      await slow.close();
    }
  });

  it('waits out eventual consistency after a create before adding memberships', async () => {
    s = await setup(em, { upnDomain: DOMAIN });
    em.seed({ groups: [{ displayName: 'staff' }] });
    em.setFaults({ eventualConsistencyMs: 250 });
    await expect(s!.h.pushAll([{ ...user(1), groups: ['staff'] } as ReturnType<typeof user>])).resolves.toMatchObject([{ operation: 'create', changedAttributes: expect.arrayContaining(['groups']) }]);
    expect(em.stats().byStatus['404']).toBeGreaterThan(0);
    expect(await graph.groupsOf((await graph.user(upn('user1')))!.id)).toEqual(['staff']);
  });

  it('retries cut-off replies (truncated JSON on creates and reads): every user created with its group and link, no job failed', async () => {
    s = await setup(em, { upnDomain: DOMAIN }, { worker: { concurrency: 1 } });
    em.seed({ groups: [{ displayName: 'staff' }] });
    // The first two Graph replies are applied, then cut in half (a `$batch` envelope whole).
    em.setFaults({ malformedNext: 2, malformedKind: 'truncated' });
    const users = [1, 2, 3].map((i) => ({ ...user(i), groups: ['staff'] }) as ReturnType<typeof user>);
    const results = await s!.h.pushAll(users);
    expect(results.every((r) => (r as { outcome: string }).outcome === 'applied')).toBe(true);
    expect(em.stats()).toMatchObject({ users: 3, malformed: 2 });
    for (const i of [1, 2, 3]) {
      const remote = (await graph.user(upn(`user${i}`)))!;
      expect(await graph.groupsOf(remote.id)).toEqual(['staff']);
      expect(await s.h.links.get('entra', `u-${i}`)).toMatchObject({ remoteId: remote.id });
    }
    expect(await s.h.audit.query({ status: 'failed' })).toEqual([]);
    // Each cut-off reply was followed by the same request in place: no attempt was spent.
    expect(await s.h.audit.query({ status: 'retrying' })).toEqual([]);
    expect(em.stats().users).toBe(3);
  });

  it('quarantines on a proxy\'s HTML page with a 200, naming the proxy and not the page; once it is gone, the probe resumes', async () => {
    s = await setup(em, { upnDomain: DOMAIN });
    em.setFaults({ malformedRate: 1, malformedKind: 'html200' });
    const [job] = await s.h.client.userChanged(user(1));
    const state = await waitFor(() => s!.h.worker.quarantine.state());
    expect(state.reason).toMatch(
      /^Graph answered \S+ \S+.* with 200 and an HTML page \(text\/html[^)]*\) instead of JSON: a proxy answered instead of Microsoft Graph; .*GRAPH_BASE_URL should point straight at Microsoft Graph/,
    );
    expect(state.reason).not.toMatch(/Sign in/);
    expect(await s.h.worker.queue.isPaused()).toBe(true);

    em.setFaults({ malformedRate: 0 });
    await expect(s.h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
    expect(await s.h.worker.quarantine.state()).toBeUndefined();
    expect(em.stats().users).toBe(1);
    expect(await s.h.audit.query({ status: 'failed' })).toEqual([]);
  });

  it('a bad client secret quarantines the target naming the variable; once fixed it resumes; no secret leaks anywhere', async () => {
    const app = em.registerApp({ roles: [...SYNC_WORKER_ROLES], passwordAdministrator: true });
    const secret = 'Wr0ng~secret.marker-5150';
    const { logger, lines } = capturingLogger();
    s = await setup(em, { clientId: app.clientId, clientSecret: secret, upnDomain: DOMAIN }, { logger });
    const [pushed] = await s.h.client.userChanged(user(1));
    const state = await waitFor(() => s!.h.worker.quarantine.state());
    expect(state.reason).toMatch(new RegExp(`Entra rejected the credentials of app ${app.clientId} \\(AADSTS7000215: Invalid client secret provided.*\\); check ENTRA_CLIENT_SECRET`));
    expect(await s.h.worker.queue.isPaused()).toBe(true);

    // The operator fixes Entra's side: the app now has the secret idsync was given.
    em.registerApp({ clientId: app.clientId, clientSecret: secret, roles: [...SYNC_WORKER_ROLES], passwordAdministrator: true });
    await expect(s.h.finished(pushed!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
    expect((await s.h.job(pushed!.jobId)).attemptsMade).toBe(1);
    const userPassword = 'U53r-p4ssw0rd-marker!';
    const [pw] = await runJobs(s.h, () => s!.h.client.passwordChanged({ id: 'u-1' }, userPassword));
    expect(pw).toMatchObject({ ok: true });

    const audit = JSON.stringify(await s.h.audit.query({ limit: 1000 }));
    expect(audit).toMatch(/quarantine/);
    const everything = [await dumpPrefix(s.h.redis, s.h.prefix), lines.join('\n'), audit].join('\n');
    expect(lines.length).toBeGreaterThan(3);
    for (const leak of [secret, userPassword, app.clientSecret!, 'Bearer ey']) expect(everything).not.toContain(leak);
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it('a missing application permission quarantines naming it; the probe holds until it is granted', async () => {
    const roles = SYNC_WORKER_ROLES.filter((r) => r !== 'User.ReadWrite.All');
    const app = em.registerApp({ roles, passwordAdministrator: true });
    s = await setup(em, { clientId: app.clientId, clientSecret: app.clientSecret!, upnDomain: DOMAIN });
    const [pushed] = await s.h.client.userChanged(user(1));
    const state = await waitFor(() => s!.h.worker.quarantine.state());
    expect(state.reason).toMatch(/Graph refused POST \/users user1@\S+: Authorization_RequestDenied — Insufficient privileges to complete the operation; grant the application permission User\.ReadWrite\.All/);
    // Reading still works, so only the token's roles can tell the probe the cause is still there.
    await expect(s.connector.probe({})).rejects.toThrow(/still lacks the application permission User\.ReadWrite\.All/);

    em.registerApp({ clientId: app.clientId, clientSecret: app.clientSecret!, roles: [...SYNC_WORKER_ROLES], passwordAdministrator: true });
    await expect(s.h.finished(pushed!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
    expect(await s.h.worker.quarantine.state()).toBeUndefined();
  });

  it('authenticates with a certificate (ClientCertificateCredential from a PEM file); a wrong one names the variable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'idsync-entra-'));
    try {
      const [good, stranger] = await Promise.all([createClientCertificate('idsync-worker'), createClientCertificate('stranger')]);
      const app = em.registerApp({ certificatePem: good.certificatePem, roles: [...SYNC_WORKER_ROLES], passwordAdministrator: true });
      const pem = join(dir, 'worker.pem');
      const wrong = join(dir, 'stranger.pem');
      const keyOnly = join(dir, 'key-only.pem');
      await Promise.all([writeFile(pem, good.pem), writeFile(wrong, stranger.pem), writeFile(keyOnly, good.privateKeyPem)]);

      s = await setup(em, { clientId: app.clientId, clientSecret: undefined, clientCertificatePath: pem, upnDomain: DOMAIN });
      await expect(s.h.push(user(1))).resolves.toMatchObject({ operation: 'create' });
      expect(await graph.user(upn('user1'))).toMatchObject({ surname: '1' });
      await s.close();

      s = await setup(em, { clientId: app.clientId, clientSecret: undefined, clientCertificatePath: wrong, upnDomain: DOMAIN });
      await s.h.client.userChanged(user(2));
      const state = await waitFor(() => s!.h.worker.quarantine.state());
      expect(state.reason).toMatch(/AADSTS700027: The certificate with identifier used to sign the client assertion is not registered.*check ENTRA_CLIENT_CERTIFICATE_PATH/);

      const redis = workerRedis();
      try {
        await expect(createEntraConnector(entraConfig(em, { clientSecret: undefined, clientCertificatePath: keyOnly }), { redis })).rejects.toThrow(/must be a PEM file holding both the certificate and its private key/);
      } finally {
        await redis.quit();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an unknown tenant is a configuration error naming ENTRA_TENANT_ID', async () => {
    s = await setup(em, { tenantId: '00000000-0000-0000-0000-000000000001', upnDomain: DOMAIN });
    await expect(s.connector.probe({})).rejects.toMatchObject({ name: 'ConfigurationError', message: expect.stringMatching(/Entra does not know tenant 00000000-0000-0000-0000-000000000001 \(AADSTS90002\); check ENTRA_TENANT_ID/) });
  });

  it('keeps to writesPerSecond through the budget in Redis, so Graph never has to say 429', async () => {
    s = await setup(em, { upnDomain: DOMAIN, writesPerSecond: 50 }, { worker: { concurrency: 10 } });
    const started = Date.now();
    await s!.h.pushAll(Array.from({ length: 30 }, (_, i) => user(i)));
    // 30 writes at 50/s after a burst of 5: at least half a second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(await s.redis.pttl(`${s.prefix}:budget:entra:tat-us`)).toBeGreaterThan(0);
    expect(em.stats()).toMatchObject({ users: 30, throttled: 0 });
  });
});
