// Reading users out of Entra, request by request: the $select every read carries, the paged
// listing and its guard against endless empty pages, and a user's groups and photo read only
// when asked for.
import type { RemoteUser } from '../../../shared/jobs.js';
import type { CallOptions, GraphClient } from '../../../workers/entra/client.js';
import type { GraphUser } from '../../../workers/entra/entities.js';
import { EntraMapping, type DesiredUser } from '../../../workers/entra/mapping.js';
import type { PhotoStore } from '../../../workers/entra/photos.js';
import { checkEmptyPages, listUsers, parseUser, toRemoteUser, userSelect, type PullDeps } from '../../../workers/entra/pull.js';
import { collect } from '../../helpers/collect.js';
import { FakeGraph, reply, failure } from './fake-graph.js';

const BASE = 'id,userPrincipalName,displayName,givenName,surname,mail,accountEnabled,onPremisesSyncEnabled';
const signal = new AbortController().signal;
const mapping = new EntraMapping({ attributeMap: { costCentre: 'department' } });
const SELECT = `${BASE},department`;
const graphUser = (n: number) => ({ id: `u-${n}`, userPrincipalName: `user${n}@contoso.com`, accountEnabled: true, department: `D${n}` });
const remote = (n: number, extra: Partial<RemoteUser> = {}): RemoteUser => ({
  target: 'entra',
  remoteId: `u-${n}`,
  username: `user${n}@contoso.com`,
  active: true,
  attributes: { costCentre: `D${n}` },
  ...extra,
});
const next = (n: number) => `https://graph.test/v1.0/users?$skiptoken=${n}`;

/** A photo store that answers from a value and records what it was asked. */
function photoStore(answer: RemoteUser['photo'] | undefined) {
  const calls: [GraphClient, string, CallOptions & { subject?: string }][] = [];
  const store = { read: async (client: GraphClient, id: string, options: CallOptions & { subject?: string }) => (calls.push([client, id, options]), answer) };
  return { photos: store as unknown as PhotoStore, calls };
}

const deps = (g: FakeGraph, photos = photoStore(undefined).photos): PullDeps => ({ client: g.client, mapping, photos });

describe('userSelect', () => {
  it('selects the base properties, then what the mapping manages, each once', () => {
    expect(userSelect(mapping)).toBe(SELECT);
    expect(userSelect(new EntraMapping({ attributeMap: { name: 'displayName', badge: 'employeeId', mail2: 'mail' } }))).toBe(`${BASE},employeeId`);
  });

  it('adds the properties a desired body manages', () => {
    const desired = { body: { userPrincipalName: 'a@c', displayName: 'A', accountEnabled: true, jobTitle: 'x' } } as unknown as DesiredUser;
    expect(userSelect(mapping, desired)).toBe(`${SELECT},jobTitle`);
  });
});

describe('parseUser', () => {
  it('reads the reply body, or the given item, as a user', () => {
    const r = reply(200, graphUser(1));
    expect(parseUser(r)).toEqual({ id: 'u-1', userPrincipalName: 'user1@contoso.com', accountEnabled: true, onPremisesSyncEnabled: false, values: graphUser(1) });
    expect(parseUser(r, graphUser(2)).id).toBe('u-2');
  });

  it('refuses a body that is not a user', () => {
    const r = reply(200, { id: '' }, { path: '/users/x', subject: 'alice' });
    expect(() => parseUser(r)).toThrow('Graph answered GET /users/x alice with 200 but a body that is not a user object');
  });
});

describe('toRemoteUser', () => {
  const user = parseUser(reply(200, graphUser(1)));

  it('reads neither groups nor photo unless asked', async () => {
    const g = FakeGraph.script();
    const { photos, calls } = photoStore(null);
    expect(await toRemoteUser(deps(g, photos), user, {})).toEqual(remote(1));
    expect(calls).toEqual([]);
  });

  it('adds the direct group names and the photo when asked, naming the user in both reads', async () => {
    const g = FakeGraph.script(reply(200, { value: [{ id: 'g-1', displayName: 'Ops' }, { id: 'g-2', displayName: 'Sales' }] }));
    const photo = { hash: 'h', contentType: 'image/jpeg' };
    const { photos, calls } = photoStore(photo);
    expect(await toRemoteUser(deps(g, photos), user, { groups: true, photos: true, abortSignal: signal })).toEqual(remote(1, { groups: ['Ops', 'Sales'], photo }));
    expect(g.requests).toEqual([
      {
        method: 'GET',
        link: '/users/u-1/memberOf',
        options: { abortSignal: signal, subject: 'user1@contoso.com', query: { $select: 'id,displayName,groupTypes', $top: 999 }, permission: 'GroupMember.Read.All' },
      },
    ]);
    expect(calls).toEqual([[g.client, 'u-1', { abortSignal: signal, subject: 'user1@contoso.com' }]]);
  });

  it('hands over a user with no groups and no photo as such', async () => {
    const g = FakeGraph.script(reply(200, { value: [] }));
    const { photos } = photoStore(null);
    expect(await toRemoteUser(deps(g, photos), user, { groups: true, photos: true })).toEqual(remote(1, { groups: [], photo: null }));
  });

  it('leaves the photo out when it may not be read', async () => {
    const g = FakeGraph.script();
    const { photos, calls } = photoStore(undefined);
    // The mapping is handed no photo key at all, rather than one holding undefined.
    const extras: unknown[] = [];
    class Watched extends EntraMapping {
      override toRemote(u: GraphUser, extra?: Pick<RemoteUser, 'groups' | 'photo'>): Promise<RemoteUser> {
        extras.push(extra);
        return super.toRemote(u, extra);
      }
    }
    const watched = new Watched({ attributeMap: { costCentre: 'department' } });
    expect(await toRemoteUser({ client: g.client, mapping: watched, photos }, user, { photos: true })).toEqual(remote(1));
    expect(await toRemoteUser({ client: g.client, mapping: watched, photos }, user, {})).toEqual(remote(1));
    expect(extras.map((e) => Object.keys(e as object))).toEqual([[], []]);
    expect(calls).toHaveLength(1);
  });
});

describe('listUsers', () => {
  it('pages through every user with $select and $top=999, following nextLinks as given', async () => {
    const g = FakeGraph.script(reply(200, { value: [graphUser(1), graphUser(2)], '@odata.nextLink': next(2) }), reply(200, { value: [graphUser(3)] }));
    expect(await collect(listUsers(deps(g), { abortSignal: signal }))).toEqual([remote(1), remote(2), remote(3)]);
    expect(g.requests).toEqual([
      { method: 'GET', link: '/users', options: { abortSignal: signal, query: { $select: SELECT, $top: 999 }, permission: 'User.Read.All' } },
      { method: 'GET', link: next(2), options: { abortSignal: signal, query: undefined, permission: 'User.Read.All' } },
    ]);
  });

  it('asks for the page size within 1 to 999, and passes a filter on', async () => {
    const tops: unknown[] = [];
    for (const pageSize of [0, 1, 500, 999, 1000]) {
      const g = FakeGraph.script(reply(200, { value: [] }));
      await collect(listUsers(deps(g), { pageSize }));
      tops.push(g.requests[0]!.options.query!.$top);
    }
    expect(tops).toEqual([1, 1, 500, 999, 999]);
    const g = FakeGraph.script(reply(200, { value: [] }));
    await collect(listUsers(deps(g), { filter: 'accountEnabled eq true', pageSize: 5 }));
    expect(g.requests[0]!.options.query).toEqual({ $select: SELECT, $top: 5, $filter: 'accountEnabled eq true' });
  });

  it('reads groups and photos per user when asked', async () => {
    const g = FakeGraph.script(reply(200, { value: [graphUser(1)] }), reply(200, { value: [{ id: 'g-1', displayName: 'Ops' }] }));
    const { photos } = photoStore(null);
    expect(await collect(listUsers(deps(g, photos), { groups: true, photos: true }))).toEqual([remote(1, { groups: ['Ops'], photo: null })]);
  });

  it('refuses a page without a value list or with an item that is not a user', async () => {
    expect(await failure(collect(listUsers(deps(FakeGraph.script(reply(200, { users: [] }))))))).toEqual([
      'TransientError',
      'Graph answered GET /users with 200 but a body without a "value" list',
      'MALFORMED_RESPONSE',
      200,
    ]);
    expect(await failure(collect(listUsers(deps(FakeGraph.script(reply(200, { value: [{ userPrincipalName: 'x' }] }))))))).toEqual([
      'TransientError',
      'Graph answered GET /users with 200 but a body that is not a user object',
      'MALFORMED_RESPONSE',
      200,
    ]);
  });

  const emptyPages = (n: number, last: object) => [...Array.from({ length: n }, (_, i) => reply(200, { value: [], '@odata.nextLink': next(i + 1) })), reply(200, last)];

  it('stops after 100 empty pages in a row that each promise more', async () => {
    const g = FakeGraph.script(...emptyPages(100, { value: [] }));
    expect(await failure(collect(listUsers(deps(g))))).toEqual([
      'PermanentError',
      'Graph answered GET /users with 100 empty pages in a row, each with a nextLink; stopping instead of looping',
      'NEXTLINK_LOOP',
      undefined,
    ]);
    expect(g.requests).toHaveLength(100);
  });

  it('accepts 99 empty pages, and a 100th empty one that ends the listing', async () => {
    expect(await collect(listUsers(deps(FakeGraph.script(...emptyPages(99, { value: [graphUser(1)] })))))).toEqual([remote(1)]);
    expect(await collect(listUsers(deps(FakeGraph.script(...emptyPages(99, { value: [] })))))).toEqual([]);
  });

  it('counts empty pages only while they come in a row', async () => {
    const pages = [...emptyPages(99, { value: [graphUser(1)], '@odata.nextLink': next(100) }), ...emptyPages(99, { value: [graphUser(2)] })];
    expect(await collect(listUsers(deps(FakeGraph.script(...pages))))).toEqual([remote(1), remote(2)]);
  });
});

describe('checkEmptyPages', () => {
  const r = reply(200, { value: [] }, { path: '/users/delta' });

  it('lets fewer empty pages than the limit pass', () => {
    expect(() => checkEmptyPages(99, r)).not.toThrow();
    expect(() => checkEmptyPages(4, r, 5)).not.toThrow();
  });

  it('stops at the limit', () => {
    expect(() => checkEmptyPages(5, r, 5)).toThrow('Graph answered GET /users/delta with 5 empty pages in a row, each with a nextLink; stopping instead of looping');
    expect(() => checkEmptyPages(100, r)).toThrow('with 100 empty pages in a row');
  });
});
