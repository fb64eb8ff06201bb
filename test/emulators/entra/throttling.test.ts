import type { Client } from '@microsoft/microsoft-graph-client';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, GRAPH_SCOPE, graphClient, graphError, newUser, rawGraph, secretCredential, startTestEmulator } from './helpers.js';

interface ItemResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
}

const SCALE = 0.1; // quota windows 10x shorter: 3,000 writes per 15 s

let emu: EntraEmulator;
let client: Client;

beforeAll(async () => {
  emu = await startTestEmulator({ timeScale: SCALE });
  client = graphClient(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const batchOf = (n: number, make: (i: number) => Record<string, unknown>): { requests: Record<string, unknown>[] } => ({
  requests: Array.from({ length: n }, (_, i) => ({ id: String(i), ...make(i) })),
});

describe('resource units', () => {
  test.each([
    ['/users', '2'],
    ['/users?$select=id', '1'],
    ['/users?$top=5', '1'],
    ['/users?$top=50', '2'],
    ['/organization', '1'],
    ['/users/delta?$select=displayName', '1'],
  ])('GET %s costs %s RU (x-ms-resource-unit)', async (path, ru) => {
    const res = await rawGraph(emu, 'GET', path);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ms-resource-unit')).toBe(ru);
    expect(res.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('content-type')).toBe('application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8');
  });

  test('group members cost 3, memberOf 2, writes 1; client-request-id is echoed', async () => {
    const { groupIds, userIds } = emu.seed({ users: [{ userPrincipalName: `r@${DOMAIN}` }], groups: [{ displayName: 'G', members: [`r@${DOMAIN}`] }] });
    expect((await rawGraph(emu, 'GET', `/groups/${groupIds[0]}/members`)).headers.get('x-ms-resource-unit')).toBe('3');
    expect((await rawGraph(emu, 'GET', `/users/${userIds[0]}/memberOf`)).headers.get('x-ms-resource-unit')).toBe('2');
    const patch = await rawGraph(emu, 'PATCH', `/users/${userIds[0]}`, { body: { jobTitle: 'x' }, headers: { 'client-request-id': 'abc-123' } });
    expect(patch.status).toBe(204);
    expect(patch.headers.get('x-ms-resource-unit')).toBe('1');
    expect(patch.headers.get('client-request-id')).toBe('abc-123');
  });

  test('the app+tenant RU bucket (S tenant: 3,500 RU / 10 s) → 429 ResourceUnitLimitExceeded', async () => {
    // Real time scale: the bucket refills at 350 RU/s, far slower than batches can spend it.
    const real = await startTestEmulator();
    try {
      const rc = graphClient(real);
      real.setFaults({ tenantSize: 'S' });
      let responses: ItemResponse[] = [];
      for (let i = 0; i < 200 && !responses.some((r) => r.status === 429); i++) {
        responses = (await rc.api('/$batch').post(batchOf(20, () => ({ method: 'GET', url: '/users' })))).responses;
      }
      const hit = responses.find((r) => r.status === 429)!;
      expect(hit.headers['x-ms-throttle-information']).toBe('ResourceUnitLimitExceeded');
      expect(hit.headers['x-ms-throttle-scope']).toBe(`Tenant_Application/ReadWrite/${real.info.clientId}/${real.info.tenantId}`);
      expect(real.stats().resourceUnits).toBeGreaterThanOrEqual(3_500 - 40);
    } finally {
      await real.close();
    }
  });
});

describe('write quota: 3,000 writes per 150 s per app+tenant', () => {
  test('x-ms-throttle-limit-percentage above 80 %, then 429 with a scaled Retry-After; the SDK retries through it', async () => {
    const { userIds } = emu.seed({ users: [{ userPrincipalName: `q@${DOMAIN}` }] });
    const write = { method: 'PATCH', url: `/users/${userIds[0]}`, headers: { 'Content-Type': 'application/json' }, body: { jobTitle: 'x' } };
    let sawPercentage = false;
    let throttled: ItemResponse | undefined;
    for (let i = 0; i < 400 && !throttled; i++) {
      const { responses } = await client.api('/$batch').post(batchOf(20, () => write));
      sawPercentage ||= (responses as ItemResponse[]).some((r) => Number(r.headers['x-ms-throttle-limit-percentage']) >= 0.8);
      throttled = (responses as ItemResponse[]).find((r) => r.status === 429);
    }
    expect(sawPercentage).toBe(true);
    expect(throttled!.headers['x-ms-throttle-information']).toBe('WriteLimitExceeded');
    const retryAfter = Number(throttled!.headers['Retry-After']);
    // One write refills in 150 s / 3,000 = 50 ms of Graph time, 5 ms at this scale.
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThan(0.05);
    expect(emu.stats().throttled).toBeGreaterThanOrEqual(1);
    expect(emu.stats().writes).toBeGreaterThanOrEqual(3_000);

    expect((throttled as ItemResponse & { body: unknown }).body).toMatchObject({
      error: { code: 'TooManyRequests', message: 'Please retry again later.', innerError: { code: '429', status: '429' } },
    });
    // The SDK's RetryHandler waits Retry-After out; advancing the clock refills the bucket outright.
    await expect(client.api(`/users/${userIds[0]}`).patch({ jobTitle: 'z' })).resolves.toBeUndefined();
    emu.advanceClock(150_000 * SCALE);
    const after = await rawGraph(emu, 'PATCH', `/users/${userIds[0]}`, { body: { jobTitle: 'ok' } });
    expect(after.status).toBe(204);
    expect(after.headers.get('x-ms-throttle-limit-percentage')).toBeNull();
  });
});

describe('faults', () => {
  test('failNext 503 is retried by the SDK (Retry-After scaled) and then succeeds', async () => {
    emu.setFaults({ failNext: 2, failNextStatus: 503 });
    await expect(client.api('/organization').get()).resolves.toBeTruthy();
    expect(emu.stats().byStatus['503']).toBe(2);
    expect(emu.stats().faultsInjected).toBe(2);
  });

  test('500 is not retried by the SDK', async () => {
    emu.setFaults({ failNext: 1, failNextStatus: 500 });
    const err = await graphError(client.api('/organization').get());
    expect(err.statusCode).toBe(500);
    expect(err.code).toBe('InternalServerError');
  });

  test("failNextMode 'after': the create happened, the SDK's retry then meets ObjectConflict", async () => {
    emu.setFaults({ failNext: 1, failNextStatus: 504, failNextMode: 'after' });
    const err = await graphError(client.api('/users').post(newUser('twice')));
    expect(err.statusCode).toBe(400);
    expect(JSON.parse(err.body).details[0].code).toBe('ObjectConflict');
    expect((await client.api(`/users/twice@${DOMAIN}`).get()).displayName).toBe('User twice');
  });

  test('errorRate picks from errorStatuses, per request', async () => {
    emu.setFaults({ errorRate: 1, errorStatuses: [502] });
    expect((await graphError(client.api('/organization').get())).statusCode).toBe(502);
    emu.setFaults({ errorRate: 0 });
    await expect(client.api('/organization').get()).resolves.toBeTruthy();
  });

  test('latency is added to every request', async () => {
    await client.api('/organization').get();
    emu.setFaults({ latencyMs: 150 });
    const t0 = Date.now();
    await client.api('/organization').get();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  test('tokenFailNext: a 503 from the token endpoint is retried by @azure/identity', async () => {
    emu.setFaults({ tokenFailNext: 1 });
    const before = emu.stats().tokenRequests;
    await expect(secretCredential(emu).getToken(GRAPH_SCOPE)).resolves.toBeTruthy();
    expect(emu.stats().tokenRequests - before).toBe(2);
  });
});
