import { BatchResponseContent, type Client } from '@microsoft/microsoft-graph-client';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, graphClient, graphError, newUser, rawGraph, startTestEmulator } from './helpers.js';

interface ItemResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: { error?: { code: string; message: string } } & Record<string, unknown>;
}

let emu: EntraEmulator;
let client: Client;

beforeAll(async () => {
  emu = await startTestEmulator({ timeScale: 0.001 });
  client = graphClient(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const json = { 'Content-Type': 'application/json' };
const post = async (requests: unknown[]): Promise<ItemResponse[]> => (await client.api('/$batch').post({ requests })).responses;

test('items run in order with dependsOn; a failed dependency → 424 for its dependants', async () => {
  const { groupIds } = emu.seed({ groups: [{ displayName: 'Team' }] });
  const responses = await post([
    { id: '1', method: 'POST', url: '/users', headers: json, body: newUser('batch1') },
    { id: '2', method: 'GET', url: `/users/batch1@${DOMAIN}?$select=id,displayName`, dependsOn: ['1'] },
    { id: '3', method: 'POST', url: '/users', headers: json, body: newUser('batch1') },
    { id: '4', method: 'POST', url: `/groups/${groupIds[0]}/members/$ref`, headers: json, body: { '@odata.id': 'https://graph.microsoft.com/v1.0/directoryObjects/00000000-0000-0000-0000-000000000000' }, dependsOn: ['3'] },
  ]);
  const byId = Object.fromEntries(responses.map((r) => [r.id, r]));
  expect(byId['1']!.status).toBe(201);
  expect(byId['2']!.status).toBe(200);
  expect(byId['2']!.body).toMatchObject({ displayName: 'User batch1' });
  expect(byId['3']!.status).toBe(400);
  expect(byId['3']!.body!.error!.message).toMatch(/userPrincipalName already exists/);
  expect(byId['4']!.status).toBe(424);
  expect(responses.map((r) => r.id).sort()).toEqual(['1', '2', '3', '4']);
});

test('responses come back in any order (seeded), every id exactly once', async () => {
  const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
  const orders = new Set<string>();
  for (let round = 0; round < 5; round++) {
    const responses = await post(ids.map((id) => ({ id, method: 'GET', url: '/organization' })));
    expect([...responses.map((r) => r.id)].sort()).toEqual([...ids].sort());
    orders.add(responses.map((r) => r.id).join(','));
  }
  expect(orders.has(ids.join(','))).toBe(false);
  expect(orders.size).toBeGreaterThan(1);
  // The same seed gives the same order.
  const twins = await Promise.all([startTestEmulator({ randomSeed: 7 }), startTestEmulator({ randomSeed: 7 })]);
  try {
    const firsts = await Promise.all(
      twins.map(async (t) => ((await graphClient(t).api('/$batch').post({ requests: ids.map((id) => ({ id, method: 'GET', url: '/organization' })) })).responses as ItemResponse[]).map((r) => r.id)),
    );
    expect(firsts[0]).toEqual(firsts[1]);
  } finally {
    await Promise.all(twins.map((t) => t.close()));
  }
});

test('per-item headers use the exact casing BatchResponseContent needs', async () => {
  const raw = await client.api('/$batch').post({ requests: [{ id: 'a', method: 'GET', url: '/organization' }] });
  const item = raw.responses[0] as ItemResponse;
  expect(item.headers['Content-Type']).toMatch(/^application\/json;odata\.metadata=minimal/);
  expect(item.headers['x-ms-resource-unit']).toBe('1');
  const content = new BatchResponseContent(raw);
  const res = content.getResponseById('a');
  expect(res.status).toBe(200);
  expect(((await res.json()) as { value: unknown[] }).value).toHaveLength(1);
});

test("'/v1.0/…' item URLs → per-item 400 \"Resource not found for the segment 'v1.0'\"", async () => {
  const [item] = await post([{ id: '1', method: 'GET', url: '/v1.0/users' }]);
  expect(item!.status).toBe(400);
  expect(item!.body!.error!.message).toBe("Resource not found for the segment 'v1.0'.");
  // Relative URLs without the leading slash are fine.
  const [ok] = await post([{ id: '1', method: 'GET', url: 'users?$top=1' }]);
  expect(ok!.status).toBe(200);
});

test('batch limits: ≤ 20 items, unique ids, Content-Type with a body, known dependsOn', async () => {
  const many = Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: 'GET', url: '/organization' }));
  const tooMany = await graphError(client.api('/$batch').post({ requests: many }));
  expect(tooMany.statusCode).toBe(400);
  expect((await post(many.slice(0, 20))).length).toBe(20);
  expect((await graphError(client.api('/$batch').post({ requests: [{ id: 'x', method: 'GET', url: '/organization' }, { id: 'X', method: 'GET', url: '/organization' }] }))).statusCode).toBe(400);
  const noType = await graphError(client.api('/$batch').post({ requests: [{ id: '1', method: 'POST', url: '/users', body: newUser('nt') }] }));
  expect(noType.message).toBe('Write request id : 1 does not contain Content-Type header or body.');
  expect((await graphError(client.api('/$batch').post({ requests: [{ id: '1', method: 'GET', url: '/organization', dependsOn: ['9'] }] }))).statusCode).toBe(400);
});

test('each item is charged against the write quota: 429 items carry Retry-After, earlier ones succeed', async () => {
  // Real time scale: 3,000 writes per 150 s refill at only 20/s, so 151 batches of 20 overrun it.
  const real = await startTestEmulator();
  try {
    const rc = graphClient(real);
    real.seed({ users: [{ userPrincipalName: `w@${DOMAIN}` }] });
    const batch = Array.from({ length: 20 }, (_, i) => ({ id: String(i), method: 'PATCH', url: `/users/w@${DOMAIN}`, headers: json, body: { jobTitle: `t${i}` } }));
    let responses: ItemResponse[] = [];
    for (let i = 0; i < 160 && !responses.some((r) => r.status === 429); i++) {
      responses = ((await rc.api('/$batch').post({ requests: batch })).responses as ItemResponse[]).sort((a, b) => Number(a.id) - Number(b.id));
    }
    const first429 = responses.findIndex((r) => r.status === 429);
    expect(first429).toBeGreaterThanOrEqual(0);
    expect(responses.slice(0, first429).every((r) => r.status === 204)).toBe(true);
    const item = responses[first429]!;
    expect(Number(item.headers['Retry-After'])).toBeGreaterThan(0);
    expect(item.headers['x-ms-throttle-information']).toBe('WriteLimitExceeded');
    expect(item.headers['x-ms-throttle-scope']).toBe(`Tenant_Application/Write/${real.info.clientId}/${real.info.tenantId}`);
    expect(item.body!.error!.code).toBe('TooManyRequests');
    expect(real.stats().writes).toBeGreaterThanOrEqual(3_000);
  } finally {
    await real.close();
  }
});

test('random-throttle knob applies per item, with scaled Retry-After', async () => {
  emu.setFaults({ throttleRate: 1, faultRetryAfterSeconds: 2 });
  const responses = await post([
    { id: '1', method: 'GET', url: '/organization' },
    { id: '2', method: 'GET', url: '/organization' },
  ]);
  expect(responses.map((r) => r.status)).toEqual([429, 429]);
  expect(responses[0]!.headers['Retry-After']).toBe('0.002');
  expect(emu.stats().throttled).toBe(2);
});

test('stats count batch items and their writes', async () => {
  emu.resetStats();
  await post([
    { id: '1', method: 'POST', url: '/users', headers: json, body: newUser('s1') },
    { id: '2', method: 'POST', url: '/users', headers: json, body: newUser('s2') },
    { id: '3', method: 'GET', url: '/users' },
  ]);
  const s = emu.stats();
  expect(s.batchRequests).toBe(1);
  expect(s.batchItems).toBe(3);
  expect(s.writes).toBe(2);
  expect(s.resourceUnits).toBe(4);
});

test('binary bodies travel base64 in items', async () => {
  const { userIds } = emu.seed({ users: [{ userPrincipalName: `pic@${DOMAIN}` }] });
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000002000000030806000000', 'hex');
  const [put, get] = (await post([
    { id: '1', method: 'PUT', url: `/users/${userIds[0]}/photo/$value`, headers: { 'Content-Type': 'image/png' }, body: png.toString('base64') },
    { id: '2', method: 'GET', url: `/users/${userIds[0]}/photo/$value`, dependsOn: ['1'] },
  ])).sort((a, b) => a.id.localeCompare(b.id));
  expect(put!.status).toBe(200);
  expect(get!.headers['Content-Type']).toBe('image/png');
  expect(Buffer.from(get!.body as unknown as string, 'base64')).toEqual(png);
  const raw = await rawGraph(emu, 'GET', `/users/${userIds[0]}/photo`);
  expect(raw.body).toMatchObject({ width: 2, height: 3 });
});
