// Configuration failure mid-run: Crowd's application password is revoked and the Entra client
// secret expires while users are being pushed. Each target is quarantined, sends nothing but
// its probes while it is, loses nothing, and resumes alone once its credentials are fixed:
// every user arrives, no job fails.
import { SYNC_WORKER_ROLES, type EntraEmulator } from '../../emulators/entra/index.js';
import type { CrowdEmulator } from '../../emulators/crowd/index.js';
import { APP_PASSWORD, startEmulator as startCrowd } from '../workers/crowd/helpers.js';
import { startEmulator as startEntra } from '../workers/entra/helpers.js';
import { waitFor } from '../helpers/wait.js';
import { hasRedisServer, startPrivateRedis, type PrivateRedis } from './support/private-redis.js';
import { chaosSize, chaosTimeoutMs } from './support/scale.js';
import { mismatches, startTargets, stormUsers, type Targets } from './support/storm.js';

const maybe = hasRedisServer ? describe : describe.skip;

maybe('chaos: configuration failure mid-run', () => {
  let redis: PrivateRedis;
  let crowd: CrowdEmulator;
  let entra: EntraEmulator;
  let t: Targets | undefined;
  beforeAll(async () => {
    [redis, crowd, entra] = await Promise.all([startPrivateRedis(), startCrowd(), startEntra()]);
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all([crowd?.close(), entra?.close(), redis?.stop()]);
  });

  it('quarantines each target, sends only probes while quarantined, and resumes alone once fixed with nothing lost', async () => {
    const n = chaosSize(60, 1000);
    const { creates } = stormUsers(2 * n);
    const before = creates.slice(0, n);
    const after = creates.slice(n);
    const renamed = before.filter((_, i) => i % 3 === 0).map((u) => ({ ...u, lastName: `${u.lastName}x`, displayName: `${u.displayName}x`, version: 2 }));
    t = await startTargets({ redisUrl: redis.url, crowd, entra });
    const [crowdWorker, entraWorker] = t.workers as [Targets['workers'][0], Targets['workers'][0]];
    expect(await t.settle(await t.client.userChangedMany(before))).toMatchObject({ crowd: 0, entra: 0, reasons: [] });

    // An administrator revokes the application password; the client secret passes its end
    // date, and the token in use expires (Graph time moves on an hour).
    crowd.setApplicationPassword('revoked-by-an-administrator');
    entra.expireClientSecrets();
    entra.advanceClock(3_600_000);
    const pending = [...(await t.client.userChangedMany(after)), ...(await t.client.userChangedMany(renamed))];
    const [crowdState, entraState] = await Promise.all([
      waitFor(() => crowdWorker.quarantine.state(), 20_000),
      waitFor(() => entraWorker.quarantine.state(), 20_000),
    ]);
    expect(crowdState.reason).toMatch(/Crowd rejected the application credentials of "idsync".*check CROWD_APP_NAME and CROWD_APP_PASSWORD/);
    expect(entraState.reason).toMatch(/Entra rejected the credentials of app .*AADSTS7000222.*check ENTRA_CLIENT_SECRET/);

    // Jobs that were running when the credentials broke go back to wait; then only probes.
    await waitFor(async () => (await crowdWorker.queue.getActiveCount()) + (await entraWorker.queue.getActiveCount()) === 0, 20_000);
    const c0 = crowd.stats();
    const e0 = entra.stats();
    await waitFor(() => crowd.stats().byRoute['GET search']! >= (c0.byRoute['GET search'] ?? 0) + 5 && entra.stats().tokenRequests >= e0.tokenRequests + 5, 20_000);
    const c1 = crowd.stats();
    const e1 = entra.stats();
    // Crowd: every request a probe (one cheap search), each refused; Entra: only token requests.
    expect(c1.requests - c0.requests).toBe((c1.byRoute['GET search'] ?? 0) - (c0.byRoute['GET search'] ?? 0));
    expect(c1.unauthorized - c0.unauthorized).toBe(c1.requests - c0.requests);
    expect(e1.graphRequests - e0.graphRequests).toBe(0);
    expect(await crowdWorker.queue.isPaused()).toBe(true);
    expect(await entraWorker.queue.isPaused()).toBe(true);

    // The operators fix both sides; nothing else is done: the probes resume the queues.
    crowd.setApplicationPassword(APP_PASSWORD);
    entra.registerApp({ clientId: entra.info.clientId, clientSecret: entra.info.clientSecret, roles: [...SYNC_WORKER_ROLES], passwordAdministrator: true });
    expect(await t.settle(pending)).toMatchObject({ crowd: 0, entra: 0, reasons: [] });
    expect(await crowdWorker.quarantine.state()).toBeUndefined();
    expect(await entraWorker.quarantine.state()).toBeUndefined();
    expect(await mismatches(crowd, entra, creates, renamed, [])).toEqual([]);
    expect(await crowdWorker.queue.getFailedCount()).toBe(0);
    expect(await entraWorker.queue.getFailedCount()).toBe(0);
  }, chaosTimeoutMs(60_000, 600_000));
});
