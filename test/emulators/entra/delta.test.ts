import type { Client } from '@microsoft/microsoft-graph-client';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, graphClient, graphError, newUser, rawGraph, startTestEmulator } from './helpers.js';

interface DeltaItem {
  id: string;
  '@removed'?: { reason: string };
  [k: string]: unknown;
}
interface Round {
  items: DeltaItem[];
  pages: number;
  deltaLink: string;
}

let emu: EntraEmulator;
let client: Client;

beforeAll(async () => {
  emu = await startTestEmulator();
  client = graphClient(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

/** Follows nextLinks until the deltaLink, as the worker will. */
async function round(start: string, headers: Record<string, string> = {}): Promise<Round> {
  const items: DeltaItem[] = [];
  let pages = 0;
  let url = start;
  for (;;) {
    const page = await client.api(url).headers(headers).get();
    pages++;
    items.push(...page.value);
    expect(page['@odata.nextLink'] && page['@odata.deltaLink']).toBeFalsy();
    if (page['@odata.deltaLink']) return { items, pages, deltaLink: page['@odata.deltaLink'] };
    url = page['@odata.nextLink'];
    expect(url.startsWith(emu.info.graphBaseUrl)).toBe(true);
  }
}

function seedUsers(n: number): void {
  emu.seed({ generateUsers: { count: n, prefix: 'd' } });
}

test('round 1: snapshot of existing users, paged, with $select honoured and id always present', async () => {
  seedUsers(5);
  const { userIds } = emu.seed({ users: [{ userPrincipalName: `gone@${DOMAIN}`, deleted: true }] });
  emu.setFaults({ deltaPageSize: 2 });
  const r = await round('/users/delta?$select=displayName,jobTitle');
  expect(r.pages).toBe(3);
  expect(r.items).toHaveLength(5);
  expect(r.items.map((i) => i.id)).not.toContain(userIds[0]);
  for (const item of r.items) expect(Object.keys(item).sort()).toEqual(['displayName', 'id']); // unset jobTitle omitted
  expect(new URL(r.deltaLink).searchParams.has('$deltatoken')).toBe(true);
});

test('Prefer: odata.maxpagesize sets the page size', async () => {
  seedUsers(5);
  const r = await round('/users/delta', { Prefer: 'odata.maxpagesize=4' });
  expect(r.pages).toBe(2);
});

test('later rounds: creates, selected changes, @removed changed/deleted, restore as new', async () => {
  seedUsers(3);
  const r1 = await round('/users/delta?$select=displayName,jobTitle,userPrincipalName');
  const [a, b, c] = r1.items.map((i) => i.id) as [string, string, string];
  const created = await client.api('/users').post(newUser('newbie'));
  await client.api(`/users/${a}`).patch({ jobTitle: 'Boss' });
  await client.api(`/users/${b}`).patch({ department: 'Not selected' });
  await client.api(`/users/${c}`).delete();

  const r2 = await round(r1.deltaLink);
  const byId = new Map(r2.items.map((i) => [i.id, i]));
  expect(byId.get(created.id)).toMatchObject({ displayName: 'User newbie', userPrincipalName: `newbie@${DOMAIN}` });
  expect(byId.get(a)).toMatchObject({ jobTitle: 'Boss', displayName: expect.any(String) });
  expect(byId.has(b)).toBe(false);
  expect(byId.get(c)).toEqual({ id: c, '@removed': { reason: 'changed' } });

  await client.api(`/directory/deletedItems/${c}/restore`).post({});
  await client.api(`/users/${created.id}`).delete();
  await client.api(`/directory/deletedItems/${created.id}`).delete();
  const r3 = await round(r2.deltaLink);
  const byId3 = new Map(r3.items.map((i) => [i.id, i]));
  expect(byId3.get(c)).toMatchObject({ id: c, displayName: expect.any(String) });
  expect(byId3.get(created.id)).toEqual({ id: created.id, '@removed': { reason: 'deleted' } });

  const r4 = await round(r3.deltaLink);
  expect(r4.items).toEqual([]);
});

test('Prefer: return=minimal sends only changed properties, cleared ones as null', async () => {
  emu.seed({ users: [{ userPrincipalName: `min@${DOMAIN}`, displayName: 'Min', jobTitle: 'Old', department: 'X' }] });
  const r1 = await round('/users/delta?$select=displayName,jobTitle,department');
  const id = r1.items[0]!.id;
  await client.api(`/users/${id}`).patch({ jobTitle: 'New', department: null });
  const res = await rawGraph(emu, 'GET', r1.deltaLink.slice(emu.info.graphBaseUrl.length + 'v1.0'.length), { headers: { Prefer: 'return=minimal' } });
  expect(res.headers.get('preference-applied')).toBe('return=minimal');
  expect((res.body as { value: unknown[] }).value).toEqual([{ jobTitle: 'New', department: null, id }]);
});

test('$deltatoken=latest: no snapshot, only what happens next', async () => {
  seedUsers(3);
  const latest = await client.api('/users/delta?$deltatoken=latest').get();
  expect(latest.value).toEqual([]);
  const created = await client.api('/users').post(newUser('after'));
  const r = await round(latest['@odata.deltaLink']);
  expect(r.items.map((i) => i.id)).toEqual([created.id]);
});

test('expired tokens → 400 syncStateNotFound (knob and 7-day age)', async () => {
  seedUsers(1);
  const r1 = await round('/users/delta');
  emu.expireDeltaTokens();
  const err = await graphError(client.api(r1.deltaLink).get());
  expect(err.statusCode).toBe(400);
  expect(err.code).toBe('syncStateNotFound');
  expect(err.message).toMatch(/delta token is expired/);

  const r2 = await round('/users/delta');
  emu.advanceClock(7 * 86_400_000 + 1000);
  try {
    expect((await graphError(graphClient(emu).api(r2.deltaLink).get())).code).toBe('syncStateNotFound');
  } finally {
    emu.advanceClock(-(7 * 86_400_000 + 1000));
  }
});

test('forced reset → 410 Gone with a Location that starts a fresh round 1', async () => {
  seedUsers(3);
  const r1 = await round('/users/delta?$select=displayName');
  emu.forceDeltaReset();
  const res = await rawGraph(emu, 'GET', r1.deltaLink);
  expect(res.status).toBe(410);
  expect((res.body as { error: { code: string } }).error.code).toBe('resyncRequired');
  const location = res.headers.get('location')!;
  expect(location).toBe(`${emu.info.graphBaseUrl}v1.0/users/delta?$select=displayName&$deltatoken=`);
  const again = await round(location);
  expect(again.items).toHaveLength(3);
  const sdkErr = await graphError(client.api(r1.deltaLink).get());
  expect(sdkErr.statusCode).toBe(410);
});

test('duplicate knob: the same user shows up on two pages', async () => {
  seedUsers(6);
  emu.setFaults({ deltaDuplicates: true, deltaPageSize: 3 });
  const r = await round('/users/delta');
  const ids = r.items.map((i) => i.id);
  expect(new Set(ids).size).toBe(6);
  expect(ids.length).toBeGreaterThan(6);
});

test('eventual consistency: a user created inside the delay surfaces in the next round', async () => {
  const r1 = await round('/users/delta');
  emu.setFaults({ eventualConsistencyMs: 30_000 });
  const created = await client.api('/users').post(newUser('slow'));
  const r2 = await round(r1.deltaLink);
  expect(r2.items).toEqual([]);
  emu.advanceClock(30_000);
  try {
    const r3 = await round(r2.deltaLink);
    expect(r3.items.map((i) => i.id)).toEqual([created.id]);
  } finally {
    emu.advanceClock(-30_000);
  }
});

test('unsupported: $top, $orderby, non-id filters, > 50 ids, $select with a token', async () => {
  expect((await graphError(client.api('/users/delta').top(5).get())).code).toBe('Request_UnsupportedQuery');
  expect((await graphError(client.api('/users/delta').orderby('displayName').get())).code).toBe('Request_UnsupportedQuery');
  expect((await graphError(client.api('/users/delta').filter("displayName eq 'x'").get())).code).toBe('Request_UnsupportedQuery');
  const many = Array.from({ length: 51 }, (_, i) => `id eq '00000000-0000-0000-0000-${String(i).padStart(12, '0')}'`).join(' or ');
  expect((await graphError(client.api('/users/delta').filter(many).get())).code).toBe('Request_UnsupportedQuery');
  const r = await round('/users/delta');
  expect((await graphError(client.api(`${r.deltaLink}&$select=displayName`).get())).statusCode).toBe(400);
});

test('$filter=id eq … tracks only those users; /microsoft.graph.delta is the same function', async () => {
  const { userIds } = emu.seed({ users: [{ userPrincipalName: `x1@${DOMAIN}` }, { userPrincipalName: `x2@${DOMAIN}` }] });
  const r1 = await round(`/users/microsoft.graph.delta?$filter=id eq '${userIds[0]}'`);
  expect(r1.items.map((i) => i.id)).toEqual([userIds[0]]);
  await client.api(`/users/${userIds[1]}`).patch({ jobTitle: 'x' });
  expect((await round(r1.deltaLink)).items).toEqual([]);
});
