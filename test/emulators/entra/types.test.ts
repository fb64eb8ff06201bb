import { readFileSync } from 'node:fs';
import type { Client } from '@microsoft/microsoft-graph-client';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, graphClient, graphError, newUser, rawGraph, startTestEmulator } from './helpers.js';

/**
 * Every property the emulator returns must exist, with its type, in fixtures/graph-v1.0-types.json
 * (a subset of Microsoft's published v1.0 CSDL; refresh it from the reference when that changes).
 */
interface PropertySpec {
  type: string;
  nullable: boolean;
}
interface TypeSpec {
  baseType?: string | null;
  properties: Record<string, PropertySpec>;
}
interface TypesFile {
  entityTypes: Record<string, TypeSpec>;
  complexTypes: Record<string, TypeSpec>;
  enumTypes: Record<string, string[]>;
}

const types = JSON.parse(readFileSync(new URL('./fixtures/graph-v1.0-types.json', import.meta.url), 'utf8')) as TypesFile;

function entityProperties(name: string): Record<string, PropertySpec> {
  const t = types.entityTypes[name];
  if (!t) throw new Error(`unknown entity type ${name}`);
  const base = t.baseType ? entityProperties(t.baseType.replace(/^graph\./, '')) : {};
  return { ...base, ...t.properties };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const problems: string[] = [];
let checked = 0;

function checkValue(type: string, nullable: boolean, value: unknown, where: string): void {
  checked++;
  const collection = /^Collection\((.+)\)$/.exec(type);
  if (value === null) {
    if (!nullable || collection) problems.push(`${where}: null but ${type} is not nullable`);
    return;
  }
  if (collection) {
    if (!Array.isArray(value)) return void problems.push(`${where}: expected an array for ${type}`);
    value.forEach((v, i) => checkValue(collection[1]!, false, v, `${where}[${i}]`));
    return;
  }
  switch (type) {
    case 'Edm.String':
      if (typeof value !== 'string') problems.push(`${where}: expected string`);
      return;
    case 'Edm.Boolean':
      if (typeof value !== 'boolean') problems.push(`${where}: expected boolean`);
      return;
    case 'Edm.Int32':
      if (!Number.isInteger(value)) problems.push(`${where}: expected Int32`);
      return;
    case 'Edm.DateTimeOffset':
      if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value)) problems.push(`${where}: expected DateTimeOffset, got ${String(value)}`);
      return;
    case 'Edm.Guid':
      if (typeof value !== 'string' || !GUID.test(value)) problems.push(`${where}: expected Guid`);
      return;
    case 'Edm.TimeOfDay':
      if (typeof value !== 'string') problems.push(`${where}: expected TimeOfDay`);
      return;
  }
  const name = type.replace(/^graph\./, '');
  if (types.enumTypes[name]) {
    if (!types.enumTypes[name]!.includes(value as string)) problems.push(`${where}: '${String(value)}' is not a ${name}`);
    return;
  }
  const complex = types.complexTypes[name];
  if (!complex) return void problems.push(`${where}: type ${type} is not in the types file`);
  checkObject(complex.properties, value, where, name);
}

function checkObject(props: Record<string, PropertySpec>, value: unknown, where: string, typeName: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return void problems.push(`${where}: expected a ${typeName} object`);
  for (const [key, v] of Object.entries(value)) {
    if (key.startsWith('@')) continue; // instance annotations (@odata.type, @removed, ...)
    const spec = props[key];
    if (!spec) {
      problems.push(`${where}.${key}: not a property of ${typeName}`);
      continue;
    }
    checkValue(spec.type, spec.nullable, v, `${where}.${key}`);
  }
}

function checkEntity(entity: string, value: unknown, where: string): void {
  checkObject(entityProperties(entity), value, where, entity);
}

/** directoryObject collections name each item's type. */
function checkDirectoryObject(value: Record<string, unknown>, where: string): void {
  const t = String(value['@odata.type'] ?? '').replace('#microsoft.graph.', '');
  checkEntity(t || 'directoryObject', value, where);
}

function checkErrorEnvelope(body: unknown, where: string): void {
  const error = (body as { error?: Record<string, unknown> }).error;
  if (!error || typeof error.code !== 'string' || typeof error.message !== 'string') return void problems.push(`${where}: not a Graph error envelope`);
  const inner = error.innerError as Record<string, unknown> | undefined;
  if (!inner || typeof inner.date !== 'string' || typeof inner['request-id'] !== 'string' || typeof inner['client-request-id'] !== 'string') {
    problems.push(`${where}: innerError needs date, request-id, client-request-id`);
  }
  const allowed = new Set(['code', 'message', 'innerError', 'details']);
  for (const k of Object.keys(error)) if (!allowed.has(k)) problems.push(`${where}.${k}: unexpected error member`);
}

let emu: EntraEmulator;
let client: Client;

beforeAll(async () => {
  emu = await startTestEmulator({ domains: ['example.org'] });
  client = graphClient(emu);
});
afterAll(() => emu.close());

test('users, groups, organization, delta, photo metadata and errors match graph-v1.0-types.json', async () => {
  const full = newUser('typed', {
    givenName: 'Ty', surname: 'Ped', jobTitle: 'QA', department: 'Test', companyName: 'Contoso', employeeId: 'E9', employeeType: 'FTE',
    employeeHireDate: '2020-01-02T00:00:00Z', employeeOrgData: { costCenter: 'C1', division: 'D1' }, mail: 'typed@example.org',
    otherMails: ['alt@example.org'], businessPhones: ['+1 555 0100'], mobilePhone: '+1 555 0101', city: 'Oslo', country: 'NO',
    usageLocation: 'NO', preferredLanguage: 'nb-NO', onPremisesImmutableId: 'imm', showInAddressList: true, ageGroup: 'Adult',
    onPremisesExtensionAttributes: { extensionAttribute1: 'x', extensionAttribute15: 'y' },
  });
  const created = await client.api('/users').post(full);
  checkEntity('user', created, 'POST /users');
  checkEntity('user', await client.api(`/users/${created.id}`).get(), 'GET /users/{id}');
  checkEntity('user', await client.api(`/users/${created.id}`).select('*').get(), 'GET /users/{id}?$select=*');

  const { groupIds } = emu.seed({
    users: [{ userPrincipalName: `synced@${DOMAIN}`, onPremisesSyncEnabled: true, onPremisesImmutableId: 'abc' }],
    groups: [{ displayName: 'Typed', members: [created.id as string] }],
  });
  const sel = 'id,displayName,accountEnabled,createdDateTime,identities,proxyAddresses,onPremisesSyncEnabled,onPremisesLastSyncDateTime,securityIdentifier,lastPasswordChangeDateTime,passwordProfile,assignedLicenses,otherMails,userType,employeeOrgData,onPremisesExtensionAttributes';
  for (const [i, u] of (await client.api('/users').select(sel).get()).value.entries()) checkEntity('user', u, `GET /users value[${i}]`);

  checkEntity('group', await client.api(`/groups/${groupIds[0]}`).get(), 'GET /groups/{id}');
  checkEntity('group', await client.api(`/groups/${groupIds[0]}`).select('*').get(), 'GET /groups/{id}?$select=*');
  const g = await client.api('/groups').post({ displayName: 'New', mailEnabled: false, mailNickname: 'new', securityEnabled: true });
  checkEntity('group', g, 'POST /groups');
  for (const m of (await client.api(`/groups/${groupIds[0]}/members`).get()).value) checkDirectoryObject(m, 'members');
  for (const m of (await client.api(`/users/${created.id}/memberOf`).get()).value) checkDirectoryObject(m, 'memberOf');

  for (const o of (await client.api('/organization').get()).value) checkEntity('organization', o, 'GET /organization');
  checkEntity('organization', await client.api(`/organization/${emu.info.tenantId}`).get(), 'GET /organization/{id}');

  await client.api(`/users/${created.id}/photo/$value`).header('Content-Type', 'image/png').put(Buffer.from('89504e470d0a1a0a0000000d49484452000000300000003008060000', 'hex'));
  checkEntity('profilePhoto', await client.api(`/users/${created.id}/photo`).get(), 'GET photo');

  const r1 = await client.api('/users/delta').get();
  for (const u of r1.value) checkEntity('user', u, 'delta round 1');
  await client.api(`/users/${created.id}`).patch({ jobTitle: 'Lead' });
  const victim = await client.api('/users').post(newUser('victim'));
  await client.api(`/users/${victim.id}`).delete();
  const r2 = await client.api(r1['@odata.nextLink'] ?? r1['@odata.deltaLink']).get();
  for (const u of r2.value) checkEntity('user', u, 'delta round 2');
  checkDirectoryObject(await client.api(`/directory/deletedItems/${victim.id}`).get(), 'deletedItems/{id}');
  for (const u of (await client.api('/directory/deletedItems/microsoft.graph.user').get()).value) checkEntity('user', u, 'deletedItems list');
  checkDirectoryObject(await client.api(`/directory/deletedItems/${victim.id}/restore`).post({}), 'restore');

  checkErrorEnvelope((await rawGraph(emu, 'GET', '/users/nobody@' + DOMAIN)).body, '404');
  checkErrorEnvelope((await rawGraph(emu, 'POST', '/users', { body: newUser('typed') })).body, '400 conflict');
  checkErrorEnvelope((await rawGraph(emu, 'GET', '/organization', { token: null })).body, '401');
  checkErrorEnvelope((await rawGraph(emu, 'GET', `/users/${created.id}/photo/$value`.replace(created.id, victim.id))).body, 'photo 404');
  expect((await graphError(client.api('/users').top(1000).get())).statusCode).toBe(400);

  expect(problems).toEqual([]);
  expect(checked).toBeGreaterThan(400);
});

test('the checker itself rejects unknown properties, wrong types and bad nulls', () => {
  const before = problems.length;
  checkEntity('user', { shoeSize: 9, accountEnabled: 'yes', businessPhones: null, birthday: '2020-01-01', employeeOrgData: { floor: 3 } }, 'bogus');
  checkEntity('organization', { mobileDeviceManagementAuthority: 'excel' }, 'bogus');
  expect(problems.slice(before)).toHaveLength(6);
  problems.length = before;
});
