// The Entra connector request by request, against a scripted Graph: how a push finds its
// user (link, deleted items, match attributes, or a create that settles duplicates by
// ObjectConflict), what it writes (only what differs; memberships as a difference), what each
// job answers as its ApplyResult, users mastered on-premises left alone, and the reads behind
// pulls, the probe and the tenant's default domain. Desired bodies come from the real mapping.
import type { RemoteUser, UserSnapshot } from '../../../shared/jobs.js';
import { silentLogger, type Logger } from '../../../shared/logger.js';
import type { Link } from '../../../shared/links.js';
import type { CallOptions, GraphClient } from '../../../workers/entra/client.js';
import { EntraConnector, type EntraConnectorDeps } from '../../../workers/entra/connector.js';
import type { DeltaStore } from '../../../workers/entra/delta.js';
import type { GraphErrorBody } from '../../../workers/entra/errors.js';
import { GroupDirectory } from '../../../workers/entra/groups.js';
import { EntraMapping, type EntraMappingModule } from '../../../workers/entra/mapping.js';
import type { PhotoStore } from '../../../workers/entra/photos.js';
import { collect } from '../../helpers/collect.js';
import { context } from '../../helpers/context.js';
import { capturingLogger } from '../../helpers/logs.js';
import { FakeGraph, failure, graphError, reply, type Request } from './fake-graph.js';

type Snapshot = UserSnapshot & { version: number };

const DOMAIN = 'contoso.com';
const UPN = `alice@${DOMAIN}`;
const BASE = 'id,userPrincipalName,displayName,givenName,surname,mail,accountEnabled,onPremisesSyncEnabled';
const SELECT = `${BASE},department`;
const PASSWORD_SELECT = 'id,userPrincipalName,accountEnabled,onPremisesSyncEnabled';
const signal = new AbortController().signal;
const MAP = { attributeMap: { costCentre: 'department' } };

const alice: Snapshot = { id: 'a-1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Liddell', active: true, attributes: { costCentre: 'Ops' }, version: 1 };
/** Alice as Graph has her after a push of `alice`. */
const inGraph = (extra: Record<string, unknown> = {}) => ({
  id: 'u-1',
  userPrincipalName: UPN,
  displayName: 'Alice Liddell',
  givenName: 'Alice',
  surname: 'Liddell',
  mail: 'alice@example.com',
  accountEnabled: true,
  department: 'Ops',
  ...extra,
});
const link = (): Link => ({ appUserId: 'a-1', target: 'entra', remoteId: 'u-1' });
/** A link stored before the user had an object id. */
const noId = (): Link => ({ appUserId: 'a-1', target: 'entra' });
const ONPREM = `Entra user ${UPN} is mastered on-premises (onPremisesSyncEnabled): Entra Connect or cloud sync writes it from Active Directory and Graph refuses most changes, so idsync leaves it alone; change it in Active Directory`;

// ---- the requests the connector is expected to send ----

const getUser = (key: string, subject = key, select = SELECT): Request => ({
  method: 'GET',
  link: `/users/${encodeURIComponent(key)}`,
  options: { abortSignal: signal, query: { $select: select }, accept: [404], subject, permission: 'User.Read.All' },
});
const createUser = (json: Record<string, unknown>): Request => ({
  method: 'POST',
  link: '/users',
  options: { abortSignal: signal, json, accept: [400], subject: UPN, permission: 'User.ReadWrite.All', idempotent: true },
});
const patchUser = (json: Record<string, unknown>, subject = UPN, id = 'u-1'): Request => ({
  method: 'PATCH',
  link: `/users/${id}`,
  options: { abortSignal: signal, json, accept: [404], subject, permission: 'User.ReadWrite.All' },
});
/** The deleted-items read of the upsert (which passes its $select and subject along) or of other jobs. */
const deletedItem = (extra: Record<string, unknown> = {}): Request => ({
  method: 'GET',
  link: '/directory/deletedItems/u-1',
  options: { abortSignal: signal, ...extra, query: { $select: 'id' }, accept: [404], permission: 'User.DeleteRestore.All' },
});
const restore: Request = {
  method: 'POST',
  link: '/directory/deletedItems/u-1/restore',
  // The upsert's lookup options travel along, $select included.
  options: { abortSignal: signal, select: SELECT, subject: UPN, accept: [404], permission: 'User.DeleteRestore.All' } as Request['options'],
};
const memberOf = (subject = UPN): Request => ({
  method: 'GET',
  link: '/users/u-1/memberOf',
  options: { abortSignal: signal, subject, query: { $select: 'id,displayName,groupTypes', $top: 999 }, permission: 'GroupMember.Read.All' },
});
const groupLookup = (name: string): Request => ({
  method: 'GET',
  link: '/groups',
  options: { abortSignal: signal, query: { $filter: `displayName eq '${name}'`, $select: 'id,displayName,groupTypes', $top: 2 }, subject: name, permission: 'GroupMember.Read.All' },
});
const addMember = (groupId: string, name: string, subject = UPN): Request => ({
  method: 'POST',
  link: `/groups/${groupId}/members/$ref`,
  options: {
    abortSignal: signal,
    permission: 'GroupMember.ReadWrite.All',
    json: { '@odata.id': 'https://graph.test/v1.0/directoryObjects/u-1' },
    accept: [400, 404],
    subject: `${subject} → ${name}`,
    idempotent: true,
  },
});
const removeMember = (groupId: string, name: string, subject = UPN): Request => ({
  method: 'DELETE',
  link: `/groups/${groupId}/members/u-1/$ref`,
  options: { abortSignal: signal, permission: 'GroupMember.ReadWrite.All', accept: [404], subject: `${subject} ✕ ${name}` },
});
const organization = (extra: Record<string, unknown> = {}): Request => ({
  method: 'GET',
  link: '/organization',
  options: { abortSignal: signal, query: { $select: 'id,verifiedDomains' }, permission: 'Organization.Read.All', ...extra },
});

// ---- Graph's answers ----

const ok = (json: unknown) => reply(200, json);
const created = (json: unknown) => reply(201, json);
const done = () => reply(204, undefined);
const notFound = (code = 'Request_ResourceNotFound') => reply(404, { error: { code, message: 'gone' } }, { error: graphError(code, 'gone') });
const conflict = (details: GraphErrorBody['details']) => reply(400, {}, { error: { code: 'Request_BadRequest', message: 'exists', details } });
const group = (id: string, displayName: string, groupTypes: string[] = []) => ({ id, displayName, groupTypes });
const groups = (...value: unknown[]) => ok({ value });
const orgWith = (verifiedDomains: unknown) => ok({ value: [{ id: 'o-1', verifiedDomains }] });

/** A photo store that answers from a value and records what it was asked. */
function photoStore(answer: RemoteUser['photo'] | undefined = { hash: 'h', contentType: 'image/jpeg' }) {
  const calls: [GraphClient, string, CallOptions & { subject?: string }][] = [];
  const store = { read: async (client: GraphClient, id: string, options: CallOptions & { subject?: string }) => (calls.push([client, id, options]), answer) };
  return { photos: store as unknown as PhotoStore, calls };
}

/** A delta store holding no link yet, recording the links stored. */
function deltaStore() {
  const saved: [string, string][] = [];
  const store = { get: async () => undefined, set: async (l: string, select: string) => void saved.push([l, select]), clear: async () => undefined };
  return { delta: store as unknown as DeltaStore, saved };
}

interface Built {
  connector: EntraConnector;
  photoCalls: ReturnType<typeof photoStore>['calls'];
  saved: [string, string][];
}

function build(g: FakeGraph, over: Partial<EntraConnectorDeps> & { module?: EntraMappingModule; photo?: RemoteUser['photo'] } = {}): Built {
  const { module, photo, ...deps } = over;
  const { photos, calls } = photoStore(photo);
  const { delta, saved } = deltaStore();
  const connector = new EntraConnector({
    client: g.client,
    mapping: new EntraMapping(module ?? MAP),
    groups: new GroupDirectory(g.client),
    photos,
    delta,
    deletePolicy: 'disable',
    matchAttributes: ['userPrincipalName'],
    upnDomain: DOMAIN,
    logger: silentLogger,
    consistency: { attempts: 2, delayMs: 0 },
    ...deps,
  });
  return { connector, photoCalls: calls, saved };
}

const ctx = (l: Link | undefined, logger: Logger = silentLogger) => context({ link: l, abortSignal: signal, logger });
const hashOf = async (s: Snapshot, module: EntraMappingModule = MAP) => (await new EntraMapping(module).toEntra(s, { domain: DOMAIN })).hash;
/** Log lines as [level, msg, remoteId]. */
const logged = (lines: string[]) =>
  lines.map((l) => JSON.parse(l) as { level: number; msg: string; remoteId?: string }).map((l) => [l.level === 30 ? 'info' : l.level === 40 ? 'warn' : l.level, l.msg, l.remoteId]);

/** The create body of `alice`, password aside. */
const aliceCreate = {
  userPrincipalName: UPN,
  displayName: 'Alice Liddell',
  givenName: 'Alice',
  surname: 'Liddell',
  mail: 'alice@example.com',
  accountEnabled: true,
  department: 'Ops',
  mailNickname: 'alice',
  passwordProfile: { password: expect.any(String), forceChangePasswordNextSignIn: false },
};
const ALL_CHANGED = ['username', 'displayName', 'firstName', 'lastName', 'email', 'active', 'attributes.costCentre'];
const sentPassword = (r: Request) => (r.options.json as { passwordProfile: { password: string } }).passwordProfile.password;

describe('EntraConnector.upsertUser', () => {
  describe('a user idsync has not linked', () => {
    it('is created at once when the UPN is the only match attribute, with every property that has a value', async () => {
      const g = FakeGraph.script(created(inGraph()));
      const result = await build(g).connector.upsertUser(alice, ctx(undefined));
      expect(result).toEqual({ operation: 'create', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(alice), changedAttributes: ALL_CHANGED });
      expect(g.requests).toEqual([createUser(aliceCreate)]);
    });

    it('is created at once too when the link has no object id yet', async () => {
      const g = FakeGraph.script(created(inGraph()));
      expect(await build(g).connector.upsertUser(alice, ctx(noId()))).toMatchObject({ operation: 'create', remoteId: 'u-1' });
      expect(g.requests).toEqual([createUser(aliceCreate)]);
    });

    it('gets a generated password of 32 characters nobody knows, a new one each time, not to be changed', async () => {
      const g = FakeGraph.script(created(inGraph()), created(inGraph()));
      const { connector } = build(g);
      await connector.upsertUser(alice, ctx(undefined));
      await connector.upsertUser(alice, ctx(undefined));
      const [first, second] = g.requests.map(sentPassword);
      expect(first).toHaveLength(32);
      expect(second).toHaveLength(32);
      expect(first).not.toBe(second);
    });

    it("gets the mapping's initial password, to be changed at the first sign-in", async () => {
      const g = FakeGraph.script(created(inGraph()));
      await build(g, { module: { ...MAP, initialPassword: () => 'Temp-Pass-1!' } }).connector.upsertUser(alice, ctx(undefined));
      expect(g.requests[0]!.options.json).toMatchObject({ passwordProfile: { password: 'Temp-Pass-1!', forceChangePasswordNextSignIn: true } });
    });

    it('is created without what there is nothing to clear, disabled when the app says so, and names only what it wrote', async () => {
      const g = FakeGraph.script(created(inGraph()));
      const s = { ...alice, firstName: null, active: false, attributes: {} };
      const result = await build(g).connector.upsertUser(s, ctx(undefined));
      expect(g.requests).toEqual([
        createUser({ userPrincipalName: UPN, displayName: 'Liddell', surname: 'Liddell', mail: 'alice@example.com', accountEnabled: false, mailNickname: 'alice', passwordProfile: aliceCreate.passwordProfile }),
      ]);
      expect(result.changedAttributes).toEqual(['username', 'displayName', 'lastName', 'email', 'active']);
    });

    it("is named as Graph's reply names it, else by the UPN it was sent with", async () => {
      const g = FakeGraph.script(created(inGraph({ userPrincipalName: 'Alice@Contoso.com' })), created({ id: 'u-7' }));
      const { connector } = build(g);
      expect(await connector.upsertUser(alice, ctx(undefined))).toMatchObject({ operation: 'create', remoteId: 'u-1', remoteName: 'Alice@Contoso.com' });
      expect(await connector.upsertUser(alice, ctx(undefined))).toMatchObject({ operation: 'create', remoteId: 'u-7', remoteName: UPN });
    });

    it('names extension attributes it wrote by their app names', async () => {
      const module = { attributeMap: { team: 'extensionAttribute3', costCentre: 'department' } };
      const g = FakeGraph.script(created(inGraph()));
      const result = await build(g, { module }).connector.upsertUser({ ...alice, attributes: { team: 'Blue' } }, ctx(undefined));
      expect(result.changedAttributes).toEqual([...ALL_CHANGED.slice(0, -1), 'attributes.team']);
      expect(g.requests[0]!.options.json).toMatchObject({ onPremisesExtensionAttributes: { extensionAttribute3: 'Blue' } });
      expect(g.requests[0]!.options.json).not.toHaveProperty('department');
    });

    it("refuses a create reply that is not a user", async () => {
      const g = FakeGraph.script(created({ value: [] }));
      expect(await failure(build(g).connector.upsertUser(alice, ctx(undefined)))).toEqual([
        'TransientError',
        'Graph answered POST /users alice@contoso.com with 201 but a body that is not a user object (a write may still have been applied)',
        'MALFORMED_RESPONSE',
        201,
      ]);
    });

    it('is linked to the user that already holds the UPN (ObjectConflict), read by UPN and updated', async () => {
      const { logger, lines } = capturingLogger();
      const g = FakeGraph.script(conflict([{ code: 'ObjectConflict', target: 'userPrincipalName' }]), ok(inGraph({ id: 'u-9', department: 'Sales' })), done());
      const result = await build(g).connector.upsertUser(alice, ctx(undefined, logger));
      expect(result).toEqual({ operation: 'update', remoteId: 'u-9', remoteName: UPN, writtenHash: await hashOf(alice), changedAttributes: ['attributes.costCentre'] });
      expect(g.requests).toEqual([createUser(aliceCreate), getUser(UPN), patchUser({ department: 'Ops' }, UPN, 'u-9')]);
      expect(logged(lines)).toEqual([['info', 'linked to an existing Entra user with the same userPrincipalName', 'u-9']]);
    });

    it('is left alone when the user holding the UPN is mastered on-premises', async () => {
      const g = FakeGraph.script(conflict([{ code: 'ObjectConflict', target: 'userPrincipalName' }]), ok(inGraph({ department: 'Sales', onPremisesSyncEnabled: true })));
      expect(await build(g).connector.upsertUser({ ...alice, groups: ['Ops'] }, ctx(undefined))).toEqual({ operation: 'noop', remoteId: 'u-1', remoteName: UPN, skippedReason: ONPREM });
      expect(g.requests).toHaveLength(2);
    });

    it('waits for the user holding the UPN to become visible, then gives up for the retry', async () => {
      const g = FakeGraph.script(conflict([{ code: 'ObjectConflict', target: 'userPrincipalName' }]), notFound(), ok(inGraph()));
      expect(await build(g).connector.upsertUser(alice, ctx(undefined))).toMatchObject({ operation: 'noop', remoteId: 'u-1' });
      expect(g.requests).toEqual([createUser(aliceCreate), getUser(UPN), getUser(UPN)]);

      const g2 = FakeGraph.script(conflict([{ code: 'ObjectConflict', target: 'userPrincipalName' }]), notFound(), notFound());
      expect(await failure(build(g2).connector.upsertUser(alice, ctx(undefined)))).toEqual([
        'TransientError',
        'Entra user alice@contoso.com is not visible yet after 2 tries (Graph is eventually consistent after a create or restore)',
        'NOT_VISIBLE_YET',
        404,
      ]);
    });

    it("passes Graph's refusal on for any other 400", async () => {
      for (const r of [
        conflict([{ code: 'ObjectConflict', target: 'mailNickname' }]),
        conflict([{ code: 'InvalidValue', target: 'userPrincipalName' }]),
        conflict([]),
        reply(400, undefined),
      ]) {
        const g = FakeGraph.script(r);
        expect(await failure(build(g).connector.upsertUser(alice, ctx(undefined)))).toEqual(['Error', 'refused 400 POST /users', undefined, undefined]);
        expect(g.refused).toHaveLength(1);
        expect(g.requests).toHaveLength(1);
      }
    });

    it('with other match attributes, is looked for by each in order before it is created', async () => {
      const module = { attributeMap: { costCentre: 'department', badge: 'employeeId' } };
      const select = `${SELECT},employeeId`;
      const byBadge: Request = {
        method: 'GET',
        link: '/users',
        options: { abortSignal: signal, query: { $filter: "employeeId eq 'E-1'", $select: select, $top: 2 }, subject: 'employeeId E-1', permission: 'User.Read.All' },
      };
      const s = { ...alice, attributes: { costCentre: 'Ops', badge: 'E-1' } };
      const g = FakeGraph.script(groups(), notFound(), created(inGraph({ employeeId: 'E-1' })));
      const result = await build(g, { module, matchAttributes: ['employeeId', 'userPrincipalName'] }).connector.upsertUser(s, ctx(undefined));
      expect(result).toMatchObject({ operation: 'create', changedAttributes: [...ALL_CHANGED, 'attributes.badge'] });
      expect(g.requests).toEqual([byBadge, getUser(UPN, UPN, select), createUser({ ...aliceCreate, employeeId: 'E-1', mailNickname: 'alice', passwordProfile: aliceCreate.passwordProfile })]);

      // The first attribute that finds someone settles it.
      const g2 = FakeGraph.script(groups(inGraph({ id: 'u-5', userPrincipalName: 'al@contoso.com', employeeId: 'E-1' })), done());
      const r2 = await build(g2, { module, matchAttributes: ['employeeId', 'userPrincipalName'] }).connector.upsertUser(s, ctx(undefined));
      expect(r2).toEqual({ operation: 'rename', remoteId: 'u-5', remoteName: UPN, writtenHash: await hashOf(s, module), changedAttributes: ['username'] });
      expect(g2.requests).toEqual([byBadge, patchUser({ userPrincipalName: UPN }, 'al@contoso.com', 'u-5')]);
    });

    it('with a link that has no object id yet, is looked for by the match attributes only', async () => {
      const g = FakeGraph.script(ok({ value: [] }), notFound(), created(inGraph()));
      await build(g, { matchAttributes: ['mail', 'userPrincipalName'] }).connector.upsertUser(alice, ctx(noId()));
      expect(g.requests.map((r) => `${r.method} ${r.link} ${r.options.subject}`)).toEqual(['GET /users mail alice@example.com', `GET /users/alice%40contoso.com ${UPN}`, `POST /users ${UPN}`]);
    });

    it('skips a match attribute the body has no text for', async () => {
      const module = { attributeMap: { costCentre: 'department', badge: 'employeeId' } };
      const select = `${SELECT},employeeId`;
      // No badge: the mapping clears employeeId (null).
      const g = FakeGraph.script(ok(inGraph({ employeeId: null })));
      await build(g, { module, matchAttributes: ['employeeId', 'userPrincipalName'] }).connector.upsertUser(alice, ctx(undefined));
      expect(g.requests).toEqual([getUser(UPN, UPN, select)]);

      // An empty string (from a hook) is no value to match on either.
      const hooked = { attributeMap: { costCentre: 'department' }, alterEntraUser: (b: Record<string, unknown>) => void (b.jobTitle = '') };
      const g2 = FakeGraph.script(ok(inGraph()));
      await build(g2, { module: hooked, matchAttributes: ['jobTitle', 'userPrincipalName'] }).connector.upsertUser(alice, ctx(undefined));
      expect(g2.requests).toEqual([getUser(UPN, UPN, `${SELECT},jobTitle`)]);
    });

    it('is created after a lookup when no match attribute finds it', async () => {
      const g = FakeGraph.script(notFound(), notFound(), ok({ value: [] }), created(inGraph()));
      expect(await build(g, { matchAttributes: ['userPrincipalName', 'userPrincipalName', 'mail'] }).connector.upsertUser(alice, ctx(undefined))).toMatchObject({ operation: 'create' });
      expect(g.requests.map((r) => `${r.method} ${r.link}`)).toEqual(['GET /users/alice%40contoso.com', 'GET /users/alice%40contoso.com', 'GET /users', 'POST /users']);
    });
  });

  describe('memberships of a new user', () => {
    it('are added after the create, without reading memberships it cannot have', async () => {
      const s = { ...alice, groups: ['Ops', 'Sales'] };
      const g = FakeGraph.script(created(inGraph()), groups(group('g-1', 'Ops')), groups(group('g-2', 'Sales')), done(), done());
      const result = await build(g).connector.upsertUser(s, ctx(undefined));
      expect(result).toEqual({ operation: 'create', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(s), changedAttributes: [...ALL_CHANGED, 'groups'] });
      expect(g.requests).toEqual([createUser(aliceCreate), groupLookup('Ops'), groupLookup('Sales'), addMember('g-1', 'Ops'), addMember('g-2', 'Sales')]);
    });

    it('are not named as changed when there was nothing to add', async () => {
      const s = { ...alice, groups: ['Dyn'] };
      const g = FakeGraph.script(created(inGraph()), groups(group('g-3', 'Dyn', ['DynamicMembership'])));
      expect((await build(g).connector.upsertUser(s, ctx(undefined))).changedAttributes).toEqual(ALL_CHANGED);
      expect(g.requests).toHaveLength(2);

      const g2 = FakeGraph.script(created(inGraph()));
      expect((await build(g2).connector.upsertUser({ ...alice, groups: [] }, ctx(undefined))).changedAttributes).toEqual(ALL_CHANGED);
      expect(g2.requests).toHaveLength(1);
    });

    it('wait for the new user to become visible to the group', async () => {
      const s = { ...alice, groups: ['Ops'] };
      const g = FakeGraph.script(created(inGraph()), groups(group('g-1', 'Ops')), notFound(), done());
      expect((await build(g).connector.upsertUser(s, ctx(undefined))).changedAttributes).toEqual([...ALL_CHANGED, 'groups']);
      expect(g.requests).toEqual([createUser(aliceCreate), groupLookup('Ops'), addMember('g-1', 'Ops'), addMember('g-1', 'Ops')]);

      const g2 = FakeGraph.script(created(inGraph()), groups(group('g-1', 'Ops')), notFound(), notFound());
      expect(await failure(build(g2).connector.upsertUser(s, ctx(undefined)))).toEqual([
        'TransientError',
        'Entra user alice@contoso.com is not visible yet after 2 tries (Graph is eventually consistent after a create or restore)',
        'NOT_VISIBLE_YET',
        404,
      ]);
    });

    it('fail the job naming a group Entra does not have, after adding the others', async () => {
      const s = { ...alice, groups: ['Ops', 'Nope'] };
      const g = FakeGraph.script(created(inGraph()), groups(group('g-1', 'Ops')), groups(), done());
      expect(await failure(build(g).connector.upsertUser(s, ctx(undefined)))).toEqual([
        'PermanentError',
        'Entra has no group "Nope" for user alice@contoso.com; idsync does not create groups: create it in Entra (or fix the app\'s group list) and replay this job. The other membership changes were applied.',
        'GROUP_NOT_FOUND',
        404,
      ]);
      expect(g.requests.at(-1)).toEqual(addMember('g-1', 'Ops'));
    });
  });

  describe('a linked user', () => {
    it('is read by object id and left alone when Graph already matches', async () => {
      const g = FakeGraph.script(ok(inGraph()));
      expect(await build(g).connector.upsertUser(alice, ctx(link()))).toEqual({ operation: 'noop', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(alice), changedAttributes: [] });
      expect(g.requests).toEqual([getUser('u-1', UPN)]);
    });

    it('selects what the desired body manages beyond the mapping', async () => {
      const module = { ...MAP, alterEntraUser: (b: Record<string, unknown>) => void (b.usageLocation = 'DE') };
      const g = FakeGraph.script(ok(inGraph({ usageLocation: 'DE' })));
      await build(g, { module }).connector.upsertUser(alice, ctx(link()));
      expect(g.requests).toEqual([getUser('u-1', UPN, `${SELECT},usageLocation`)]);
    });

    it('gets a PATCH of exactly the properties that differ, named as the app names them', async () => {
      const g = FakeGraph.script(ok(inGraph({ givenName: 'Al', mail: 'old@example.com', department: 'Sales', jobTitle: 'unmanaged' })), done());
      const result = await build(g).connector.upsertUser(alice, ctx(link()));
      expect(result).toEqual({ operation: 'update', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(alice), changedAttributes: ['firstName', 'email', 'attributes.costCentre'] });
      expect(g.requests).toEqual([getUser('u-1', UPN), patchUser({ givenName: 'Alice', mail: 'alice@example.com', department: 'Ops' })]);
    });

    it("keeps Graph's displayName when the app gave none, and writes one the app gave", async () => {
      const g = FakeGraph.script(ok(inGraph({ displayName: 'Ali from Ops' })));
      expect((await build(g).connector.upsertUser(alice, ctx(link()))).operation).toBe('noop');
      const g2 = FakeGraph.script(ok(inGraph({ displayName: 'Ali from Ops' })), done());
      expect((await build(g2).connector.upsertUser({ ...alice, displayName: 'Alice L.' }, ctx(link()))).changedAttributes).toEqual(['displayName']);
      expect(g2.requests[1]).toEqual(patchUser({ displayName: 'Alice L.' }));
    });

    it('is renamed when the UPN differs; the PATCH names the old UPN, the result the new one', async () => {
      const g = FakeGraph.script(ok(inGraph({ userPrincipalName: 'old@contoso.com', department: 'Sales' })), done());
      expect(await build(g).connector.upsertUser(alice, ctx(link()))).toEqual({
        operation: 'rename',
        remoteId: 'u-1',
        remoteName: UPN,
        writtenHash: await hashOf(alice),
        changedAttributes: ['username', 'attributes.costCentre'],
      });
      expect(g.requests[1]).toEqual(patchUser({ userPrincipalName: UPN, department: 'Ops' }, 'old@contoso.com'));
    });

    it('is disabled or re-enabled when only accountEnabled differs, else updated', async () => {
      const cases: [Snapshot, Record<string, unknown>, string][] = [
        [{ ...alice, active: false }, {}, 'disable'],
        [alice, { accountEnabled: false }, 'restore'],
        [{ ...alice, active: false }, { department: 'Sales' }, 'update'],
      ];
      const ops: string[] = [];
      for (const [s, graph] of cases) {
        const g = FakeGraph.script(ok(inGraph(graph)), done());
        ops.push((await build(g).connector.upsertUser(s, ctx(link()))).operation);
      }
      expect(ops).toEqual(cases.map((c) => c[2]));
    });

    it('fails for the retry when the user vanishes before the PATCH lands', async () => {
      const g = FakeGraph.script(ok(inGraph({ department: 'Sales' })), notFound());
      expect(await failure(build(g).connector.upsertUser(alice, ctx(link())))).toEqual(['TransientError', 'Entra user alice@contoso.com disappeared while being updated', 'Request_ResourceNotFound', 404]);
      const g2 = FakeGraph.script(ok(inGraph({ department: 'Sales' })), reply(404, undefined));
      expect(await failure(build(g2).connector.upsertUser(alice, ctx(link())))).toEqual(['TransientError', 'Entra user alice@contoso.com disappeared while being updated', undefined, 404]);
    });

    it('mastered on-premises is skipped with the reason, nothing written, memberships untouched', async () => {
      const g = FakeGraph.script(ok(inGraph({ userPrincipalName: UPN, department: 'Sales', accountEnabled: false, onPremisesSyncEnabled: true })));
      expect(await build(g).connector.upsertUser({ ...alice, groups: ['Ops'] }, ctx(link()))).toEqual({ operation: 'noop', remoteId: 'u-1', remoteName: UPN, skippedReason: ONPREM });
      expect(g.requests).toEqual([getUser('u-1', UPN)]);
    });

    it('that was soft-deleted is restored from deleted items, read again and brought up to date', async () => {
      const { logger, lines } = capturingLogger();
      const g = FakeGraph.script(notFound(), ok({ id: 'u-1' }), ok({ id: 'u-1' }), ok(inGraph({ department: 'Sales' })), done());
      const result = await build(g).connector.upsertUser(alice, ctx(link(), logger));
      expect(result).toEqual({ operation: 'restore', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(alice), changedAttributes: ['attributes.costCentre'] });
      expect(g.requests).toEqual([getUser('u-1', UPN), deletedItem({ select: SELECT, subject: UPN }), restore, getUser('u-1', UPN), patchUser({ department: 'Ops' })]);
      expect(logged(lines)).toEqual([['info', 'restored the soft-deleted Entra user', 'u-1']]);
    });

    it('restored as Graph had it is still a restore; restored but mastered on-premises, a skipped restore', async () => {
      const g = FakeGraph.script(notFound(), ok({ id: 'u-1' }), ok({ id: 'u-1' }), ok(inGraph()));
      expect(await build(g).connector.upsertUser(alice, ctx(link()))).toEqual({ operation: 'restore', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(alice), changedAttributes: [] });
      const g2 = FakeGraph.script(notFound(), ok({ id: 'u-1' }), ok({ id: 'u-1' }), ok(inGraph({ onPremisesSyncEnabled: true })));
      expect(await build(g2).connector.upsertUser(alice, ctx(link()))).toEqual({ operation: 'restore', remoteId: 'u-1', remoteName: UPN, skippedReason: ONPREM });
      // Only accountEnabled differing after a restore is still the restore.
      const g3 = FakeGraph.script(notFound(), ok({ id: 'u-1' }), ok({ id: 'u-1' }), ok(inGraph()), done());
      expect((await build(g3).connector.upsertUser({ ...alice, active: false }, ctx(link()))).operation).toBe('restore');
    });

    it('restored waits for the user to become visible, then gives up for the retry', async () => {
      const g = FakeGraph.script(notFound(), ok({ id: 'u-1' }), ok({ id: 'u-1' }), notFound(), notFound());
      expect(await failure(build(g).connector.upsertUser(alice, ctx(link())))).toEqual([
        'TransientError',
        'Entra user alice@contoso.com is not visible yet after 2 tries (Graph is eventually consistent after a create or restore)',
        'NOT_VISIBLE_YET',
        404,
      ]);
      expect(g.requests.slice(3)).toEqual([getUser('u-1', UPN), getUser('u-1', UPN)]);
    });

    it('that is gone for good (or could not be restored) is matched again, with a warning', async () => {
      for (const trail of [[notFound()], [ok({ id: 'u-1' }), notFound()]]) {
        const { logger, lines } = capturingLogger();
        const g = FakeGraph.script(notFound(), ...trail, ok(inGraph({ id: 'u-2' })));
        expect(await build(g).connector.upsertUser(alice, ctx(link(), logger))).toMatchObject({ operation: 'noop', remoteId: 'u-2' });
        expect(g.requests.at(-1)).toEqual(getUser(UPN));
        expect(logged(lines)).toEqual([['warn', 'the linked Entra user is gone; matching again', 'u-1']]);
      }
    });

    it('that is gone and matches no one is created anew', async () => {
      const g = FakeGraph.script(notFound(), notFound(), notFound(), created(inGraph({ id: 'u-2' })));
      expect(await build(g).connector.upsertUser(alice, ctx(link()))).toMatchObject({ operation: 'create', remoteId: 'u-2' });
      expect(g.requests).toEqual([getUser('u-1', UPN), deletedItem({ select: SELECT, subject: UPN }), getUser(UPN), createUser(aliceCreate)]);
    });
  });

  describe('memberships of an existing user', () => {
    it('are read and only the difference written; dynamic groups are left alone', async () => {
      const s = { ...alice, groups: ['Ops', 'Sales'] };
      const g = FakeGraph.script(
        ok(inGraph()),
        groups(group('g-1', 'Ops'), group('g-9', 'Legacy'), group('g-8', 'Dyn', ['DynamicMembership'])),
        groups(group('g-1', 'Ops')),
        groups(group('g-2', 'Sales')),
        done(),
        done(),
      );
      const result = await build(g).connector.upsertUser(s, ctx(link()));
      expect(result).toEqual({ operation: 'update', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(s), changedAttributes: ['groups'] });
      expect(g.requests).toEqual([getUser('u-1', UPN), memberOf(), groupLookup('Ops'), groupLookup('Sales'), addMember('g-2', 'Sales'), removeMember('g-9', 'Legacy')]);
    });

    it('are named after the properties a rename wrote, which stays the operation', async () => {
      const s = { ...alice, groups: [] };
      const g = FakeGraph.script(ok(inGraph({ userPrincipalName: 'old@contoso.com' })), done(), groups(group('g-9', 'Legacy')), done());
      expect(await build(g).connector.upsertUser(s, ctx(link()))).toEqual({ operation: 'rename', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(s), changedAttributes: ['username', 'groups'] });
      // The membership writes name the user by the UPN Graph had when it was read.
      expect(g.requests.slice(1)).toEqual([patchUser({ userPrincipalName: UPN }, 'old@contoso.com'), memberOf('old@contoso.com'), removeMember('g-9', 'Legacy', 'old@contoso.com')]);
    });

    it('already as wanted cost no writes and change nothing', async () => {
      const s = { ...alice, groups: ['ops'] };
      const g = FakeGraph.script(ok(inGraph()), groups(group('g-1', 'Ops')), groups(group('g-1', 'Ops')));
      expect(await build(g).connector.upsertUser(s, ctx(link()))).toEqual({ operation: 'noop', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(s), changedAttributes: [] });
      expect(g.requests).toHaveLength(3);
    });

    it('that Graph reports already done count as unchanged', async () => {
      const s = { ...alice, groups: ['Ops'] };
      const g = FakeGraph.script(ok(inGraph()), groups(group('g-9', 'Legacy')), groups(group('g-1', 'Ops')), reply(400, {}, { error: graphError('Request_BadRequest', 'One or more added object references already exist') }), notFound());
      expect(await build(g).connector.upsertUser(s, ctx(link()))).toMatchObject({ operation: 'noop', changedAttributes: [] });
      expect(g.requests.slice(3)).toEqual([addMember('g-1', 'Ops'), removeMember('g-9', 'Legacy')]);
    });

    it('are left alone when the app sends no group list', async () => {
      const g = FakeGraph.script(ok(inGraph()));
      await build(g).connector.upsertUser(alice, ctx(link()));
      expect(g.requests).toHaveLength(1);
    });

    it('fail the job naming a group Entra does not have, even with nothing else to change', async () => {
      const s = { ...alice, groups: ['Nope', 'Gone'] };
      const g = FakeGraph.script(ok(inGraph()), groups(), groups(), groups());
      expect(await failure(build(g).connector.upsertUser(s, ctx(link())))).toEqual([
        'PermanentError',
        'Entra has no group "Nope", "Gone" for user alice@contoso.com; idsync does not create groups: create them in Entra (or fix the app\'s group list) and replay this job. The other membership changes were applied.',
        'GROUP_NOT_FOUND',
        404,
      ]);
    });

    it('of a user that vanishes are not waited for: the job is retried with fresh names', async () => {
      const s = { ...alice, groups: ['Ops'] };
      const g = FakeGraph.script(ok(inGraph()), groups(), groups(group('g-1', 'Ops')), notFound());
      expect(await failure(build(g).connector.upsertUser(s, ctx(link())))).toEqual([
        'TransientError',
        'Entra group "Ops" or user alice@contoso.com vanished while adding the membership; retried with fresh names',
        'Request_ResourceNotFound',
        404,
      ]);
      expect(g.requests).toHaveLength(4);
    });

    it('of a restored user are read, and a membership add that meets it invisible is repeated', async () => {
      const s = { ...alice, groups: ['Ops'] };
      const g = FakeGraph.script(notFound(), ok({ id: 'u-1' }), ok({ id: 'u-1' }), ok(inGraph()), groups(), groups(group('g-1', 'Ops')), notFound(), done());
      expect(await build(g).connector.upsertUser(s, ctx(link()))).toEqual({ operation: 'restore', remoteId: 'u-1', remoteName: UPN, writtenHash: await hashOf(s), changedAttributes: ['groups'] });
      expect(g.requests.slice(4)).toEqual([memberOf(), groupLookup('Ops'), addMember('g-1', 'Ops'), addMember('g-1', 'Ops')]);
    });
  });

  describe("the tenant's default domain", () => {
    it('is read once from the organization when no UPN domain is configured', async () => {
      const g = FakeGraph.script(orgWith([{ name: 'other.com', isDefault: false }, { name: 'fabrikam.com', isDefault: true }]), created(inGraph()), created(inGraph()));
      const { connector } = build(g, { upnDomain: undefined });
      await connector.upsertUser(alice, ctx(undefined));
      await connector.upsertUser(alice, ctx(undefined));
      expect(g.requests.map((r) => r.options.subject ?? r.link)).toEqual(['/organization', 'alice@fabrikam.com', 'alice@fabrikam.com']);
      expect(g.requests[0]).toEqual(organization());
    });

    it('is read once for calls that ask at the same time', async () => {
      const g = FakeGraph.script(orgWith([{ name: 'fabrikam.com', isDefault: true }]));
      const { connector } = build(g, { upnDomain: undefined });
      const [a, b] = await Promise.all([connector.expectedRemote(alice), connector.expectedRemote(alice)]);
      expect([a.username, b.username]).toEqual(['alice@fabrikam.com', 'alice@fabrikam.com']);
      expect(g.requests).toHaveLength(1);
    });

    it("is the first organization's", async () => {
      const g = FakeGraph.script(ok({ value: [{ id: 'o-1', verifiedDomains: [{ name: 'first.com', isDefault: true }] }, { id: 'o-2', verifiedDomains: [{ name: 'second.com', isDefault: true }] }] }));
      expect((await build(g, { upnDomain: undefined }).connector.expectedRemote(alice)).username).toBe('alice@first.com');
    });

    it('is the first verified domain when none is the default', async () => {
      const g = FakeGraph.script(orgWith([{ name: 'first.com', isDefault: null }, { name: 'second.com' }]));
      expect((await build(g, { upnDomain: undefined }).connector.expectedRemote(alice)).username).toBe('alice@first.com');
    });

    it('is not read when a UPN domain is configured', async () => {
      const g = FakeGraph.script(created(inGraph()));
      await build(g).connector.upsertUser(alice, ctx(undefined));
      expect(g.requests.map((r) => r.link)).toEqual(['/users']);
    });

    it('fails readably when the tenant reports none, and is read again on the next call', async () => {
      const g = FakeGraph.script(orgWith([]), ok({ value: [{ id: 'o-1', verifiedDomains: null }] }), ok({ value: [] }), orgWith([{ name: 'fabrikam.com', isDefault: true }]));
      const { connector } = build(g, { upnDomain: undefined });
      for (let i = 0; i < 3; i++) {
        expect(await failure(connector.expectedRemote(alice))).toEqual(['PermanentError', 'the Entra tenant reports no verified domain; set ENTRA_UPN_DOMAIN', undefined, undefined]);
      }
      expect((await connector.expectedRemote(alice)).username).toBe('alice@fabrikam.com');
      expect(g.requests).toHaveLength(4);
    });

    it('refuses a reply that is not an organization list', async () => {
      const g = FakeGraph.script(ok({ value: 'x' }), orgWith([{ name: 'fabrikam.com', isDefault: true }]));
      const { connector } = build(g, { upnDomain: undefined });
      expect(await failure(connector.upsertUser(alice, ctx(undefined)))).toEqual([
        'TransientError',
        'Graph answered GET /organization with 200 but a body that is not an organization list',
        'MALFORMED_RESPONSE',
        200,
      ]);
      expect((await connector.expectedRemote(alice)).username).toBe('alice@fabrikam.com');
    });
  });
});

describe('EntraConnector.upsertUser, aborted', () => {
  // Graph answers regardless here; what is checked is that the pauses between tries end with the job.
  const reason = new Error('shutdown');
  const aborted = () => {
    const c = new AbortController();
    c.abort(reason);
    return context({ link: link(), abortSignal: c.signal, logger: silentLogger });
  };
  const slow = { consistency: { attempts: 2, delayMs: 60_000 } };

  it('stops waiting for a restored user to become visible', async () => {
    const g = FakeGraph.script(notFound(), ok({ id: 'u-1' }), ok({ id: 'u-1' }), notFound());
    await expect(build(g, slow).connector.upsertUser(alice, aborted())).rejects.toBe(reason);
    expect(g.requests).toHaveLength(4);
  });

  it('stops waiting for the user holding the UPN to become visible', async () => {
    const g = FakeGraph.script(conflict([{ code: 'ObjectConflict', target: 'userPrincipalName' }]), notFound());
    await expect(build(g, slow).connector.upsertUser(alice, { ...aborted(), link: undefined })).rejects.toBe(reason);
    expect(g.requests).toHaveLength(2);
  });

  it('stops waiting for a new user to become visible to its group', async () => {
    const g = FakeGraph.script(created(inGraph()), groups(group('g-1', 'Ops')), notFound());
    await expect(build(g, slow).connector.upsertUser({ ...alice, groups: ['Ops'] }, { ...aborted(), link: undefined })).rejects.toBe(reason);
    expect(g.requests).toHaveLength(3);
  });
});

describe('EntraConnector.deleteUser', () => {
  const byId = getUser('u-1', 'u-1', SELECT);

  it('disables the linked user and links it still', async () => {
    const g = FakeGraph.script(ok(inGraph()), done());
    expect(await build(g).connector.deleteUser({ id: 'a-1', username: 'alice' }, ctx(link()))).toEqual({ operation: 'disable', remoteId: 'u-1', remoteName: UPN, changedAttributes: ['active'] });
    expect(g.requests).toEqual([byId, patchUser({ accountEnabled: false })]);
  });

  it('reads the user without the upsert-only properties', async () => {
    const module = { ...MAP, alterEntraUser: (b: Record<string, unknown>) => void (b.usageLocation = 'DE') };
    const g = FakeGraph.script(ok(inGraph({ accountEnabled: false })));
    await build(g, { module }).connector.deleteUser({ id: 'a-1' }, ctx(link()));
    expect(g.requests).toEqual([byId]);
  });

  it('writes nothing for a user already disabled', async () => {
    const g = FakeGraph.script(ok(inGraph({ accountEnabled: false })));
    expect(await build(g).connector.deleteUser({ id: 'a-1' }, ctx(link()))).toEqual({ operation: 'noop', remoteId: 'u-1', remoteName: UPN });
    expect(g.requests).toHaveLength(1);
  });

  it('deletes the user under the delete policy, whatever its state, a 404 counting as done', async () => {
    for (const [user, answer] of [
      [inGraph(), done()],
      [inGraph({ accountEnabled: false }), notFound()],
    ] as const) {
      const g = FakeGraph.script(ok(user), answer);
      expect(await build(g, { deletePolicy: 'delete' }).connector.deleteUser({ id: 'a-1' }, ctx(link()))).toEqual({ operation: 'delete', remoteId: 'u-1', remoteName: UPN });
      expect(g.requests).toEqual([byId, { method: 'DELETE', link: '/users/u-1', options: { abortSignal: signal, accept: [404], subject: UPN, permission: 'User.ReadWrite.All' } }]);
    }
  });

  it('fails when Graph refuses the delete', async () => {
    const g = FakeGraph.script(ok(inGraph()), () => {
      throw new Error('Graph is down');
    });
    expect(await failure(build(g, { deletePolicy: 'delete' }).connector.deleteUser({ id: 'a-1' }, ctx(link())))).toEqual(['Error', 'Graph is down', undefined, undefined]);
  });

  it('skips a user mastered on-premises under either policy', async () => {
    for (const deletePolicy of ['disable', 'delete'] as const) {
      const g = FakeGraph.script(ok(inGraph({ onPremisesSyncEnabled: true })));
      expect(await build(g, { deletePolicy }).connector.deleteUser({ id: 'a-1' }, ctx(link()))).toEqual({ operation: 'noop', remoteId: 'u-1', remoteName: UPN, skippedReason: ONPREM });
      expect(g.requests).toHaveLength(1);
    }
  });

  it('counts a linked user already in deleted items as done, keeping the link for a restore', async () => {
    const g = FakeGraph.script(notFound(), ok({ id: 'u-1' }));
    expect(await build(g).connector.deleteUser({ id: 'a-1', username: 'alice' }, ctx(link()))).toEqual({ operation: 'noop', remoteId: 'u-1' });
    expect(g.requests).toEqual([byId, deletedItem()]);
  });

  it('unlinks a linked user gone for good, never matching another by UPN', async () => {
    const g = FakeGraph.script(notFound(), notFound());
    expect(await build(g).connector.deleteUser({ id: 'a-1', username: 'alice' }, ctx(link()))).toEqual({ operation: 'noop', unlink: true });
    expect(g.requests).toHaveLength(2);
  });

  it('finds an unlinked user by the UPN its username maps to', async () => {
    const g = FakeGraph.script(ok(inGraph()), done());
    expect(await build(g).connector.deleteUser({ id: 'a-1', username: 'alice' }, ctx(noId()))).toMatchObject({ operation: 'disable', remoteId: 'u-1' });
    expect(g.requests).toEqual([getUser(UPN, UPN, SELECT), patchUser({ accountEnabled: false })]);
  });

  it('uses the mapping module UPN rule, which sees the id and username', async () => {
    const seen: unknown[] = [];
    const module = { ...MAP, userPrincipalName: (s: UserSnapshot, c: { domain: string }) => (seen.push([s.id, s.username, c.domain]), `x.${s.username}@${c.domain}`) };
    const g = FakeGraph.script(notFound());
    expect(await build(g, { module }).connector.deleteUser({ id: 'a-1', username: 'alice' }, ctx(undefined))).toEqual({ operation: 'noop', unlink: true });
    expect(g.requests).toEqual([getUser(`x.alice@${DOMAIN}`, `x.alice@${DOMAIN}`, SELECT)]);
    expect(seen).toEqual([['a-1', 'alice', DOMAIN]]);
  });

  it('unlinks an unlinked user without a username without asking Graph', async () => {
    const g = FakeGraph.script();
    expect(await build(g, { upnDomain: undefined }).connector.deleteUser({ id: 'a-1' }, ctx(undefined))).toEqual({ operation: 'noop', unlink: true });
    expect(g.requests).toEqual([]);
  });

  it("reads the tenant's domain only for a user found by UPN", async () => {
    const g = FakeGraph.script(ok(inGraph({ accountEnabled: false })), orgWith([{ name: DOMAIN, isDefault: true }]), ok(inGraph({ accountEnabled: false })));
    const { connector } = build(g, { upnDomain: undefined });
    await connector.deleteUser({ id: 'a-1', username: 'alice' }, ctx(link()));
    await connector.deleteUser({ id: 'a-1', username: 'alice' }, ctx(undefined));
    expect(g.requests).toEqual([byId, organization(), getUser(UPN, UPN, SELECT)]);
  });

  it('fails for the retry when the user vanishes before it is disabled', async () => {
    const g = FakeGraph.script(ok(inGraph()), notFound());
    expect(await failure(build(g).connector.deleteUser({ id: 'a-1' }, ctx(link())))).toEqual(['TransientError', 'Entra user alice@contoso.com disappeared while being updated', 'Request_ResourceNotFound', 404]);
  });
});

describe('EntraConnector.setPassword', () => {
  const passwordPatch = (force: boolean): Request => ({
    method: 'PATCH',
    link: '/users/u-1',
    options: {
      abortSignal: signal,
      json: { passwordProfile: { password: 'S3cret pass!', forceChangePasswordNextSignIn: force } },
      accept: [404],
      subject: UPN,
      permission: 'User-PasswordProfile.ReadWrite.All',
    },
  });

  it('sets the password of the linked user, not to be changed by default', async () => {
    const g = FakeGraph.script(ok(inGraph()), done());
    expect(await build(g).connector.setPassword({ id: 'a-1', username: 'alice' }, 'S3cret pass!', ctx(link()))).toEqual({
      operation: 'password',
      remoteId: 'u-1',
      remoteName: UPN,
      changedAttributes: ['password'],
    });
    expect(g.requests).toEqual([getUser('u-1', 'u-1', PASSWORD_SELECT), passwordPatch(false)]);
  });

  it('asks for a change at the next sign-in when configured', async () => {
    const g = FakeGraph.script(ok(inGraph()), done(), ok(inGraph()), done());
    await build(g, { forcePasswordChange: true }).connector.setPassword({ id: 'a-1' }, 'S3cret pass!', ctx(link()));
    await build(g, { forcePasswordChange: false }).connector.setPassword({ id: 'a-1' }, 'S3cret pass!', ctx(link()));
    expect([g.requests[1], g.requests[3]]).toEqual([passwordPatch(true), passwordPatch(false)]);
  });

  it('finds an unlinked user by UPN', async () => {
    const g = FakeGraph.script(ok(inGraph()), done());
    await build(g).connector.setPassword({ id: 'a-1', username: 'alice' }, 'S3cret pass!', ctx(undefined));
    expect(g.requests).toEqual([getUser(UPN, UPN, PASSWORD_SELECT), passwordPatch(false)]);
  });

  it('is retried while Entra has no such user yet (the push may not have created it)', async () => {
    const g = FakeGraph.script(notFound());
    expect(await failure(build(g).connector.setPassword({ id: 'a-1', username: 'alice' }, 'pw', ctx(link())))).toEqual([
      'TransientError',
      'Entra has no user alice yet; the password is retried after the push creates it',
      'USER_NOT_FOUND',
      undefined,
    ]);
    const g2 = FakeGraph.script();
    expect(await failure(build(g2).connector.setPassword({ id: 'a-1' }, 'pw', ctx(undefined)))).toEqual([
      'TransientError',
      'Entra has no user for app user a-1 yet; the password is retried after the push creates it',
      'USER_NOT_FOUND',
      undefined,
    ]);
  });

  it('skips a user mastered on-premises without asking Graph to change it', async () => {
    const g = FakeGraph.script(ok(inGraph({ onPremisesSyncEnabled: true })));
    expect(await build(g).connector.setPassword({ id: 'a-1' }, 'pw', ctx(link()))).toEqual({ operation: 'noop', remoteId: 'u-1', remoteName: UPN, skippedReason: ONPREM });
    expect(g.requests).toEqual([getUser('u-1', 'u-1', PASSWORD_SELECT)]);
  });

  it('takes any success as done', async () => {
    const g = FakeGraph.script(ok(inGraph()), ok({}));
    expect(await build(g).connector.setPassword({ id: 'a-1' }, 'pw', ctx(link()))).toMatchObject({ operation: 'password' });
  });

  it('is retried when the user vanishes before the password is set', async () => {
    const g = FakeGraph.script(ok(inGraph()), notFound());
    expect(await failure(build(g).connector.setPassword({ id: 'a-1' }, 'pw', ctx(link())))).toEqual([
      'TransientError',
      'Entra user alice@contoso.com disappeared before its password could be set',
      'USER_NOT_FOUND',
      404,
    ]);
  });
});

describe('EntraConnector reads', () => {
  const photo = { hash: 'h', contentType: 'image/png', data: 'AAAA' };
  const remote: RemoteUser = {
    target: 'entra',
    remoteId: 'u-1',
    username: UPN,
    active: true,
    email: 'alice@example.com',
    firstName: 'Alice',
    lastName: 'Liddell',
    displayName: 'Alice Liddell',
    attributes: { costCentre: 'Ops' },
  };

  it('getUser reads the linked user with its groups and photo', async () => {
    const g = FakeGraph.script(ok(inGraph()), groups(group('g-1', 'Ops')));
    const { connector, photoCalls } = build(g, { photo });
    expect(await connector.getUser({ id: 'a-1', username: 'alice' }, ctx(link()))).toEqual({ ...remote, groups: ['Ops'], photo });
    expect(g.requests).toEqual([getUser('u-1', 'u-1', SELECT), memberOf()]);
    expect(photoCalls).toEqual([[g.client, 'u-1', { abortSignal: signal, subject: UPN }]]);
  });

  it('getUser leaves the photo out when photos are not pulled, and finds unlinked users by UPN', async () => {
    const g = FakeGraph.script(ok(inGraph()), groups());
    const { connector, photoCalls } = build(g, { photo, pullPhotos: false });
    expect(await connector.getUser({ id: 'a-1', username: 'alice' }, ctx(undefined))).toEqual({ ...remote, groups: [] });
    expect(g.requests[0]).toEqual(getUser(UPN, UPN, SELECT));
    expect(photoCalls).toEqual([]);
  });

  it('getUser answers null for a user Entra does not have', async () => {
    const g = FakeGraph.script(notFound());
    const { connector, photoCalls } = build(g);
    expect(await connector.getUser({ id: 'a-1' }, ctx(link()))).toBeNull();
    expect(await connector.getUser({ id: 'a-1' }, ctx(undefined))).toBeNull();
    expect(g.requests).toHaveLength(1);
    expect(photoCalls).toEqual([]);
  });

  it('readUser reads by object id or UPN, with groups and photo unless only the profile is wanted', async () => {
    const g = FakeGraph.script(ok(inGraph()), groups(group('g-1', 'Ops')), ok(inGraph()));
    const { connector, photoCalls } = build(g, { photo });
    expect(await connector.readUser(UPN, { abortSignal: signal })).toEqual({ ...remote, groups: ['Ops'], photo });
    expect(await connector.readUser('u-1', { abortSignal: signal, profileOnly: true })).toEqual(remote);
    expect(g.requests).toEqual([getUser(UPN, UPN, SELECT), memberOf(), getUser('u-1', 'u-1', SELECT)]);
    expect(photoCalls).toHaveLength(1);
  });

  it('readUser takes no photo when photos are not pulled, and answers null for no user', async () => {
    const g = FakeGraph.script(ok(inGraph()), groups(), notFound());
    const { connector, photoCalls } = build(g, { photo, pullPhotos: false });
    expect(await connector.readUser('u-1')).toEqual({ ...remote, groups: [] });
    expect(await connector.readUser('u-2', { abortSignal: signal })).toBeNull();
    expect(photoCalls).toEqual([]);
    expect(g.requests[0]!.options.abortSignal).toBeUndefined();
  });

  it('listUsers pages through every user with the mapping’s $select', async () => {
    const g = FakeGraph.script(ok({ value: [inGraph()] }));
    expect(await collect(build(g).connector.listUsers({ abortSignal: signal, pageSize: 10 }))).toEqual([remote]);
    expect(g.requests).toEqual([{ method: 'GET', link: '/users', options: { abortSignal: signal, query: { $select: SELECT, $top: 10 }, permission: 'User.Read.All' } }]);
    const g2 = FakeGraph.script(ok({ value: [] }));
    await collect(build(g2).connector.listUsers());
    expect(g2.requests[0]!.options.query).toEqual({ $select: SELECT, $top: 999 });
  });

  const deltaRead = (pageSize: number): Request => ({
    method: 'GET',
    link: '/users/delta',
    options: { abortSignal: signal, query: { $select: SELECT }, headers: { Prefer: `odata.maxpagesize=${pageSize}` }, accept: [400, 404, 410], permission: 'User.Read.All' },
  });
  const DELTA = 'https://graph.test/v1.0/users/delta?$deltatoken=d1';

  it('listChanges runs one delta round, whatever `since` says, and stores the deltaLink', async () => {
    const g = FakeGraph.script(ok({ value: [inGraph(), { id: 'u-2', '@removed': { reason: 'deleted' } }], '@odata.deltaLink': DELTA }));
    const { connector, saved } = build(g);
    expect(await collect(connector.listChanges({ since: new Date(0), abortSignal: signal }))).toEqual([
      { type: 'resync', reason: 'initial' },
      { type: 'upsert', user: remote },
      { type: 'removed', remoteId: 'u-2', reason: 'deleted' },
    ]);
    expect(g.requests).toEqual([deltaRead(999)]);
    expect(saved).toEqual([[DELTA, SELECT]]);
  });

  it('listUsersDelta passes its options on', async () => {
    const g = FakeGraph.script(ok({ value: [], '@odata.deltaLink': DELTA }));
    await collect(build(g).connector.listUsersDelta({ abortSignal: signal, pageSize: 5 }));
    expect(g.requests).toEqual([deltaRead(5)]);
  });
});

describe('EntraConnector.expectedRemote', () => {
  it('is what a push would leave in Entra, less the create-only displayName', async () => {
    const g = FakeGraph.script();
    expect(await build(g).connector.expectedRemote({ ...alice, active: false, groups: ['Ops', 'ops', 'Sales'] })).toEqual({
      target: 'entra',
      username: UPN,
      active: false,
      email: 'alice@example.com',
      firstName: 'Alice',
      lastName: 'Liddell',
      attributes: { costCentre: 'Ops' },
      groups: ['Ops', 'Sales'],
    });
    expect(g.requests).toEqual([]);
  });

  it('includes a displayName the app gave, and no groups when the app sent none', async () => {
    const r = await build(FakeGraph.script()).connector.expectedRemote({ ...alice, displayName: 'Alice L.', attributes: {} });
    expect(r).toEqual({ target: 'entra', username: UPN, active: true, email: 'alice@example.com', firstName: 'Alice', lastName: 'Liddell', displayName: 'Alice L.' });
    expect((await build(FakeGraph.script()).connector.expectedRemote({ ...alice, groups: [] })).groups).toEqual([]);
  });

  it('expects a cleared name empty, an omitted one not at all', async () => {
    const { connector } = build(FakeGraph.script());
    expect(await connector.expectedRemote({ ...alice, firstName: null, lastName: '' })).toMatchObject({ firstName: '', lastName: '' });
    expect(await connector.expectedRemote({ ...alice, firstName: '  ' })).toMatchObject({ firstName: '', lastName: 'Liddell' });
    expect(await connector.expectedRemote({ ...alice, lastName: null })).toMatchObject({ firstName: 'Alice', lastName: '' });
    const omitted = await connector.expectedRemote({ ...alice, firstName: undefined, lastName: undefined });
    expect(['firstName' in omitted, 'lastName' in omitted]).toEqual([false, false]);
  });

  it("hands the mapping's alterRemoteUser the values an update writes", async () => {
    const seen: unknown[] = [];
    const module = { ...MAP, alterRemoteUser: (_r: RemoteUser, v: Readonly<Record<string, unknown>>) => void seen.push(v) };
    await build(FakeGraph.script(), { module }).connector.expectedRemote(alice);
    expect(seen).toEqual([{ userPrincipalName: UPN, givenName: 'Alice', surname: 'Liddell', mail: 'alice@example.com', accountEnabled: true, department: 'Ops' }]);
  });

  it("reads the tenant's domain when none is configured", async () => {
    const g = FakeGraph.script(orgWith([{ name: 'fabrikam.com', isDefault: true }]));
    expect((await build(g, { upnDomain: undefined }).connector.expectedRemote(alice, { abortSignal: signal })).username).toBe('alice@fabrikam.com');
    expect(g.requests).toEqual([organization()]);
  });
});

describe('EntraConnector.appUsername', () => {
  const asRemote = (username: string): RemoteUser => ({ target: 'entra', remoteId: 'u-1', username, active: true });

  it("is the UPN's local part when the UPN rule maps it back to the same UPN, in any case", async () => {
    const { connector } = build(FakeGraph.script());
    expect(await connector.appUsername(asRemote(UPN))).toBe('alice');
    expect(await connector.appUsername(asRemote('Alice@CONTOSO.com'))).toBe('Alice');
    expect(await connector.appUsername(asRemote('a.b@c@contoso.com'))).toBe('a.b@c@contoso.com');
  });

  it('is the whole UPN otherwise', async () => {
    const { connector } = build(FakeGraph.script());
    expect(await connector.appUsername(asRemote('alice@other.com'))).toBe('alice@other.com');
    expect(await connector.appUsername(asRemote('a+b@contoso.com'))).toBe('a+b@contoso.com');
    expect(await connector.appUsername(asRemote('alice'))).toBe('alice');
    expect(await connector.appUsername(asRemote('@contoso.com'))).toBe('@contoso.com');
  });

  it('asks a custom UPN rule with the remote id and the local part', async () => {
    const seen: unknown[] = [];
    const module = { ...MAP, userPrincipalName: (s: UserSnapshot, c: { domain: string }) => (seen.push([s.id, s.username]), `${s.username}.x@${c.domain}`) };
    const { connector } = build(FakeGraph.script(), { module });
    expect(await connector.appUsername(asRemote('bob.x@contoso.com'))).toBe('bob.x@contoso.com');
    expect(seen).toEqual([['u-1', 'bob.x']]);
  });

  it('splits at the last @, and takes no empty local part', async () => {
    // A rule that keeps the username as it is maps any local part back.
    const module = { ...MAP, userPrincipalName: (s: UserSnapshot, c: { domain: string }) => `${s.username}@${c.domain}` };
    const { connector } = build(FakeGraph.script(), { module });
    expect(await connector.appUsername(asRemote('a@b@contoso.com'))).toBe('a@b');
    expect(await connector.appUsername(asRemote('@contoso.com'))).toBe('@contoso.com');
  });

  it("reads the tenant's domain when none is configured", async () => {
    const g = FakeGraph.script(orgWith([{ name: 'fabrikam.com', isDefault: true }]));
    expect(await build(g, { upnDomain: undefined }).connector.appUsername(asRemote('alice@fabrikam.com'), { abortSignal: signal })).toBe('alice');
    expect(g.requests).toEqual([organization()]);
  });
});

describe('EntraConnector.probe', () => {
  const org = () => orgWith([{ name: 'fabrikam.com', isDefault: true }]);

  it('renews the token and reads the organization once, without retries', async () => {
    const g = FakeGraph.script(org());
    await build(g).connector.probe({ abortSignal: signal });
    expect(g.renewed).toBe(1);
    expect(g.requests).toEqual([organization({ once: true })]);
  });

  it("remembers the tenant's domain when none is configured", async () => {
    const g = FakeGraph.script(org(), created(inGraph()));
    const { connector } = build(g, { upnDomain: undefined });
    await connector.probe({ abortSignal: signal });
    await connector.upsertUser(alice, ctx(undefined));
    expect(g.requests.map((r) => r.options.subject ?? r.link)).toEqual(['/organization', 'alice@fabrikam.com']);
  });

  it('keeps a configured UPN domain', async () => {
    const g = FakeGraph.script(org());
    const { connector } = build(g);
    await connector.probe({});
    expect((await connector.expectedRemote(alice)).username).toBe(UPN);
  });

  it('passes when the token now holds every permission that was missing, directly or through a broader one, and forgets them', async () => {
    const g = FakeGraph.script(org());
    g.missingPermissions.add('User.ReadWrite.All').add('GroupMember.Read.All');
    g.tokenRoles = new Set(['User.ReadWrite.All', 'Directory.Read.All']);
    await build(g).connector.probe({});
    expect([...g.missingPermissions]).toEqual([]);
  });

  it('passes without a token to look at, and forgets the missing permissions', async () => {
    const g = FakeGraph.script(org());
    g.missingPermissions.add('User.ReadWrite.All');
    await build(g).connector.probe({});
    expect([...g.missingPermissions]).toEqual([]);
  });

  it('fails naming every permission the token still lacks, and keeps them', async () => {
    const g = FakeGraph.script(org());
    g.missingPermissions.add('User.ReadWrite.All').add('GroupMember.ReadWrite.All').add('User.Read.All');
    g.tokenRoles = new Set(['User.Read.All']);
    expect(await failure(build(g).connector.probe({}))).toEqual([
      'ConfigurationError',
      'the app ENTRA_CLIENT_ID still lacks the application permission User.ReadWrite.All, GroupMember.ReadWrite.All (admin consent)',
      undefined,
      undefined,
    ]);
    expect([...g.missingPermissions]).toEqual(['User.ReadWrite.All', 'GroupMember.ReadWrite.All', 'User.Read.All']);
  });

  it('fails when the organization cannot be read', async () => {
    const g = FakeGraph.script(orgWith([]));
    g.missingPermissions.add('User.ReadWrite.All');
    expect(await failure(build(g).connector.probe({}))).toEqual(['PermanentError', 'the Entra tenant reports no verified domain; set ENTRA_UPN_DOMAIN', undefined, undefined]);
    expect([...g.missingPermissions]).toEqual(['User.ReadWrite.All']);
  });
});

describe('EntraConnector', () => {
  it('is the entra target and closes its client', async () => {
    const g = FakeGraph.script();
    const { connector } = build(g);
    expect(connector.target).toBe('entra');
    await connector.close();
    expect(g.closed).toBe(1);
  });
});
