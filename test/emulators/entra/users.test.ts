import type { Client } from '@microsoft/microsoft-graph-client';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, graphClient, graphError, newUser, rawGraph, secretCredential, startTestEmulator } from './helpers.js';

let emu: EntraEmulator;
let client: Client;

beforeAll(async () => {
  emu = await startTestEmulator({ domains: [{ name: 'fed.example.com', federated: true }, 'example.org'] });
  client = graphClient(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

describe('POST /users', () => {
  test('201 with the default property set and an entity @odata.context', async () => {
    const created = await client.api('/users').post(newUser('alice', { givenName: 'Alice', employeeId: 'E1' }));
    expect(created['@odata.context']).toBe(`${emu.info.graphBaseUrl}v1.0/$metadata#users/$entity`);
    expect(Object.keys(created).sort()).toEqual(
      ['@odata.context', 'businessPhones', 'displayName', 'givenName', 'id', 'jobTitle', 'mail', 'mobilePhone', 'officeLocation', 'preferredLanguage', 'surname', 'userPrincipalName'].sort(),
    );
    expect(created.givenName).toBe('Alice');
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test.each(['accountEnabled', 'displayName', 'mailNickname', 'userPrincipalName', 'passwordProfile'])('missing %s → 400', async (prop) => {
    const body = newUser('bob');
    delete body[prop];
    const err = await graphError(client.api('/users').post(body));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('Request_BadRequest');
    expect(err.message).toBe(`Property ${prop} value is required but is empty or missing.`);
  });

  test('UPN rules: verified domain, allowed characters, length', async () => {
    const unverified = await graphError(client.api('/users').post(newUser('c', { userPrincipalName: 'c@contoso.com' })));
    expect(unverified.message).toMatch(/domain portion of the userPrincipalName property is invalid/);
    const accent = await graphError(client.api('/users').post(newUser('d', { userPrincipalName: `dé@${DOMAIN}` })));
    expect(accent.message).toBe("Invalid value specified for property 'userPrincipalName' of resource 'User'.");
    expect(JSON.parse(accent.body).details).toEqual([{ code: 'InvalidValue', target: 'userPrincipalName' }]);
    const hashDomain = await graphError(client.api('/users').post(newUser('e', { userPrincipalName: 'e@bad#domain.com' })));
    expect(hashDomain.message).toBe('One or more properties contains invalid values.');
    const tooLong = await graphError(client.api('/users').post(newUser('f', { userPrincipalName: `${'f'.repeat(65)}@${DOMAIN}` })));
    expect(tooLong.statusCode).toBe(400);
    // Allowed specials and any verified domain, case-insensitively.
    await expect(client.api('/users').post(newUser('g', { userPrincipalName: "o'neil.g_h-i!#^~@EXAMPLE.org" }))).resolves.toBeTruthy();
  });

  test('length limits', async () => {
    for (const [prop, max] of [['displayName', 256], ['givenName', 64], ['jobTitle', 128], ['employeeId', 16], ['mailNickname', 64]] as const) {
      const err = await graphError(client.api('/users').post(newUser(`len${prop}`, { [prop]: 'x'.repeat(max + 1) })));
      expect(err.message).toBe(`Invalid value specified for property '${prop}' of resource 'User'.`);
    }
  });

  test('duplicate UPN → 400 ObjectConflict (case-insensitive)', async () => {
    await client.api('/users').post(newUser('dup'));
    const err = await graphError(client.api('/users').post(newUser('dup2', { userPrincipalName: `DUP@${DOMAIN.toUpperCase()}` })));
    expect(err.statusCode).toBe(400);
    expect(err.message).toBe('Another object with the same value for property userPrincipalName already exists.');
    expect(JSON.parse(err.body).details).toEqual([{ target: 'userPrincipalName', code: 'ObjectConflict' }]);
  });

  test('mail colliding with another proxy address → ObjectConflict on proxyAddresses', async () => {
    const a = await client.api('/users').post(newUser('m1', { mail: 'shared@example.org' }));
    const err = await graphError(client.api('/users').post(newUser('m2', { mail: 'SHARED@example.org' })));
    const details = JSON.parse(err.body).details;
    expect(details[0]).toMatchObject({ code: 'ObjectConflict', target: 'proxyAddresses' });
    expect(details[1]).toMatchObject({ code: 'ConflictingObjects', target: a.id });
  });

  test('password complexity is checked and can be switched off', async () => {
    const err = await graphError(client.api('/users').post(newUser('weak', { passwordProfile: { password: 'password' } })));
    expect(err.message).toMatch(/does not comply with password complexity requirements/);
    emu.setFaults({ passwordComplexity: false });
    await expect(client.api('/users').post(newUser('weak', { passwordProfile: { password: 'password' } }))).resolves.toBeTruthy();
  });

  test('federated domains need onPremisesImmutableId', async () => {
    const err = await graphError(client.api('/users').post(newUser('fed', { userPrincipalName: 'fed@fed.example.com' })));
    expect(err.message).toBe('Property onPremisesImmutableId value is required but is empty or missing.');
    await expect(client.api('/users').post(newUser('fed', { userPrincipalName: 'fed@fed.example.com', onPremisesImmutableId: 'abc123==' }))).resolves.toBeTruthy();
  });

  test('read-only and unknown properties are refused', async () => {
    expect((await graphError(client.api('/users').post(newUser('ro', { createdDateTime: '2020-01-01T00:00:00Z' })))).message).toBe("Property 'createdDateTime' is read-only and cannot be set.");
    expect((await graphError(client.api('/users').post(newUser('uk', { favouriteColour: 'blue' })))).message).toBe("Invalid property 'favouriteColour'.");
  });
});

describe('GET /users/{id|upn}', () => {
  test('by id, by UPN (any case), by users(\'…\'); $select returns exactly what was asked', async () => {
    const u = await client.api('/users').post(newUser('reader', { employeeId: 'E42' }));
    expect((await client.api(`/users/${u.id}`).get()).userPrincipalName).toBe(`reader@${DOMAIN}`);
    expect((await client.api(`/users/READER@${DOMAIN}`).get()).id).toBe(u.id);
    expect((await client.api(`/users('reader@${DOMAIN}')`).get()).id).toBe(u.id);
    const sel = await client.api(`/users/${u.id}`).select(['employeeId', 'accountEnabled', 'onPremisesImmutableId']).get();
    expect(sel).toEqual({
      '@odata.context': `${emu.info.graphBaseUrl}v1.0/$metadata#users(employeeId,accountEnabled,onPremisesImmutableId)/$entity`,
      employeeId: 'E42',
      accountEnabled: true,
      onPremisesImmutableId: null,
    });
  });

  test('404 Request_ResourceNotFound; unknown $select property → 400', async () => {
    const err = await graphError(client.api('/users/00000000-0000-0000-0000-000000000000').get());
    expect(err.statusCode).toBe(404);
    expect(err.code).toBe('Request_ResourceNotFound');
    expect(err.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const sel = await graphError(client.api('/users').select('nope').get());
    expect(sel.statusCode).toBe(400);
    expect(sel.message).toMatch(/Could not find a property named 'nope' on type 'microsoft.graph.user'/);
  });

  test("UPNs starting with '$' need the users('…') form", async () => {
    emu.seed({ users: [{ userPrincipalName: `$dollar@${DOMAIN}` }] });
    const plain = await rawGraph(emu, 'GET', `/users/$dollar@${DOMAIN}`);
    expect(plain.status).toBe(400);
    const keyed = await rawGraph(emu, 'GET', `/users('$dollar@${DOMAIN}')`);
    expect(keyed.status).toBe(200);
  });
});

describe('PATCH /users/{id}', () => {
  test('partial update → 204; only sent properties change; null clears', async () => {
    const u = await client.api('/users').post(newUser('pat', { jobTitle: 'Dev', department: 'R&D' }));
    expect(await client.api(`/users/${u.id}`).patch({ jobTitle: 'Lead', department: null })).toBeUndefined();
    const after = await client.api(`/users/${u.id}`).select('displayName,jobTitle,department').get();
    expect(after).toMatchObject({ displayName: 'User pat', jobTitle: 'Lead', department: null });
  });

  test('required properties cannot be cleared; UPN change keeps the rules and conflicts', async () => {
    const a = await client.api('/users').post(newUser('pa'));
    await client.api('/users').post(newUser('pb'));
    expect((await graphError(client.api(`/users/${a.id}`).patch({ displayName: null }))).message).toBe("Invalid value specified for property 'displayName' of resource 'User'.");
    expect((await graphError(client.api(`/users/${a.id}`).patch({ userPrincipalName: `pb@${DOMAIN}` }))).message).toMatch(/already exists/);
    await client.api(`/users/${a.id}`).patch({ userPrincipalName: `renamed@${DOMAIN}` });
    expect((await client.api(`/users/renamed@${DOMAIN}`).get()).id).toBe(a.id);
    expect((await graphError(client.api(`/users/pa@${DOMAIN}`).get())).statusCode).toBe(404);
  });

  test('on-premises mastered users refuse most writes', async () => {
    const { userIds } = emu.seed({ users: [{ userPrincipalName: `synced@${DOMAIN}`, onPremisesSyncEnabled: true, onPremisesImmutableId: 'imm1' }] });
    const err = await graphError(client.api(`/users/${userIds[0]}`).patch({ jobTitle: 'x' }));
    expect(err.message).toBe('Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.');
    await expect(client.api(`/users/${userIds[0]}`).patch({ usageLocation: 'DE' })).resolves.toBeUndefined();
  });

  test('onPremisesExtensionAttributes merge per attribute', async () => {
    const u = await client.api('/users').post(newUser('ext', { onPremisesExtensionAttributes: { extensionAttribute1: 'a', extensionAttribute2: 'b' } }));
    await client.api(`/users/${u.id}`).patch({ onPremisesExtensionAttributes: { extensionAttribute2: null, extensionAttribute3: 'c' } });
    const got = await client.api(`/users/${u.id}`).select('onPremisesExtensionAttributes').get();
    const none = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`extensionAttribute${i + 1}`, null]));
    expect(got.onPremisesExtensionAttributes).toEqual({ ...none, extensionAttribute1: 'a', extensionAttribute3: 'c' });
  });

  test('onPremisesExtensionAttributes always carries all 15 keys, null when unset', async () => {
    const none = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`extensionAttribute${i + 1}`, null]));
    const u = await client.api('/users').post(newUser('noext'));
    const got = await client.api(`/users/${u.id}`).select('id,onPremisesExtensionAttributes').get();
    expect(got.onPremisesExtensionAttributes).toEqual(none);
    await client.api(`/users/${u.id}`).patch({ onPremisesExtensionAttributes: { extensionAttribute7: 'x' } });
    await client.api(`/users/${u.id}`).patch({ onPremisesExtensionAttributes: { extensionAttribute7: null } });
    const listed = await client.api('/users').filter(`id eq '${u.id}'`).select('onPremisesExtensionAttributes').get();
    expect(listed.value[0].onPremisesExtensionAttributes).toEqual(none);
  });
});

describe('password writes need User-PasswordProfile.ReadWrite.All and the User Administrator role', () => {
  const reset = { passwordProfile: { password: 'N3w!Passw0rd', forceChangePasswordNextSignIn: true } };

  test('the default app can reset passwords', async () => {
    const u = await client.api('/users').post(newUser('pw'));
    await expect(client.api(`/users/${u.id}`).patch(reset)).resolves.toBeUndefined();
    const after = await client.api(`/users/${u.id}`).select('lastPasswordChangeDateTime,passwordProfile').get();
    expect(after.passwordProfile).toEqual({ forceChangePasswordNextSignIn: true, forceChangePasswordNextSignInWithMfa: false });
  });

  test.each([
    ['User.ReadWrite.All only, with the role', ['User.ReadWrite.All'], true],
    ['the permission without the role', ['User.ReadWrite.All', 'User-PasswordProfile.ReadWrite.All'], false],
  ])('%s → 403 Authorization_RequestDenied', async (_label, roles, admin) => {
    const u = await client.api('/users').post(newUser('pw2'));
    const app = emu.registerApp({ roles, passwordAdministrator: admin });
    const other = graphClient(emu, secretCredential(emu, app.clientId, app.clientSecret));
    const err = await graphError(other.api(`/users/${u.id}`).patch(reset));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('Authorization_RequestDenied');
    expect(err.message).toBe('Insufficient privileges to complete the operation.');
    // Other attributes still work with User.ReadWrite.All.
    await expect(other.api(`/users/${u.id}`).patch({ jobTitle: 'ok' })).resolves.toBeUndefined();
  });

  test('an app without write roles cannot create users', async () => {
    const app = emu.registerApp({ roles: ['User.Read.All'] });
    const ro = graphClient(emu, secretCredential(emu, app.clientId, app.clientSecret));
    await expect(ro.api('/users').get()).resolves.toBeTruthy();
    expect((await graphError(ro.api('/users').post(newUser('nope')))).statusCode).toBe(403);
  });
});

describe('delete, restore, purge', () => {
  test('DELETE is a soft delete into deletedItems; restore brings the same id back; purge is final', async () => {
    const u = await client.api('/users').post(newUser('gone', { mail: 'gone@example.org' }));
    expect(await client.api(`/users/${u.id}`).delete()).toBeUndefined();
    expect((await graphError(client.api(`/users/${u.id}`).get())).statusCode).toBe(404);

    const deleted = await client.api('/directory/deletedItems/microsoft.graph.user').get();
    expect(deleted.value.map((d: { id: string }) => d.id)).toEqual([u.id]);
    expect(deleted.value[0].deletedDateTime).toMatch(/Z$/);
    expect((await client.api(`/directory/deletedItems/${u.id}`).get())['@odata.type']).toBe('#microsoft.graph.user');
    expect((await graphError(client.api('/directory/deletedItems').get())).statusCode).toBe(400);

    // The UPN is free again while the user is deleted; restoring then conflicts.
    const usurper = await client.api('/users').post(newUser('gone'));
    expect((await graphError(client.api(`/directory/deletedItems/${u.id}/restore`).post({}))).message).toMatch(/userPrincipalName already exists/);
    await client.api(`/users/${usurper.id}`).delete();
    await client.api(`/directory/deletedItems/${usurper.id}`).delete();

    const restored = await client.api(`/directory/deletedItems/${u.id}/restore`).post({});
    expect(restored).toMatchObject({ '@odata.type': '#microsoft.graph.user', id: u.id, userPrincipalName: `gone@${DOMAIN}` });
    expect((await client.api(`/users/${u.id}`).get()).id).toBe(u.id);

    await client.api(`/users/${u.id}`).delete();
    expect(await client.api(`/directory/deletedItems/${u.id}`).delete()).toBeUndefined();
    expect((await graphError(client.api(`/directory/deletedItems/${u.id}`).get())).statusCode).toBe(404);
    expect((await graphError(client.api(`/directory/deletedItems/${u.id}/restore`).post({}))).statusCode).toBe(404);
  });

  test('deleted items are purged after 30 days', async () => {
    const u = await client.api('/users').post(newUser('old'));
    await client.api(`/users/${u.id}`).delete();
    emu.advanceClock(31 * 86_400_000);
    try {
      // Tokens age with the emulator clock too: a fresh credential gets one valid "now".
      expect((await graphClient(emu).api('/directory/deletedItems/microsoft.graph.user').get()).value).toEqual([]);
    } finally {
      emu.advanceClock(-31 * 86_400_000);
    }
  });

  test('eventual consistency: a new user is invisible until the delay passes', async () => {
    emu.setFaults({ eventualConsistencyMs: 60_000 });
    const u = await client.api('/users').post(newUser('late'));
    expect((await graphError(client.api(`/users/${u.id}`).get())).statusCode).toBe(404);
    expect((await client.api('/users').get()).value).toEqual([]);
    emu.advanceClock(60_000);
    try {
      expect((await client.api(`/users/${u.id}`).get()).id).toBe(u.id);
    } finally {
      emu.advanceClock(-60_000);
    }
  });
});
