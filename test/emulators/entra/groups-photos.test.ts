import { ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, graphClient, graphError, newUser, rawGraph, secretCredential, startTestEmulator } from './helpers.js';

let emu: EntraEmulator;
let client: Client;

beforeAll(async () => {
  emu = await startTestEmulator();
  client = graphClient(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const ref = (id: string): { '@odata.id': string } => ({ '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${id}` });

describe('groups', () => {
  test('create, add with $ref, duplicate add → 400 "already exist", remove, remove again → 404', async () => {
    const g = await client.api('/groups').post({ displayName: 'Engineers', mailEnabled: false, mailNickname: 'eng', securityEnabled: true });
    expect(g).toMatchObject({ displayName: 'Engineers', securityEnabled: true, groupTypes: [] });
    const u = await client.api('/users').post(newUser('member'));
    expect(await client.api(`/groups/${g.id}/members/$ref`).post(ref(u.id))).toBeUndefined();
    const dup = await graphError(client.api(`/groups/${g.id}/members/$ref`).post(ref(u.id)));
    expect(dup.statusCode).toBe(400);
    expect(dup.message).toBe("One or more added object references already exist for the following modified properties: 'members'.");

    const members = await client.api(`/groups/${g.id}/members`).get();
    expect(members.value).toEqual([expect.objectContaining({ '@odata.type': '#microsoft.graph.user', id: u.id, userPrincipalName: `member@${DOMAIN}` })]);
    const memberOf = await client.api(`/users/${u.id}/memberOf`).get();
    expect(memberOf.value).toEqual([expect.objectContaining({ '@odata.type': '#microsoft.graph.group', id: g.id, displayName: 'Engineers' })]);

    expect(await client.api(`/groups/${g.id}/members/${u.id}/$ref`).delete()).toBeUndefined();
    const again = await graphError(client.api(`/groups/${g.id}/members/${u.id}/$ref`).delete());
    expect(again.statusCode).toBe(404);
    expect(again.code).toBe('Request_ResourceNotFound');
  });

  test('a dynamic group refuses member writes with 400; its rule decides', async () => {
    const { groupIds, userIds } = emu.seed({
      users: [{ userPrincipalName: `in@${DOMAIN}` }, { userPrincipalName: `out@${DOMAIN}` }],
      groups: [{ displayName: 'Everyone', groupTypes: ['DynamicMembership'], members: [`in@${DOMAIN}`] }],
    });
    const [g, inside, outside] = [groupIds[0]!, userIds[0]!, userIds[1]!];
    const add = await graphError(client.api(`/groups/${g}/members/$ref`).post(ref(outside)));
    expect([add.statusCode, add.code]).toEqual([400, 'Request_BadRequest']);
    const bind = await graphError(client.api(`/groups/${g}`).patch({ 'members@odata.bind': [`https://graph.microsoft.com/v1.0/directoryObjects/${outside}`] }));
    expect(bind.statusCode).toBe(400);
    const remove = await graphError(client.api(`/groups/${g}/members/${inside}/$ref`).delete());
    expect([remove.statusCode, remove.message]).toEqual([400, 'The members of a group with dynamic membership cannot be changed.']);
    const members = await client.api(`/groups/${g}/members`).get();
    expect(members.value.map((m: { id: string }) => m.id)).toEqual([inside]);
  });

  test('missing member or group → 404 Request_ResourceNotFound', async () => {
    const { groupIds, userIds } = emu.seed({ users: [{ userPrincipalName: `x@${DOMAIN}` }], groups: [{ displayName: 'G' }] });
    const missing = '11111111-1111-1111-1111-111111111111';
    const e1 = await graphError(client.api(`/groups/${groupIds[0]}/members/$ref`).post(ref(missing)));
    expect(e1.statusCode).toBe(404);
    expect(e1.message).toBe(`Resource '${missing}' does not exist or one of its queried reference-property objects are not present.`);
    expect((await graphError(client.api(`/groups/${missing}/members/$ref`).post(ref(userIds[0]!)))).statusCode).toBe(404);
    expect((await graphError(client.api(`/groups/${missing}/members/${userIds[0]}/$ref`).delete())).statusCode).toBe(404);
  });

  test('members@odata.bind is all-or-nothing and capped at 20', async () => {
    const { userIds, groupIds } = emu.seed({
      users: Array.from({ length: 3 }, (_, i) => ({ userPrincipalName: `b${i}@${DOMAIN}` })),
      groups: [{ displayName: 'Bind', members: [`b0@${DOMAIN}`] }],
    });
    const bind = (ids: string[]): { 'members@odata.bind': string[] } => ({ 'members@odata.bind': ids.map((id) => ref(id)['@odata.id']) });
    expect((await graphError(client.api(`/groups/${groupIds[0]}`).patch(bind([userIds[1]!, userIds[0]!])))).statusCode).toBe(400);
    expect((await client.api(`/groups/${groupIds[0]}/members`).get()).value).toHaveLength(1);
    await client.api(`/groups/${groupIds[0]}`).patch(bind([userIds[1]!, userIds[2]!]));
    expect((await client.api(`/groups/${groupIds[0]}/members`).get()).value).toHaveLength(3);
    expect((await graphError(client.api(`/groups/${groupIds[0]}`).patch(bind(Array(21).fill(userIds[1]!))))).statusCode).toBe(400);
  });

  test('a user inside the eventual-consistency window cannot be added yet', async () => {
    const { groupIds } = emu.seed({ groups: [{ displayName: 'EC' }] });
    emu.setFaults({ eventualConsistencyMs: 10_000 });
    const u = await client.api('/users').post(newUser('fresh'));
    expect((await graphError(client.api(`/groups/${groupIds[0]}/members/$ref`).post(ref(u.id)))).statusCode).toBe(404);
    emu.advanceClock(10_000);
    try {
      await expect(client.api(`/groups/${groupIds[0]}/members/$ref`).post(ref(u.id))).resolves.toBeUndefined();
    } finally {
      emu.advanceClock(-10_000);
    }
  });

  test('list and filter groups; transitive members follow nesting', async () => {
    const { groupIds } = emu.seed({ users: [{ userPrincipalName: `deep@${DOMAIN}` }], groups: [{ displayName: 'Inner', members: [`deep@${DOMAIN}`] }] });
    const outer = await client.api('/groups').post({ displayName: 'Outer', mailEnabled: false, mailNickname: 'outer', securityEnabled: true });
    await client.api(`/groups/${outer.id}/members/$ref`).post(ref(groupIds[0]!));
    expect((await client.api('/groups').filter("displayName eq 'Outer'").get()).value.map((g: { id: string }) => g.id)).toEqual([outer.id]);
    const transitive = await client.api(`/groups/${outer.id}/transitiveMembers`).get();
    expect(transitive.value.map((m: { '@odata.type': string }) => m['@odata.type']).sort()).toEqual(['#microsoft.graph.group', '#microsoft.graph.user']);
  });

  test('soft-deleted members disappear from member lists and return on restore', async () => {
    const { userIds, groupIds } = emu.seed({ users: [{ userPrincipalName: `sd@${DOMAIN}` }], groups: [{ displayName: 'SD', members: [`sd@${DOMAIN}`] }] });
    await client.api(`/users/${userIds[0]}`).delete();
    expect((await client.api(`/groups/${groupIds[0]}/members`).get()).value).toEqual([]);
    await client.api(`/directory/deletedItems/${userIds[0]}/restore`).post({});
    expect((await client.api(`/groups/${groupIds[0]}/members`).get()).value).toHaveLength(1);
  });
});

describe('photos', () => {
  // A minimal JPEG header with an SOF0 of 48x32.
  const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffc0000b080020003001011100ffd9', 'hex');

  test('no photo → 404 ImageNotFound on metadata and $value', async () => {
    const u = await client.api('/users').post(newUser('nophoto'));
    const e = await graphError(client.api(`/users/${u.id}/photo`).get());
    expect(e.statusCode).toBe(404);
    expect(e.code).toBe('ImageNotFound');
    expect((await graphError(client.api(`/users/${u.id}/photo/$value`).responseType(ResponseType.ARRAYBUFFER).get())).statusCode).toBe(404);
  });

  test('PUT $value, then metadata and bytes come back', async () => {
    const u = await client.api('/users').post(newUser('photo'));
    await client.api(`/users/${u.id}/photo/$value`).header('Content-Type', 'image/jpeg').put(jpeg);
    const meta = await client.api(`/users/${u.id}/photo`).get();
    expect(meta).toMatchObject({ '@odata.mediaContentType': 'image/jpeg', width: 48, height: 32, id: '48X32' });
    expect(meta['@odata.mediaEtag']).toMatch(/^W\/"/);
    const bytes = await client.api(`/users/${u.id}/photo/$value`).responseType(ResponseType.ARRAYBUFFER).get();
    expect(Buffer.from(bytes as ArrayBuffer)).toEqual(jpeg);
    const raw = await rawGraph(emu, 'GET', `/users/${u.id}/photo/$value`);
    expect(raw.headers.get('content-type')).toBe('image/jpeg');
    await client.api(`/users/${u.id}/photo`).delete();
    expect((await graphError(client.api(`/users/${u.id}/photo`).get())).code).toBe('ImageNotFound');
  });

  test('photo reads need a photo or user read role', async () => {
    const { userIds } = emu.seed({ users: [{ userPrincipalName: `p@${DOMAIN}`, photo: { contentType: 'image/jpeg', data: jpeg } }] });
    const app = emu.registerApp({ roles: ['Group.Read.All'] });
    const other = graphClient(emu, secretCredential(emu, app.clientId, app.clientSecret));
    expect((await graphError(other.api(`/users/${userIds[0]}/photo`).get())).statusCode).toBe(403);
  });
});
