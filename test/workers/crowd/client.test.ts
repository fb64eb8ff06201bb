// The Crowd REST client against a scripted server: each request it sends (method, path, query,
// headers, body) and what it makes of each reply shape, in full. Operators read these messages
// in the failed set and quarantine reasons, and the runtime acts on each error's kind and code.
import type { SyncError } from '../../../shared/errors.js';
import { issueServerCertificate, loadOrCreateAuthority } from '../../../emulators/entra/certificates.js';
import { CrowdClient, normalizeBaseUrl, type CrowdClientOptions } from '../../../workers/crowd/client.js';
import type { CrowdUser } from '../../../workers/crowd/entities.js';
import { remoteCalls } from '../../../workers/runtime/process-metrics.js';
import type { RequestBudget } from '../../../workers/runtime/request-budget.js';
import { expected, view } from './replies.js';
import { ScriptedServer, cutOff, hang, json, noContent, refusal, reset, text, xml, type Answer } from './scripted-server.js';

const API = '/crowd/rest/usermanagement/1';
const APP = 'idsync-app';
const PASSWORD = 'S3cr:et-pw';
const BASIC = `Basic ${Buffer.from(`${APP}:${PASSWORD}`).toString('base64')}`;
// Tiny in-place backoff: the tests count resends, they do not wait for them.
const FAST = { resendRetryBaseMs: 1 };

const aliceEntity = {
  name: 'alice',
  key: '32769:abc',
  'first-name': 'Alice',
  'last-name': 'Smith',
  'display-name': 'Alice Smith',
  email: 'alice@example.com',
  active: true,
  'updated-date': 1_700_000_000_000,
  attributes: { attributes: [{ name: 'dept', values: ['eng'] }] },
};
const alice: CrowdUser = {
  name: 'alice',
  key: '32769:abc',
  firstName: 'Alice',
  lastName: 'Smith',
  displayName: 'Alice Smith',
  email: 'alice@example.com',
  active: true,
  attributes: undefined,
  updatedAt: 1_700_000_000_000,
};
const bob = { name: 'bob', active: false };
const bobUser: CrowdUser = { name: 'bob', key: undefined, firstName: undefined, lastName: undefined, displayName: undefined, email: undefined, active: false, attributes: undefined, updatedAt: undefined };


async function failure(promise: Promise<unknown>): Promise<ReturnType<typeof view>> {
  const err = await promise.then(
    (value) => {
      throw new Error(`resolved with ${JSON.stringify(value)}`);
    },
    (e: unknown) => e as SyncError,
  );
  return view(err);
}

const group = (n: number) => ({ name: `g${n}` });
const groups = (from: number, count: number) => Array.from({ length: count }, (_, i) => group(from + i));

async function callCount(method: string, route: string, status: string): Promise<number> {
  const found = (await remoteCalls.get()).values.find(
    (v) => v.labels.target === 'crowd' && v.labels.method === method && v.labels.route === route && v.labels.status === status,
  );
  return found?.value ?? 0;
}

describe('normalizeBaseUrl', () => {
  it.each([
    ['https://crowd.example.com/crowd', 'https://crowd.example.com/crowd/'],
    ['https://crowd.example.com/crowd/', 'https://crowd.example.com/crowd/'],
    ['https://crowd.example.com/crowd/rest/usermanagement/1', 'https://crowd.example.com/crowd/'],
    ['https://crowd.example.com/crowd/rest/usermanagement/1/', 'https://crowd.example.com/crowd/'],
    ['https://crowd.example.com/crowd/rest/usermanagement/latest', 'https://crowd.example.com/crowd/'],
    ['https://crowd.example.com/rest/usermanagement/latest/', 'https://crowd.example.com/'],
    ['https://crowd.example.com', 'https://crowd.example.com/'],
    // Only the API path itself is cut, never part of a longer path.
    ['https://crowd.example.com/crowd/rest/usermanagement/2/', 'https://crowd.example.com/crowd/rest/usermanagement/2/'],
    ['https://crowd.example.com/crowd/rest/usermanagement/1/user', 'https://crowd.example.com/crowd/rest/usermanagement/1/user/'],
    ['https://crowd.example.com/crowdrest/usermanagement/1', 'https://crowd.example.com/crowdrest/usermanagement/1/'],
    ['https://admin:pw@crowd.example.com:8443/crowd?os_authType=basic#top', 'https://crowd.example.com:8443/crowd/'],
  ])('%s → %s', (url, base) => {
    expect(normalizeBaseUrl(url)).toBe(base);
  });
});

describe('CrowdClient', () => {
  let server: ScriptedServer;
  const clients: CrowdClient[] = [];
  const newClient = (options: Partial<CrowdClientOptions> = {}, base = server.url): CrowdClient => {
    const client = new CrowdClient({ url: `${base}crowd`, applicationName: APP, applicationPassword: PASSWORD, timeoutMs: 2000, retry: FAST, ...options });
    clients.push(client);
    return client;
  };
  let client: CrowdClient;
  const answer = (...answers: Answer[]) => server.answer(...answers);
  /** Method, path with query and body of each request sent so far. */
  const sent = () => server.requests.map((r) => ({ method: r.method, url: r.url, body: r.body }));

  beforeAll(async () => {
    server = await ScriptedServer.start();
  });
  beforeEach(() => {
    server.clear();
    client = newClient();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => server.close());

  it('names its base URL without credentials, query or API path', () => {
    expect(newClient({ url: 'https://app:pw@crowd.example.com/crowd/rest/usermanagement/1?x=1' }).baseUrl).toBe('https://crowd.example.com/crowd/');
    expect(client.baseUrl).toBe(`${server.url}crowd/`);
  });

  describe('what every request carries', () => {
    it('the application credentials in a Basic header, JSON accept, the XSRF opt-out and its name, no body on a read', async () => {
      answer(json(200, aliceEntity));
      await client.getUser({ username: 'alice' });
      const [req] = server.requests;
      expect(req!.headers).toMatchObject({
        authorization: BASIC,
        accept: 'application/json',
        'x-atlassian-token': 'no-check',
        'user-agent': 'idsync',
        connection: 'keep-alive',
      });
      expect(req!.headers['content-type']).toBeUndefined();
      expect(req!.body).toBe('');
    });

    it('a JSON body with its content type on a write', async () => {
      answer(noContent);
      await client.updateUser('alice', bob);
      expect(server.requests[0]!.headers).toMatchObject({ 'content-type': 'application/json', accept: 'application/json', authorization: BASIC });
    });

    it('asks for XML on the event feed', async () => {
      answer(xml(200, '<events newEventToken="t1"/>'));
      await client.currentEventToken();
      expect(server.requests[0]!.headers).toMatchObject({ accept: 'application/xml', authorization: BASIC, 'x-atlassian-token': 'no-check' });
    });

    it('keeps one connection alive across requests, and close() drops it', async () => {
      answer(json(200, aliceEntity), json(200, aliceEntity));
      await client.getUser({ username: 'alice' });
      await client.getUser({ username: 'alice' });
      expect(server.requests.map((r) => r.port)).toEqual([server.requests[0]!.port, server.requests[0]!.port]);
      expect(server.openSockets).toBe(1);
      client.close();
      await server.connectionsClosed();
      expect(server.openSockets).toBe(0);
    }, 3000);

    it('counts each call by method, route and status, and "error" when no reply came', async () => {
      const before = [await callCount('DELETE', 'user', '204'), await callCount('DELETE', 'user', 'error'), await callCount('GET', 'event/{token}', '410')];
      answer(noContent, reset);
      await client.deleteUser('alice');
      await expect(newClient({ retry: { resendRetries: 0 } }).deleteUser('alice')).rejects.toThrow('reset');
      answer(xml(410, '<error><reason>EVENT_TOKEN_EXPIRED</reason><message>gone</message></error>'));
      await client.eventsSince('tok');
      expect([await callCount('DELETE', 'user', '204'), await callCount('DELETE', 'user', 'error'), await callCount('GET', 'event/{token}', '410')]).toEqual(before.map((n) => n + 1));
    });
  });

  describe('over HTTPS', () => {
    let tls: ScriptedServer;
    beforeAll(async () => {
      const cert = await issueServerCertificate(await loadOrCreateAuthority('.idsync/entra'));
      tls = await ScriptedServer.start({ cert: cert.certificatePem, key: cert.privateKeyPem });
    });
    afterAll(() => tls.close());

    it('keeps its connection alive too, and close() drops it', async () => {
      const c = newClient({}, tls.url);
      tls.answer(json(200, aliceEntity), json(200, aliceEntity));
      await expect(c.getUser({ username: 'alice' })).resolves.toEqual(alice);
      await c.getUser({ username: 'alice' });
      expect(tls.requests.map((r) => r.port)).toEqual([tls.requests[0]!.port, tls.requests[0]!.port]);
      expect(tls.requests[0]!.headers).toMatchObject({ connection: 'keep-alive', authorization: BASIC });
      c.close();
      await tls.connectionsClosed();
      expect(tls.openSockets).toBe(0);
    }, 3000);
  });

  describe('getUser', () => {
    it('reads a user by name, without attributes', async () => {
      answer(json(200, aliceEntity));
      await expect(client.getUser({ username: 'Alice Smith+1' })).resolves.toEqual(alice);
      expect(sent()).toEqual([{ method: 'GET', url: `${API}/user?username=Alice+Smith%2B1`, body: '' }]);
    });

    it('reads a user by key, with its attributes', async () => {
      answer(json(200, aliceEntity));
      await expect(client.getUser({ key: '32769:abc' }, { attributes: true })).resolves.toEqual({ ...alice, attributes: { dept: ['eng'] } });
      expect(sent()).toEqual([{ method: 'GET', url: `${API}/user?key=32769%3Aabc&expand=attributes`, body: '' }]);
    });

    it('asks without expand when attributes are not wanted', async () => {
      answer(json(200, bob));
      await expect(client.getUser({ key: 'k' }, { attributes: false })).resolves.toEqual(bobUser);
      expect(sent()).toEqual([{ method: 'GET', url: `${API}/user?key=k`, body: '' }]);
    });

    it('is null when Crowd has no such user, by name or by key', async () => {
      answer(refusal(404, 'USER_NOT_FOUND', 'User <alice> does not exist'), refusal(404, 'USER_NOT_FOUND', 'no'));
      await expect(client.getUser({ username: 'alice' })).resolves.toBeNull();
      await expect(client.getUser({ key: 'k' })).resolves.toBeNull();
    });

    it('reads an old server\'s ILLEGAL_ARGUMENT as "not found" by key only', async () => {
      answer(refusal(400, 'ILLEGAL_ARGUMENT', 'username query parameter must be given'), refusal(400, 'ILLEGAL_ARGUMENT', 'bad name'));
      await expect(client.getUser({ key: 'k' })).resolves.toBeNull();
      expect(await failure(client.getUser({ username: 'alice' }))).toEqual(
        expected('permanent', 'Crowd refused GET /user alice: ILLEGAL_ARGUMENT — bad name', { status: 400, code: 'ILLEGAL_ARGUMENT' }),
      );
    });

    it('names a key lookup by its key in errors', async () => {
      answer(refusal(400, 'INVALID_USER', 'odd'));
      expect(await failure(client.getUser({ key: '32769:abc' }))).toEqual(
        expected('permanent', 'Crowd refused GET /user key 32769:abc: INVALID_USER — odd', { status: 400, code: 'INVALID_USER' }),
      );
    });

    it('rejects a user of the wrong shape, naming the field', async () => {
      answer(json(200, { ...aliceEntity, name: '' }));
      expect(await failure(client.getUser({ username: 'alice' }))).toEqual(
        expected('transient', 'Crowd answered GET /user alice with 200 but a JSON body of an unexpected shape (name: Too small: expected string to have >=1 characters)', {
          status: 200,
          code: 'MALFORMED_RESPONSE',
        }),
      );
    });

    it('rejects a reply that is not an object, naming the root', async () => {
      answer(json(200, null));
      expect(await failure(client.getUser({ username: 'alice' }))).toEqual(
        expected('transient', 'Crowd answered GET /user alice with 200 but a JSON body of an unexpected shape ((root): Invalid input: expected object, received null)', {
          status: 200,
          code: 'MALFORMED_RESPONSE',
        }),
      );
    });
  });

  describe('createUser', () => {
    it('posts the profile and password, and reads back the created user with its attributes', async () => {
      answer(json(201, aliceEntity));
      await expect(client.createUser({ name: 'alice', email: 'alice@example.com', active: true }, 'pw-1', {})).resolves.toEqual({ ...alice, attributes: { dept: ['eng'] } });
      expect(sent()).toEqual([{ method: 'POST', url: `${API}/user`, body: JSON.stringify({ name: 'alice', email: 'alice@example.com', active: true, password: { value: 'pw-1' } }) }]);
    });

    it('sends attributes along when there are any, and is undefined when Crowd returns no user', async () => {
      answer(text(201, '', ''));
      await expect(client.createUser({ name: 'alice', active: false }, 'pw-1', { dept: ['eng', 'ops'], site: [] })).resolves.toBeUndefined();
      expect(JSON.parse(server.requests[0]!.body)).toEqual({
        name: 'alice',
        active: false,
        password: { value: 'pw-1' },
        attributes: { attributes: [{ name: 'dept', values: ['eng', 'ops'] }, { name: 'site', values: [] }] },
      });
    });

    it('reads "already exists" in any case as exists', async () => {
      answer(refusal(400, 'INVALID_USER', 'User already exists'), refusal(400, 'INVALID_USER', 'USER ALREADY EXISTS in directory'));
      await expect(client.createUser(bob, 'pw', {})).resolves.toBe('exists');
      await expect(client.createUser(bob, 'pw', {})).resolves.toBe('exists');
    });

    it('throws any other INVALID_USER as Crowd\'s refusal', async () => {
      answer(refusal(400, 'INVALID_USER', 'Invalid email address'));
      expect(await failure(client.createUser(bob, 'pw', {}))).toEqual(
        expected('permanent', 'Crowd refused POST /user bob: INVALID_USER — Invalid email address', { status: 400, code: 'INVALID_USER' }),
      );
    });

    it('names the call and user when the created user is of the wrong shape', async () => {
      answer(json(201, { name: 7 }));
      expect(await failure(client.createUser(bob, 'pw', {}))).toEqual(
        expected('transient', 'Crowd answered POST /user bob with 201 but a JSON body of an unexpected shape (name: Invalid input: expected string, received number) (a write may still have been applied)', {
          status: 201,
          code: 'MALFORMED_RESPONSE',
        }),
      );
    });
  });

  describe('the other user calls', () => {
    it('updateUser puts the full profile by name', async () => {
      answer(noContent);
      await expect(client.updateUser('alice', { name: 'alice', 'first-name': 'A', active: true })).resolves.toBeUndefined();
      expect(sent()).toEqual([{ method: 'PUT', url: `${API}/user?username=alice`, body: '{"name":"alice","first-name":"A","active":true}' }]);
    });

    it('updateUser throws a refusal with the user named', async () => {
      answer(refusal(400, 'INVALID_USER', 'bad'));
      expect(await failure(client.updateUser('alice', bob))).toEqual(expected('permanent', 'Crowd refused PUT /user alice: INVALID_USER — bad', { status: 400, code: 'INVALID_USER' }));
    });

    it('renameUser posts the new name and reads back the user without attributes', async () => {
      answer(json(200, aliceEntity));
      await expect(client.renameUser('al', 'alice')).resolves.toEqual(alice);
      expect(sent()).toEqual([{ method: 'POST', url: `${API}/user/rename?username=al`, body: '{"new-name":"alice"}' }]);
    });

    it('renameUser is undefined without a body', async () => {
      answer(noContent);
      await expect(client.renameUser('al', 'alice')).resolves.toBeUndefined();
    });

    it('renameUser names both names when the reply is of the wrong shape', async () => {
      answer(json(200, { users: [] }));
      expect(await failure(client.renameUser('al', 'alice'))).toEqual(
        expected('transient', 'Crowd answered POST /user/rename al → alice with 200 but a JSON body of an unexpected shape (name: Invalid input: expected string, received undefined) (a write may still have been applied)', {
          status: 200,
          code: 'MALFORMED_RESPONSE',
        }),
      );
    });

    it('setPassword puts the value, false when the user does not exist', async () => {
      answer(noContent, refusal(404, 'USER_NOT_FOUND', 'no'));
      await expect(client.setPassword('alice', 'n3w')).resolves.toBe(true);
      await expect(client.setPassword('alice', 'n3w')).resolves.toBe(false);
      expect(sent()).toEqual([
        { method: 'PUT', url: `${API}/user/password?username=alice`, body: '{"value":"n3w"}' },
        { method: 'PUT', url: `${API}/user/password?username=alice`, body: '{"value":"n3w"}' },
      ]);
    });

    it('setPassword throws other refusals', async () => {
      answer(refusal(400, 'INVALID_CREDENTIAL', 'too short'));
      expect(await failure(client.setPassword('alice', 'n3w'))).toEqual(
        expected('permanent', 'Crowd refused PUT /user/password alice: INVALID_CREDENTIAL — too short', { status: 400, code: 'INVALID_CREDENTIAL' }),
      );
    });

    it('deleteUser deletes by name, false when the user was already gone', async () => {
      answer(noContent, refusal(404, 'USER_NOT_FOUND', 'no'));
      await expect(client.deleteUser('alice')).resolves.toBe(true);
      await expect(client.deleteUser('alice')).resolves.toBe(false);
      expect(sent()).toEqual([
        { method: 'DELETE', url: `${API}/user?username=alice`, body: '' },
        { method: 'DELETE', url: `${API}/user?username=alice`, body: '' },
      ]);
      expect(server.requests[0]!.headers['content-type']).toBeUndefined();
    });

    it('deleteUser throws other refusals', async () => {
      answer(refusal(403, 'APPLICATION_PERMISSION_DENIED', 'no delete'));
      expect(await failure(client.deleteUser('alice'))).toEqual(
        expected('permanent', 'Crowd refused DELETE /user alice: APPLICATION_PERMISSION_DENIED — no delete', { status: 403, code: 'APPLICATION_PERMISSION_DENIED' }),
      );
    });

    it('storeAttributes posts every attribute with its values', async () => {
      answer(noContent);
      await expect(client.storeAttributes('alice', { dept: ['eng'], tags: ['a', 'b'], empty: [] })).resolves.toBeUndefined();
      expect(sent()).toEqual([
        {
          method: 'POST',
          url: `${API}/user/attribute?username=alice`,
          body: JSON.stringify({ attributes: [{ name: 'dept', values: ['eng'] }, { name: 'tags', values: ['a', 'b'] }, { name: 'empty', values: [] }] }),
        },
      ]);
    });

    it('deleteAttribute deletes one attribute by name, naming it in errors', async () => {
      answer(noContent, refusal(404, 'USER_NOT_FOUND', 'no'));
      await expect(client.deleteAttribute('alice', 'dept')).resolves.toBeUndefined();
      expect(await failure(client.deleteAttribute('alice', 'dept'))).toEqual(
        expected('permanent', 'Crowd refused DELETE /user/attribute alice dept: USER_NOT_FOUND — no', { status: 404, code: 'USER_NOT_FOUND' }),
      );
      expect(sent()[0]).toEqual({ method: 'DELETE', url: `${API}/user/attribute?username=alice&attributename=dept`, body: '' });
    });
  });

  describe('listUserGroups', () => {
    it('reads the direct groups of a user', async () => {
      answer(json(200, { groups: [group(1), group(2)] }));
      await expect(client.listUserGroups('alice', 'direct')).resolves.toEqual(['g1', 'g2']);
      expect(sent()).toEqual([{ method: 'GET', url: `${API}/user/group/direct?username=alice&start-index=0&max-results=1000`, body: '' }]);
    });

    it('reads nested groups under the singular key too', async () => {
      answer(json(200, { group: [group(3)] }));
      await expect(client.listUserGroups('alice', 'nested')).resolves.toEqual(['g3']);
      expect(sent()[0]!.url).toBe(`${API}/user/group/nested?username=alice&start-index=0&max-results=1000`);
    });

    it('reads a reply without a list as no groups', async () => {
      answer(json(200, {}));
      await expect(client.listUserGroups('alice', 'direct')).resolves.toEqual([]);
    });

    it('reads on while a page is full, and stops at the first short one', async () => {
      answer(json(200, { groups: groups(0, 1000) }), json(200, { groups: groups(1000, 1000) }), json(200, { groups: groups(2000, 999) }));
      const names = await client.listUserGroups('alice', 'direct');
      expect(names).toEqual(groups(0, 2999).map((g) => g.name));
      expect(sent().map((r) => r.url)).toEqual([0, 1000, 2000].map((start) => `${API}/user/group/direct?username=alice&start-index=${start}&max-results=1000`));
    });

    it('asks once more after a full last page', async () => {
      answer(json(200, { groups: groups(0, 1000) }), json(200, { groups: [] }));
      await expect(client.listUserGroups('alice', 'direct')).resolves.toHaveLength(1000);
      expect(server.requests).toHaveLength(2);
    });

    it('is null when the user does not exist, even on a later page', async () => {
      answer(refusal(404, 'USER_NOT_FOUND', 'no'), json(200, { groups: groups(0, 1000) }), refusal(404, 'USER_NOT_FOUND', 'no'));
      await expect(client.listUserGroups('alice', 'direct')).resolves.toBeNull();
      await expect(client.listUserGroups('alice', 'direct')).resolves.toBeNull();
    });

    it('names the user and the bad entry of a list of the wrong shape', async () => {
      answer(json(200, { groups: [group(1), { name: '' }] }));
      expect(await failure(client.listUserGroups('alice', 'direct'))).toEqual(
        expected('transient', 'Crowd answered GET /user/group/direct alice with 200 but a JSON body of an unexpected shape (groups.1.name: Too small: expected string to have >=1 characters)', {
          status: 200,
          code: 'MALFORMED_RESPONSE',
        }),
      );
    });

    it('throws other refusals', async () => {
      answer(refusal(403, 'APPLICATION_ACCESS_DENIED', 'no'));
      expect(await failure(client.listUserGroups('alice', 'nested'))).toEqual(
        expected('permanent', 'Crowd refused GET /user/group/nested alice: APPLICATION_ACCESS_DENIED — no', { status: 403, code: 'APPLICATION_ACCESS_DENIED' }),
      );
    });
  });

  describe('memberships', () => {
    it('addUserToGroup posts the group: added, exists or no-group', async () => {
      answer(text(201, '', ''), refusal(409, 'MEMBERSHIP_ALREADY_EXISTS', 'already'), refusal(404, 'GROUP_NOT_FOUND', 'no group'));
      await expect(client.addUserToGroup('alice', 'devs')).resolves.toBe('added');
      await expect(client.addUserToGroup('alice', 'devs')).resolves.toBe('exists');
      await expect(client.addUserToGroup('alice', 'devs')).resolves.toBe('no-group');
      expect(sent()[0]).toEqual({ method: 'POST', url: `${API}/user/group/direct?username=alice`, body: '{"name":"devs"}' });
    });

    it('addUserToGroup throws a missing user', async () => {
      answer(refusal(404, 'USER_NOT_FOUND', 'no user'));
      expect(await failure(client.addUserToGroup('alice', 'devs'))).toEqual(
        expected('permanent', 'Crowd refused POST /user/group/direct alice → devs: USER_NOT_FOUND — no user', { status: 404, code: 'USER_NOT_FOUND' }),
      );
    });

    it('removeUserFromGroup deletes the membership: removed, or absent when it or the group is gone', async () => {
      answer(noContent, refusal(404, 'MEMBERSHIP_NOT_FOUND', 'no'), refusal(404, 'GROUP_NOT_FOUND', 'no'));
      await expect(client.removeUserFromGroup('alice', 'devs')).resolves.toBe('removed');
      await expect(client.removeUserFromGroup('alice', 'devs')).resolves.toBe('absent');
      await expect(client.removeUserFromGroup('alice', 'devs')).resolves.toBe('absent');
      expect(sent()[0]).toEqual({ method: 'DELETE', url: `${API}/user/group/direct?username=alice&groupname=devs`, body: '' });
    });

    it('removeUserFromGroup throws a missing user', async () => {
      answer(refusal(404, 'USER_NOT_FOUND', 'no user'));
      expect(await failure(client.removeUserFromGroup('alice', 'devs'))).toEqual(
        expected('permanent', 'Crowd refused DELETE /user/group/direct alice ✕ devs: USER_NOT_FOUND — no user', { status: 404, code: 'USER_NOT_FOUND' }),
      );
    });
  });

  describe('searchUsers', () => {
    it('reads one page of users, expanded, without a restriction', async () => {
      answer(json(200, { users: [aliceEntity, bob] }));
      await expect(client.searchUsers({ startIndex: 0, maxResults: 50 })).resolves.toEqual([alice, bobUser]);
      expect(sent()).toEqual([{ method: 'GET', url: `${API}/search?entity-type=user&start-index=0&max-results=50&expand=user`, body: '' }]);
    });

    it('filters by CQL and expands attributes when asked', async () => {
      answer(json(200, { user: [aliceEntity] }));
      await expect(client.searchUsers({ startIndex: 100, maxResults: 10, restriction: 'name = "a*"', attributes: true })).resolves.toEqual([{ ...alice, attributes: { dept: ['eng'] } }]);
      expect(sent()[0]!.url).toBe(`${API}/search?entity-type=user&start-index=100&max-results=10&expand=user%2Cattributes&restriction=name+%3D+%22a*%22`);
    });

    it('names the restriction in a refusal', async () => {
      answer(refusal(400, 'INVALID_RESTRICTION', 'bad CQL'));
      expect(await failure(client.searchUsers({ startIndex: 0, maxResults: 1, restriction: 'name ~ x' }))).toEqual(
        expected('permanent', 'Crowd refused GET /search name ~ x: INVALID_RESTRICTION — bad CQL', { status: 400, code: 'INVALID_RESTRICTION' }),
      );
    });

    it('reads a reply without a list as no users', async () => {
      answer(json(200, {}));
      await expect(client.searchUsers({ startIndex: 0, maxResults: 1, attributes: false })).resolves.toEqual([]);
    });

    it('names the restriction in errors, and the bad entry of a list', async () => {
      answer(json(200, { users: [{ name: 'x', active: 'yes' }] }));
      expect(await failure(client.searchUsers({ startIndex: 0, maxResults: 1, restriction: 'active = true' }))).toEqual(
        expected('transient', 'Crowd answered GET /search active = true with 200 but a JSON body of an unexpected shape (users.0.active: Invalid input)', {
          status: 200,
          code: 'MALFORMED_RESPONSE',
        }),
      );
    });
  });

  describe('the event feed', () => {
    const NOT_AVAILABLE = '<?xml version="1.0"?><error><reason>INCREMENTAL_SYNC_NOT_AVAILABLE</reason><message>off</message></error>';

    it('currentEventToken asks GET /event without a query and reads the token', async () => {
      answer(xml(200, '<?xml version="1.0" encoding="UTF-8"?><events incrementalSynchronisationAvailable="true" newEventToken="42:7"/>'));
      await expect(client.currentEventToken()).resolves.toBe('42:7');
      expect(sent()).toEqual([{ method: 'GET', url: `${API}/event`, body: '' }]);
    });

    it('currentEventToken takes any 2xx, up to 299', async () => {
      answer(xml(299, '<events newEventToken="t"/>', 'text/plain'));
      await expect(client.currentEventToken()).resolves.toBe('t');
    });

    it('currentEventToken is unavailable when the server says so, refuses, or has no feed at all', async () => {
      answer(xml(200, '<events incrementalSynchronisationAvailable="false" newEventToken="t"/>'), xml(400, NOT_AVAILABLE), xml(400, NOT_AVAILABLE, 'text/xml;charset=UTF-8'), text(404, 'text/html', '<html>Not Found</html>'), refusal(400, 'INCREMENTAL_SYNC_NOT_AVAILABLE', 'off'));
      for (let i = 0; i < 5; i++) await expect(client.currentEventToken()).resolves.toBe('unavailable');
    });

    it('currentEventToken throws a reply without a token', async () => {
      answer(xml(200, '<events incrementalSynchronisationAvailable="true"/>'));
      expect(await failure(client.currentEventToken())).toEqual(
        expected('transient', 'Crowd answered GET /event with 200 but an events reply without a newEventToken', { status: 200, code: 'MALFORMED_RESPONSE' }),
      );
    });

    it('currentEventToken throws a body that is not an events document', async () => {
      answer(xml(200, '<users/>'));
      expect(await failure(client.currentEventToken())).toEqual(
        expected('transient', 'Crowd answered GET /event with 200 but a body that is not an <events> document', { status: 200, code: 'MALFORMED_RESPONSE' }),
      );
    });

    it('currentEventToken takes a login page for a proxy in the way', async () => {
      answer(text(200, 'text/html; charset=utf-8', '<html><title>Sign in</title></html>'));
      expect(await failure(client.currentEventToken())).toEqual(
        expected(
          'configuration',
          'Crowd answered GET /event with 200 and an HTML page (text/html; charset=utf-8) instead of XML: a proxy answered instead of Crowd; is an SSO or login proxy in front of it? CROWD_URL should point straight at Crowd',
          { status: 200, code: 'MALFORMED_RESPONSE' },
        ),
      );
    });

    it('a 404 carrying an error it does not accept is Crowd\'s refusal, not a missing feed', async () => {
      answer(xml(404, '<error><reason>USER_NOT_FOUND</reason><message>a &lt;b&gt; &quot;c&quot; &apos;d&apos; &amp;lt;</message></error>'));
      expect(await failure(client.currentEventToken())).toEqual(
        expected('permanent', 'Crowd refused GET /event: USER_NOT_FOUND — a <b> "c" \'d\' &lt;', { status: 404, code: 'USER_NOT_FOUND' }),
      );
    });

    it('reads an XML error without a message as an empty message', async () => {
      answer(xml(400, '<error><reason>INVALID_TOKEN</reason></error>'));
      expect(await failure(client.currentEventToken())).toEqual(expected('permanent', 'Crowd refused GET /event: INVALID_TOKEN — ', { status: 400, code: 'INVALID_TOKEN' }));
    });

    it('quotes an XML error body without a reason as it is', async () => {
      answer(xml(400, '<error><message>what</message></error>'));
      expect(await failure(client.currentEventToken())).toEqual(expected('permanent', 'Crowd refused GET /event: 400 application/xml: "what"', { status: 400 }));
    });

    it('reads no error from a body that is not XML', async () => {
      const body = '<error><reason>X</reason></error>';
      answer(text(400, 'text/plain', body), text(400, 'application/xmlish', body), text(400, 'xtext/xml', body));
      for (const type of ['text/plain', 'application/xmlish', 'xtext/xml']) {
        expect(await failure(client.currentEventToken())).toEqual(expected('permanent', `Crowd refused GET /event: 400 ${type}: "X"`, { status: 400 }));
      }
    });

    it('reads an XML error on a redirect too', async () => {
      answer(text(300, 'application/xml', '<error><reason>MOVED</reason><message>m</message></error>', { location: 'http://elsewhere/' }));
      expect(await failure(client.currentEventToken())).toEqual(
        expected('configuration', 'Crowd redirected GET /event (300) to http://elsewhere/; CROWD_URL should point straight at Crowd (is an SSO proxy in front of it?)', { status: 300, code: 'MOVED' }),
      );
    });

    it('eventsSince asks for the token in the path and reads the changed users and the next token', async () => {
      answer(
        xml(
          200,
          `<events newEventToken="t2"><userEvent><operation>CREATED</operation><user name="alice"/></userEvent><userMembershipEvent><childUser name="bob"/></userMembershipEvent></events>`,
        ),
      );
      await expect(client.eventsSince('a/b c')).resolves.toEqual({ kind: 'events', token: 't2', users: ['alice', 'bob'] });
      expect(sent()).toEqual([{ method: 'GET', url: `${API}/event/a%2Fb%20c`, body: '' }]);
      expect(server.requests[0]!.headers.accept).toBe('application/xml');
    });

    it('eventsSince is expired on EVENT_TOKEN_EXPIRED, in XML or JSON', async () => {
      answer(xml(410, '<error><reason>EVENT_TOKEN_EXPIRED</reason><message>old</message></error>'), refusal(410, 'EVENT_TOKEN_EXPIRED', 'old'));
      await expect(client.eventsSince('t')).resolves.toEqual({ kind: 'expired' });
      await expect(client.eventsSince('t')).resolves.toEqual({ kind: 'expired' });
    });

    it('eventsSince is unavailable when the server refuses, has no feed, or says it is off', async () => {
      answer(xml(400, NOT_AVAILABLE), text(404, '', ''), xml(200, '<events incrementalSynchronisationAvailable="false" newEventToken="t"/>'));
      for (let i = 0; i < 3; i++) await expect(client.eventsSince('t')).resolves.toEqual({ kind: 'unavailable' });
    });

    it('eventsSince keeps the token out of its errors', async () => {
      answer(xml(200, '<events/>'), xml(200, 'secret-token'), xml(400, '<error><reason>BAD</reason><message>m</message></error>'));
      expect(await failure(client.eventsSince('secret-token'))).toEqual(
        expected('transient', 'Crowd answered GET /event/{token} with 200 but an events reply without a newEventToken', { status: 200, code: 'MALFORMED_RESPONSE' }),
      );
      expect(await failure(client.eventsSince('secret-token'))).toEqual(
        expected('transient', 'Crowd answered GET /event/{token} with 200 but a body that is not an <events> document', { status: 200, code: 'MALFORMED_RESPONSE' }),
      );
      expect(await failure(client.eventsSince('secret-token'))).toEqual(expected('permanent', 'Crowd refused GET /event/{token}: BAD — m', { status: 400, code: 'BAD' }));
    });
  });

  describe('ping', () => {
    it('asks for one user and resolves on any 2xx', async () => {
      answer(json(200, { users: [] }));
      await expect(client.ping()).resolves.toBeUndefined();
      expect(sent()).toEqual([{ method: 'GET', url: `${API}/search?entity-type=user&max-results=1`, body: '' }]);
    });

    it('rejects the application credentials on 401, naming the application', async () => {
      answer(text(401, 'text/plain', 'Application failed to authenticate'));
      expect(await failure(client.ping())).toEqual(
        expected(
          'configuration',
          `Crowd rejected the application credentials of "${APP}" on GET /search (401 Application failed to authenticate); check CROWD_APP_NAME and CROWD_APP_PASSWORD (an application, not a user login)`,
          { status: 401 },
        ),
      );
    });

    it('sends once, however transient the failure', async () => {
      answer(text(500, 'text/plain', 'boom'), json(200, {}));
      expect(await failure(client.ping())).toEqual(expected('transient', 'Crowd failed GET /search: 500 text/plain: "boom"', { status: 500 }));
      expect(server.requests).toHaveLength(1);
      server.clear();
      answer(reset, json(200, {}));
      expect(await failure(client.ping())).toEqual(
        expected('transient', 'The connection to Crowd was reset during GET /search', { code: 'ECONNRESET' }),
      );
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('reply bodies', () => {
    const cutJson = '{"name":"alice","em';

    it('parses JSON whatever the case of its content type', async () => {
      answer(text(200, 'Application/JSON; charset=UTF-8', JSON.stringify(aliceEntity)));
      await expect(client.getUser({ username: 'alice' })).resolves.toEqual(alice);
    });

    it('parses an untyped body that opens like JSON, leading blanks and all', async () => {
      answer(text(200, '', `  \n${JSON.stringify(aliceEntity)}`), text(200, '', JSON.stringify(aliceEntity)), text(200, '', '[]'));
      await expect(client.getUser({ username: 'alice' })).resolves.toEqual(alice);
      await expect(client.getUser({ username: 'alice' })).resolves.toEqual(alice);
      // An array is JSON too: it fails on its shape, not as an unknown body.
      expect((await failure(client.getUser({ username: 'alice' }))).message).toBe(
        'Crowd answered GET /user alice with 200 but a JSON body of an unexpected shape ((root): Invalid input: expected object, received array)',
      );
    });

    it('takes an untyped body that does not open like JSON as an unknown body', async () => {
      answer(text(200, '', 'ok {"name":"alice"}'));
      expect(await failure(newClient({ retry: { resendRetries: 0 } }).getUser({ username: 'alice' }))).toEqual(
        expected('transient', 'Crowd answered GET /user alice with 200 but an unexpected untyped body', { status: 200, code: 'MALFORMED_RESPONSE' }),
      );
    });

    it('takes a typed body other than JSON as an unknown body, even when it opens like JSON', async () => {
      answer(text(200, 'text/plain', JSON.stringify(aliceEntity)));
      expect(await failure(newClient({ retry: { resendRetries: 0 } }).getUser({ username: 'alice' }))).toEqual(
        expected('transient', 'Crowd answered GET /user alice with 200 but an unexpected text/plain body', { status: 200, code: 'MALFORMED_RESPONSE' }),
      );
    });

    it('takes a typed body other than JSON as an unknown body', async () => {
      answer(text(200, 'text/plain', 'OK'));
      expect(await failure(newClient({ retry: { resendRetries: 0 } }).deleteUser('alice'))).toEqual(
        expected('transient', 'Crowd answered DELETE /user alice with 200 but an unexpected text/plain body (a write may still have been applied)', { status: 200, code: 'MALFORMED_RESPONSE' }),
      );
    });

    it('takes JSON that does not parse on a 2xx as cut off', async () => {
      answer(text(200, 'application/json', cutJson));
      expect(await failure(client.renameUser('al', 'alice'))).toEqual(
        expected('transient', `Crowd answered POST /user/rename al → alice with 200 but JSON that does not parse (${cutJson.length} bytes, cut off?) (a write may still have been applied)`, {
          status: 200,
          code: 'MALFORMED_RESPONSE',
        }),
      );
    });

    it('takes a blank body as no body, typed or not', async () => {
      answer(text(200, 'application/json', '  \n'), text(200, 'text/plain', ' '), text(200, '', ''));
      for (let i = 0; i < 3; i++) await expect(client.renameUser('al', 'alice')).resolves.toBeUndefined();
    });

    it('reads a missing body as a user of the wrong shape', async () => {
      answer(noContent);
      expect((await failure(client.getUser({ username: 'alice' }))).message).toBe(
        'Crowd answered GET /user alice with 204 but a JSON body of an unexpected shape ((root): Invalid input: expected object, received undefined)',
      );
    });

    it('takes an HTML page on a 2xx for a proxy in the way', async () => {
      answer(text(200, 'text/html; charset=utf-8', '<html><title>Log in</title></html>'));
      expect(await failure(client.deleteUser('alice'))).toEqual(
        expected(
          'configuration',
          'Crowd answered DELETE /user alice with 200 and an HTML page (text/html; charset=utf-8) instead of JSON: a proxy answered instead of Crowd; is an SSO or login proxy in front of it? CROWD_URL should point straight at Crowd',
          { status: 200, code: 'MALFORMED_RESPONSE' },
        ),
      );
    });

    it('takes a 299 as success and a 300 as a redirect', async () => {
      answer(json(299, aliceEntity), text(300, '', '', { location: '/crowd/other' }));
      await expect(client.getUser({ username: 'alice' })).resolves.toEqual(alice);
      expect(await failure(client.getUser({ username: 'alice' }))).toEqual(
        expected('configuration', 'Crowd redirected GET /user alice (300) to /crowd/other; CROWD_URL should point straight at Crowd (is an SSO proxy in front of it?)', { status: 300 }),
      );
    });

    it('does not follow a redirect', async () => {
      answer(text(302, 'text/html', '', { location: `${server.url}crowd/rest/usermanagement/1/user?username=alice` }), json(200, aliceEntity));
      expect(await failure(client.getUser({ username: 'alice' }))).toEqual(
        expected('configuration', `Crowd redirected GET /user alice (302) to ${server.url}crowd/rest/usermanagement/1/user?username=alice; CROWD_URL should point straight at Crowd (is an SSO proxy in front of it?)`, {
          status: 302,
        }),
      );
      expect(server.requests).toHaveLength(1);
    });

    // A refusal cut off on the way may have been USER_NOT_FOUND or "already exists": it says nothing.
    it.each([400, 404, 499])('takes a cut-off error on a %i as a lost reply', async (status) => {
      answer(text(status, 'application/json', '{"reason":"USER_NOT_'));
      expect(await failure(newClient({ retry: { resendRetries: 0 } }).deleteUser('alice'))).toEqual(
        expected('transient', `Crowd answered DELETE /user alice with ${status} but JSON that does not parse (20 bytes, cut off?) (a write may still have been applied)`, {
          status,
          code: 'MALFORMED_RESPONSE',
        }),
      );
    });

    it('maps a cut-off error outside 4xx, and on 429, by its status', async () => {
      const noResend = newClient({ retry: { resendRetries: 0, refusedRetries: 0 } });
      answer(
        text(399, 'application/json', '{"reason":', { location: 'http://x/' }),
        text(429, 'application/json', '{"reason":', { 'retry-after': '7' }),
        text(500, 'application/json', '{"reason":'),
      );
      expect(await failure(noResend.deleteUser('alice'))).toEqual(
        expected('configuration', 'Crowd redirected DELETE /user alice (399) to http://x/; CROWD_URL should point straight at Crowd (is an SSO proxy in front of it?)', { status: 399 }),
      );
      expect(await failure(noResend.deleteUser('alice'))).toEqual(expected('throttled', 'Crowd throttled DELETE /user alice (429)', { status: 429, retryAfterMs: 7000 }));
      expect(await failure(noResend.deleteUser('alice'))).toEqual(expected('transient', 'Crowd failed DELETE /user alice: 500 application/json: "{"reason":"', { status: 500 }));
    });

    it('throws an ErrorEntity the call does not accept, with Crowd\'s words', async () => {
      answer(refusal(400, 'INVALID_GROUP', 'nope'));
      expect(await failure(client.addUserToGroup('alice', 'devs'))).toEqual(
        expected('permanent', 'Crowd refused POST /user/group/direct alice → devs: INVALID_GROUP — nope', { status: 400, code: 'INVALID_GROUP' }),
      );
    });

    it('takes a 404 without an ErrorEntity for a wrong CROWD_URL', async () => {
      answer(text(404, 'text/html', '<html><title>HTTP Status 404 – Not Found</title></html>'));
      expect(await failure(client.getUser({ username: 'alice' }))).toEqual(
        expected(
          'configuration',
          `No Crowd REST resource answered GET /user alice at ${server.url}crowd/ (404 HTML page: "HTTP Status 404 – Not Found"); check CROWD_URL (it includes the context path, e.g. https://crowd.example.com/crowd/)`,
          { status: 404 },
        ),
      );
    });
  });

  describe('no reply', () => {
    it('times out after timeoutMs', async () => {
      const slow = newClient({ timeoutMs: 60 });
      answer(hang);
      expect(await failure(slow.ping())).toEqual(
        expected('transient', 'Crowd did not answer GET /search within 60 ms', { code: 'ETIMEDOUT' }),
      );
    });

    it('names the address when nothing listens there', async () => {
      const gone = await ScriptedServer.start();
      await gone.close();
      const c = newClient({ retry: { refusedRetries: 1, resendRetryBaseMs: 1 } }, gone.url);
      expect(await failure(c.renameUser('al', 'alice'))).toEqual(
        expected('transient', `Cannot reach Crowd at ${gone.url}crowd/ for POST /user/rename al → alice: ECONNREFUSED`, { code: 'ECONNREFUSED' }),
      );
    });

    it('takes a body cut off mid-way for a reset', async () => {
      answer(cutOff(200, 'application/json', '{"name":'));
      expect(await failure(client.renameUser('al', 'alice'))).toEqual(
        expected('transient', 'The connection to Crowd was reset during POST /user/rename al → alice (a write may still have been applied)', { code: 'ECONNRESET' }),
      );
    });

    it('gives up at once when aborted mid-request, without a resend', async () => {
      const controller = new AbortController();
      answer(() => controller.abort(), json(200, aliceEntity));
      expect(await failure(client.getUser({ username: 'alice' }, { abortSignal: controller.signal }))).toEqual(
        expected('transient', 'GET /user alice to Crowd was aborted (shutdown)', { code: 'ABORTED' }),
      );
      expect(server.requests).toHaveLength(1);
    });

    it('sends nothing once aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      expect(await failure(client.deleteUser('alice', { abortSignal: controller.signal }))).toEqual(
        expected('transient', 'DELETE /user alice to Crowd was aborted (shutdown)', { code: 'ABORTED' }),
      );
      expect(server.requests).toHaveLength(0);
    });
  });

  describe('sending again in place', () => {
    const boom = () => text(500, 'text/plain', 'boom');

    it.each<[string, (c: CrowdClient) => Promise<unknown>]>([
      ['a read', (c) => c.getUser({ username: 'alice' })],
      ['a full replace', (c) => c.updateUser('alice', bob)],
      ['a delete', (c) => c.deleteUser('alice')],
      ['a create, whose repeat is "already exists"', (c) => c.createUser(bob, 'pw', {})],
      ['an attribute store', (c) => c.storeAttributes('alice', { a: ['1'] })],
      ['a membership add', (c) => c.addUserToGroup('alice', 'devs')],
    ])('sends %s again after a 500 or a reset', async (_, call) => {
      answer(boom(), reset, json(200, aliceEntity));
      await call(client);
      expect(server.requests).toHaveLength(3);
    });

    it('leaves a rename that may have landed to the runtime', async () => {
      answer(boom(), json(200, aliceEntity));
      expect(await failure(client.renameUser('al', 'alice'))).toEqual(expected('transient', 'Crowd failed POST /user/rename al → alice: 500 text/plain: "boom"', { status: 500 }));
      expect(server.requests).toHaveLength(1);
    });

    it('sends a rename again after a 503 Crowd did not act on', async () => {
      answer(text(503, 'text/plain', 'busy'), noContent);
      await expect(client.renameUser('al', 'alice')).resolves.toBeUndefined();
      expect(server.requests).toHaveLength(2);
    });

    it('honours the configured number of resends', async () => {
      const c = newClient({ retry: { resendRetries: 1, resendRetryBaseMs: 1 } });
      answer(boom(), boom(), json(200, aliceEntity));
      expect(await failure(c.getUser({ username: 'alice' }))).toEqual(expected('transient', 'Crowd failed GET /user alice: 500 text/plain: "boom"', { status: 500 }));
      expect(server.requests).toHaveLength(2);
    });

    it('waits out a short Retry-After, and leaves a long one to the runtime', async () => {
      answer(refusal(429, 'RATE_LIMITED', 'slow', { 'retry-after': '0' }), json(200, aliceEntity), refusal(429, 'RATE_LIMITED', 'slow', { 'retry-after': '6' }));
      await expect(client.getUser({ username: 'alice' })).resolves.toEqual(alice);
      expect(await failure(client.getUser({ username: 'alice' }))).toEqual(expected('throttled', 'Crowd throttled GET /user alice (429)', { status: 429, code: 'RATE_LIMITED', retryAfterMs: 6000 }));
      expect(server.requests).toHaveLength(3);
    });

    it('stops waiting to resend once aborted', async () => {
      const controller = new AbortController();
      const c = newClient({ retry: { resendRetryBaseMs: 60_000 } });
      // Aborted while the client waits for its resend: it must not wait the minute out.
      answer((res, req) => {
        res.on('finish', () => setTimeout(() => controller.abort(), 100));
        boom()(res, req);
      });
      const err = await failure(c.getUser({ username: 'alice' }, { abortSignal: controller.signal }));
      expect([500, undefined]).toContain(err.status);
      expect(server.requests).toHaveLength(1);
    }, 5000);
  });

  describe('the request budget', () => {
    const budget = (log: string[], fail?: Error) =>
      ({
        take: async (cost: number, signal?: AbortSignal) => {
          log.push(`take ${cost} ${signal ? 'signal' : 'no signal'}`);
          if (fail) throw fail;
        },
      }) as unknown as RequestBudget;

    it('takes one request from the budget before each request, resends included', async () => {
      const log: string[] = [];
      const c = newClient({ budget: budget(log) });
      const signal = new AbortController().signal;
      answer((res, req) => {
        log.push('request');
        text(500, 'text/plain', 'boom')(res, req);
      }, (res, req) => {
        log.push('request');
        json(200, aliceEntity)(res, req);
      });
      await c.getUser({ username: 'alice' }, { abortSignal: signal });
      await expect(c.ping()).rejects.toThrow();
      expect(log).toEqual(['take 1 signal', 'request', 'take 1 signal', 'request', 'take 1 no signal']);
    });

    it('sends nothing when the budget refuses', async () => {
      const log: string[] = [];
      const refused = new Error('budget closed');
      const controller = new AbortController();
      controller.abort();
      await expect(newClient({ budget: budget(log, refused) }).ping()).rejects.toBe(refused);
      await expect(newClient({ budget: budget(log, refused) }).getUser({ username: 'alice' }, { abortSignal: controller.signal })).rejects.toBe(refused);
      expect(log).toEqual(['take 1 no signal', 'take 1 signal']);
      expect(server.requests).toHaveLength(0);
    });
  });
});
