// Reading users out of Crowd, request by request: which search pages are asked for and when
// the walk stops, how duplicates across shifting pages are dropped, the CQL date of an
// incremental read, and how groups and roles join a user.
import { CrowdMapping } from '../../../workers/crowd/mapping.js';
import type { CrowdUser } from '../../../workers/crowd/entities.js';
import { cqlDate, listUsers, listUsersChangedSince, toRemoteWithGroups, type PullDeps } from '../../../workers/crowd/pull.js';
import { collect } from '../../helpers/collect.js';
import { crowdUser, fakeClient } from './fake-client.js';

const roleMap = { 'crowd-administrators': 'admin', 'team-leads': 'editor' };
const signal = new AbortController().signal;
const names = (n: number) => Array.from({ length: n }, (_, i) => crowdUser(`u${i}`));

/** Crowd's search over a fixed, name-ordered directory. */
function directory(users: CrowdUser[], groups: Record<string, { direct: string[] | null; nested: string[] | null }> = {}) {
  const fake = fakeClient({
    searchUsers: (page) => users.slice(page.startIndex, page.startIndex + page.maxResults),
    listUserGroups: (name, scope) => groups[name]?.[scope] ?? [],
  });
  const deps: PullDeps = { client: fake.client, mapping: new CrowdMapping(), roleMap };
  return { deps, calls: fake.calls };
}
const pages = (calls: unknown[][]) => calls.filter((c) => c[0] === 'searchUsers').map((c) => c[1]);

describe('toRemoteWithGroups', () => {
  it('joins direct groups and the roles of nested groups to the mapped user', async () => {
    const { deps, calls } = directory([], { alice: { direct: ['team-leads', 'unmapped'], nested: ['team-leads', 'crowd-administrators', 'unmapped'] } });
    const alice = crowdUser('alice', { key: '32769:a-1', email: 'alice@example.com' });
    expect(await toRemoteWithGroups(deps, alice, { abortSignal: signal })).toStrictEqual({
      target: 'crowd',
      remoteId: '32769:a-1',
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      groups: ['team-leads', 'unmapped'],
      roles: ['admin', 'editor'],
    });
    expect(calls).toEqual([
      ['listUserGroups', 'alice', 'direct', { abortSignal: signal }],
      ['listUserGroups', 'alice', 'nested', { abortSignal: signal }],
    ]);
  });

  it('gives empty groups and roles when the user vanished in between', async () => {
    const { deps } = directory([], { alice: { direct: null, nested: null } });
    expect(await toRemoteWithGroups(deps, crowdUser('alice'), {})).toStrictEqual({
      target: 'crowd', remoteId: 'alice', username: 'alice', active: true, groups: [], roles: [],
    });
  });
});

describe('listUsers', () => {
  it('asks for pages of 1000 users without attributes by default, and maps each user', async () => {
    const { deps, calls } = directory([crowdUser('alice', { key: 'k-a' }), crowdUser('bob', { active: false })]);
    expect(await collect(listUsers(deps))).toStrictEqual([
      { target: 'crowd', remoteId: 'k-a', username: 'alice', active: true },
      { target: 'crowd', remoteId: 'bob', username: 'bob', active: false },
    ]);
    expect(calls).toEqual([['searchUsers', { startIndex: 0, maxResults: 1000, restriction: undefined, attributes: false }, {}]]);
  });

  it('passes the restriction, the attribute flag and the call options on', async () => {
    const { deps, calls } = directory([]);
    const options = { restriction: 'active = true', attributes: true, abortSignal: signal };
    expect(await collect(listUsers(deps, options))).toEqual([]);
    expect(calls).toEqual([['searchUsers', { startIndex: 0, maxResults: 1000, restriction: 'active = true', attributes: true }, options]]);
  });

  it.each<[number, number]>([
    [1000, 1000],
    [1001, 1000],
    [999, 999],
    [1, 1],
    [0, 1],
    [-5, 1],
  ])('asks for pages of %i as %i', async (pageSize, maxResults) => {
    const { deps, calls } = directory([]);
    await collect(listUsers(deps, { pageSize }));
    expect(pages(calls)).toEqual([{ startIndex: 0, maxResults, restriction: undefined, attributes: false }]);
  });

  it('walks the pages until one comes back short', async () => {
    const { deps, calls } = directory(names(5));
    expect((await collect(listUsers(deps, { pageSize: 2 }))).map((u) => u.username)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
    expect(pages(calls).map((p) => (p as { startIndex: number }).startIndex)).toEqual([0, 2, 4]);
  });

  it('asks once more after a full last page, since Crowd gives no total', async () => {
    const { deps, calls } = directory(names(4));
    expect(await collect(listUsers(deps, { pageSize: 2 }))).toHaveLength(4);
    expect(pages(calls)).toEqual([
      { startIndex: 0, maxResults: 2, restriction: undefined, attributes: false },
      { startIndex: 2, maxResults: 2, restriction: undefined, attributes: false },
      { startIndex: 4, maxResults: 2, restriction: undefined, attributes: false },
    ]);
  });

  it('yields a user once when an insert shifts it onto the next page, whatever its case', async () => {
    const script = [[crowdUser('alice'), crowdUser('Bob')], [crowdUser('bob'), crowdUser('carol')], [crowdUser('dave')]];
    const { client } = fakeClient({ searchUsers: (p) => script[p.startIndex / 2]! });
    const users = await collect(listUsers({ client, mapping: new CrowdMapping(), roleMap }, { pageSize: 2 }));
    expect(users.map((u) => u.username)).toEqual(['alice', 'Bob', 'carol', 'dave']);
  });

  it('reads each user\'s groups and roles when asked, with the call options', async () => {
    const { deps, calls } = directory([crowdUser('alice'), crowdUser('bob')], {
      alice: { direct: ['team-leads'], nested: ['team-leads'] },
      bob: { direct: [], nested: ['crowd-administrators'] },
    });
    const options = { groups: true, abortSignal: signal };
    expect(await collect(listUsers(deps, options))).toStrictEqual([
      { target: 'crowd', remoteId: 'alice', username: 'alice', active: true, groups: ['team-leads'], roles: ['editor'] },
      { target: 'crowd', remoteId: 'bob', username: 'bob', active: true, groups: [], roles: ['admin'] },
    ]);
    expect(calls.slice(1)).toEqual([
      ['listUserGroups', 'alice', 'direct', options],
      ['listUserGroups', 'alice', 'nested', options],
      ['listUserGroups', 'bob', 'direct', options],
      ['listUserGroups', 'bob', 'nested', options],
    ]);
  });

  it('maps attributes read with the users', async () => {
    const { deps } = directory([crowdUser('alice', { attributes: { dept: ['Sales'], requiresPasswordChange: ['false'] } })]);
    expect(await collect(listUsers(deps, { attributes: true }))).toStrictEqual([
      { target: 'crowd', remoteId: 'alice', username: 'alice', active: true, attributes: { dept: 'Sales' } },
    ]);
  });
});

describe('listUsersChangedSince', () => {
  const since = new Date('2024-05-01T10:00:00.000Z');

  it('asks for users updated at or after the date (CQL has only ">")', async () => {
    const { deps, calls } = directory([crowdUser('alice')]);
    expect((await collect(listUsersChangedSince(deps, since))).map((u) => u.username)).toEqual(['alice']);
    expect(pages(calls)).toEqual([{ startIndex: 0, maxResults: 1000, restriction: 'updatedDate > "2024-05-01T09:59:59.999+0000"', attributes: false }]);
  });

  it('looks further back by the overlap, and keeps the other options', async () => {
    const { deps, calls } = directory([]);
    await collect(listUsersChangedSince(deps, since, { overlapMs: 1000, pageSize: 50, attributes: true, abortSignal: signal }));
    expect(calls).toEqual([
      [
        'searchUsers',
        { startIndex: 0, maxResults: 50, restriction: 'updatedDate > "2024-05-01T09:59:58.999+0000"', attributes: true },
        { overlapMs: 1000, pageSize: 50, attributes: true, abortSignal: signal, restriction: 'updatedDate > "2024-05-01T09:59:58.999+0000"' },
      ],
    ]);
  });
});

describe('cqlDate', () => {
  it('writes UTC with milliseconds and a +0000 offset', () => {
    expect(cqlDate(new Date('2024-05-01T10:00:00Z'))).toBe('2024-05-01T10:00:00.000+0000');
    expect(cqlDate(new Date('1999-12-31T23:59:59.123+02:00'))).toBe('1999-12-31T21:59:59.123+0000');
  });
});
