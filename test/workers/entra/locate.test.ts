// Finding the Entra user a snapshot belongs to: the exact reads sent (path, $filter, $select,
// accepted statuses, the permission named on a 403) and what each answer means, including
// the ambiguous match idsync refuses to guess about.
import { Redis } from 'ioredis';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { PermanentError } from '../../../shared/errors.js';
import type { GraphClient } from '../../../workers/entra/client.js';
import { findByAttribute, findUser, isDeleted, restoreUser, userPath } from '../../../workers/entra/locate.js';
import { REDIS_URL, deletePrefix, uniquePrefix } from '../../helpers/redis.js';
import { FakeGraph, reply } from './fake-graph.js';
import { realGraphClient } from './real-graph.js';
import { DOMAIN, startEmulator } from './helpers.js';

const SELECT = 'id,userPrincipalName,department';
const alice = { id: 'u-1', userPrincipalName: 'alice@contoso.com', accountEnabled: true, department: 'Ops' };
const aliceUser = { id: 'u-1', userPrincipalName: 'alice@contoso.com', accountEnabled: true, onPremisesSyncEnabled: false, values: alice };
const signal = new AbortController().signal;

/** [class, message, code, status] of a rejection. */
async function failure(p: Promise<unknown>): Promise<unknown[]> {
  try {
    await p;
  } catch (err) {
    const e = err as PermanentError;
    return [e.constructor.name, e.message, e.code, e.status];
  }
  return ['resolved'];
}

describe('userPath', () => {
  it('percent-encodes an id or UPN as one path segment', () => {
    expect(userPath('u-1')).toBe('/users/u-1');
    expect(userPath('a b@contoso.com')).toBe('/users/a%20b%40contoso.com');
    // A `$` elsewhere than at the start is an ordinary character.
    expect(userPath('a$b@x')).toBe('/users/a%24b%40x');
    expect(userPath('ab$')).toBe('/users/ab%24');
  });

  it("uses the key syntax for a UPN starting with $, quotes doubled", () => {
    expect(userPath('$admin@contoso.com')).toBe("/users('%24admin%40contoso.com')");
    expect(userPath("$o'b'x@c")).toBe("/users('%24o''b''x%40c')");
  });
});

describe('findUser', () => {
  it('reads the user with the given $select, naming the key as the subject', async () => {
    const g = FakeGraph.script(reply(200, alice));
    expect(await findUser(g.client, 'alice@contoso.com', { select: SELECT, abortSignal: signal })).toEqual(aliceUser);
    expect(g.requests).toEqual([
      {
        method: 'GET',
        link: '/users/alice%40contoso.com',
        options: { abortSignal: signal, query: { $select: SELECT }, accept: [404], subject: 'alice@contoso.com', permission: 'User.Read.All' },
      },
    ]);
  });

  it('names the given subject instead of the key', async () => {
    const g = FakeGraph.script(reply(200, alice));
    await findUser(g.client, 'u-1', { select: SELECT, subject: 'app user 7' });
    expect(g.requests[0]!.options.subject).toBe('app user 7');
    expect(g.requests[0]!.link).toBe('/users/u-1');
  });

  it('answers null on 404', async () => {
    const g = FakeGraph.script(reply(404, undefined));
    expect(await findUser(g.client, 'u-1', { select: SELECT })).toBeNull();
  });

  it('refuses a body that is not a user', async () => {
    const g = FakeGraph.script(reply(200, { value: [] }));
    expect(await failure(findUser(g.client, 'u-1', { select: SELECT }))).toEqual([
      'TransientError',
      'Graph answered GET /users/u-1 u-1 with 200 but a body that is not a user object',
      'MALFORMED_RESPONSE',
      200,
    ]);
  });
});

describe('isDeleted and restoreUser', () => {
  it('looks the id up in deleted items with the restore permission', async () => {
    const g = FakeGraph.script(reply(200, { id: 'u-1' }), reply(404, undefined));
    expect(await isDeleted(g.client, 'u-1', { abortSignal: signal, subject: 'alice' })).toBe(true);
    expect(await isDeleted(g.client, 'u-2', {})).toBe(false);
    expect(g.requests).toEqual([
      {
        method: 'GET',
        link: '/directory/deletedItems/u-1',
        options: { abortSignal: signal, subject: 'alice', query: { $select: 'id' }, accept: [404], permission: 'User.DeleteRestore.All' },
      },
      { method: 'GET', link: '/directory/deletedItems/u-2', options: { query: { $select: 'id' }, accept: [404], permission: 'User.DeleteRestore.All' } },
    ]);
  });

  it('restores by POST, false when the user is no longer in deleted items', async () => {
    const g = FakeGraph.script(reply(200, alice), reply(404, undefined));
    expect(await restoreUser(g.client, 'u-1', { abortSignal: signal, subject: 'alice' })).toBe(true);
    expect(await restoreUser(g.client, 'u-2', {})).toBe(false);
    expect(g.requests).toEqual([
      { method: 'POST', link: '/directory/deletedItems/u-1/restore', options: { abortSignal: signal, subject: 'alice', accept: [404], permission: 'User.DeleteRestore.All' } },
      { method: 'POST', link: '/directory/deletedItems/u-2/restore', options: { accept: [404], permission: 'User.DeleteRestore.All' } },
    ]);
  });
});

describe('findByAttribute', () => {
  it('finds by UPN through the user path, not a filter', async () => {
    const g = FakeGraph.script(reply(200, alice));
    expect(await findByAttribute(g.client, 'userPrincipalName', 'alice@contoso.com', { select: SELECT })).toEqual(aliceUser);
    expect(g.requests).toEqual([
      { method: 'GET', link: '/users/alice%40contoso.com', options: { query: { $select: SELECT }, accept: [404], subject: 'alice@contoso.com', permission: 'User.Read.All' } },
    ]);
  });

  it('filters on other attributes with a quoted literal, two at most', async () => {
    const g = FakeGraph.script(reply(200, { value: [alice] }));
    expect(await findByAttribute(g.client, 'mail', "o'neil@x.com", { select: SELECT, abortSignal: signal })).toEqual(aliceUser);
    expect(g.requests).toEqual([
      {
        method: 'GET',
        link: '/users',
        options: { abortSignal: signal, query: { $filter: "mail eq 'o''neil@x.com'", $select: SELECT, $top: 2 }, subject: "mail o'neil@x.com", permission: 'User.Read.All' },
      },
    ]);
  });

  it('asks for an eventual-consistency count query on advanced properties', async () => {
    const g = FakeGraph.script(reply(200, { value: [alice] }));
    await findByAttribute(g.client, 'onPremisesImmutableId', 'abc=', { select: SELECT });
    expect(g.requests[0]!.options).toEqual({
      query: { $filter: "onPremisesImmutableId eq 'abc='", $select: SELECT, $top: 2, $count: 'true' },
      headers: { ConsistencyLevel: 'eventual' },
      subject: 'onPremisesImmutableId abc=',
      permission: 'User.Read.All',
    });
  });

  it('answers null when no user has the value', async () => {
    const g = FakeGraph.script(reply(200, { value: [] }));
    expect(await findByAttribute(g.client, 'employeeId', '7', { select: SELECT })).toBeNull();
  });

  it('refuses to guess between two users, naming them by UPN or else id', async () => {
    const g = FakeGraph.script(reply(200, { value: [alice, { id: 'u-2' }] }));
    expect(await failure(findByAttribute(g.client, 'employeeId', '7', { select: SELECT }))).toEqual([
      'PermanentError',
      '2 Entra users have employeeId "7" (alice@contoso.com, u-2); idsync will not guess: link the right one or fix the data',
      'AMBIGUOUS_MATCH',
      undefined,
    ]);
  });

  it('refuses a page without a value list and an item that is not a user', async () => {
    const g = FakeGraph.script(reply(200, { users: [] }), reply(200, { value: [alice, { id: '' }] }));
    expect(await failure(findByAttribute(g.client, 'employeeId', '7', { select: SELECT }))).toEqual([
      'TransientError',
      'Graph answered GET /users employeeId 7 with 200 but a body without a "value" list',
      'MALFORMED_RESPONSE',
      200,
    ]);
    expect(await failure(findByAttribute(g.client, 'employeeId', '7', { select: SELECT }))).toEqual([
      'TransientError',
      'Graph answered GET /users employeeId 7 with 200 but a body that is not a user object',
      'MALFORMED_RESPONSE',
      200,
    ]);
  });
});

// The requests above, sent for real: Graph must read them as meant (the key syntax, the
// quoted literal, the advanced query), or the exact requests pinned above would be wrong ones.
describe('against the Graph emulator', () => {
  let em: EntraEmulator;
  let redis: Redis;
  let prefix: string;
  let client: GraphClient;
  beforeAll(async () => {
    em = await startEmulator();
    redis = new Redis(REDIS_URL);
    prefix = uniquePrefix('entra-locate');
    client = realGraphClient(em, redis, prefix);
    em.seed({
      users: [
        { userPrincipalName: `$admin@${DOMAIN}`, mail: "o'neil@example.com" },
        { userPrincipalName: `imm@${DOMAIN}`, onPremisesImmutableId: 'abc=' },
        { userPrincipalName: `twin1@${DOMAIN}`, employeeId: '7' },
        { userPrincipalName: `twin2@${DOMAIN}`, employeeId: '7' },
        { userPrincipalName: `gone@${DOMAIN}`, deleted: true },
      ],
    });
  });
  afterAll(async () => {
    client.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    await em.close();
  });
  const select = { select: 'id,userPrincipalName' };

  it('finds users by a $-UPN, a quoted value and an advanced property', async () => {
    expect((await findByAttribute(client, 'userPrincipalName', `$admin@${DOMAIN}`, select))?.userPrincipalName).toBe(`$admin@${DOMAIN}`);
    expect((await findByAttribute(client, 'mail', "o'neil@example.com", select))?.userPrincipalName).toBe(`$admin@${DOMAIN}`);
    expect((await findByAttribute(client, 'onPremisesImmutableId', 'abc=', select))?.userPrincipalName).toBe(`imm@${DOMAIN}`);
    expect(await findByAttribute(client, 'mail', 'nobody@example.com', select)).toBeNull();
    expect(await findUser(client, `nobody@${DOMAIN}`, select)).toBeNull();
    await expect(findByAttribute(client, 'employeeId', '7', select)).rejects.toThrow(`2 Entra users have employeeId "7" (twin1@${DOMAIN}, twin2@${DOMAIN})`);
  });

  it('finds a soft-deleted user in deleted items and restores it once', async () => {
    const id = em.seed({ users: [{ userPrincipalName: `back@${DOMAIN}`, deleted: true }] }).userIds[0]!;
    expect(await isDeleted(client, id, {})).toBe(true);
    expect(await restoreUser(client, id, {})).toBe(true);
    expect(await isDeleted(client, id, {})).toBe(false);
    expect(await restoreUser(client, id, {})).toBe(false);
    expect((await findUser(client, id, select))?.userPrincipalName).toBe(`back@${DOMAIN}`);
  });
});
