// Direct group memberships: resolving display names (cached, misses not), reading a user's
// direct groups, planning the difference, and applying it through member $ref writes with
// Graph's "already there" and "not there" answers counted as done.
import { Redis } from 'ioredis';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { PermanentError, TransientError } from '../../../shared/errors.js';
import type { GraphClient } from '../../../workers/entra/client.js';
import { INVISIBLE } from '../../../workers/entra/consistency.js';
import {
  GroupDirectory,
  applyGroupPlan,
  directGroups,
  isEmptyPlan,
  odataString,
  planGroups,
  type ApplyGroupsOptions,
  type GroupPlan,
  type GroupRef,
} from '../../../workers/entra/groups.js';
import { REDIS_URL, deletePrefix, uniquePrefix } from '../../helpers/redis.js';
import { FakeGraph, graphError, reply, type Request } from './fake-graph.js';
import { DOMAIN, startEmulator } from './helpers.js';
import { realGraphClient } from './real-graph.js';

const signal = new AbortController().signal;
const group = (id: string, displayName: string, groupTypes: string[] | null = []) => ({ id, displayName, groupTypes });
const ref = (id: string, displayName: string, dynamic = false): GroupRef => ({ id, displayName, dynamic });
const groupsQuery = (name: string) => ({ $filter: `displayName eq ${odataString(name)}`, $select: 'id,displayName,groupTypes', $top: 2 });

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

/** Runs `fn` with Date.now() reading `at()`, so cache ages are exact. */
async function atTime<T>(at: () => number, fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = at;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

/** Steps run as given; INVISIBLE ones are repeated up to three times, as Consistency would. */
const options = (over: Partial<ApplyGroupsOptions> = {}): ApplyGroupsOptions & { invisible: number } => {
  const o = {
    abortSignal: signal,
    subject: 'alice@contoso.com',
    justCreated: false,
    invisible: 0,
    async whileInvisible<T>(step: () => Promise<T | typeof INVISIBLE>): Promise<T> {
      for (let i = 0; i < 3; i++) {
        const result = await step();
        if (result !== INVISIBLE) return result;
        o.invisible++;
      }
      throw new Error('still invisible');
    },
    ...over,
  };
  return o;
};

/** Answers each group lookup from a name → groups table. */
const directory = (table: Record<string, unknown[]>) =>
  new FakeGraph((r: Request) => {
    const name = /^displayName eq '(.*)'$/.exec(String(r.options.query!.$filter))![1]!.replace(/''/g, "'");
    return reply(200, { value: table[name] ?? [] });
  });

describe('odataString', () => {
  it('quotes a literal and doubles the quotes in it', () => {
    expect(odataString('Sales')).toBe("'Sales'");
    expect(odataString("O'Brien's")).toBe("'O''Brien''s'");
  });
});

describe('GroupDirectory.resolve', () => {
  it('looks each name up by display name and keys the answer in lower case', async () => {
    const g = directory({ Sales: [group('g-1', 'Sales', ['Unified'])], "Dev's": [group('g-2', "Dev's", ['Unified', 'DynamicMembership'])] });
    const resolved = await new GroupDirectory(g.client).resolve(['Sales', "Dev's", 'Nope'], { abortSignal: signal });
    expect(resolved).toEqual(
      new Map([
        ['sales', ref('g-1', 'Sales')],
        ["dev's", ref('g-2', "Dev's", true)],
        ['nope', null],
      ]),
    );
    expect(g.requests.map((r) => r.link)).toEqual(['/groups', '/groups', '/groups']);
    expect(g.requests[0]!.options).toEqual({ abortSignal: signal, query: groupsQuery('Sales'), subject: 'Sales', permission: 'GroupMember.Read.All' });
    expect(g.requests[1]!.options.query).toEqual(groupsQuery("Dev's"));
  });

  it("keeps Graph's spelling of a name matched in another case", async () => {
    const g = directory({ sales: [group('g-1', 'SALES')] });
    expect(await new GroupDirectory(g.client).resolve(['sales'], {})).toEqual(new Map([['sales', ref('g-1', 'SALES')]]));
  });

  it('ignores groups whose name is not the one asked for, or that have none, and objects without an id', async () => {
    const g = directory({ Ops: [group('g-1', 'Ops team'), { id: 'g-2', displayName: null }, { displayName: 'Ops' }, group('g-3', 'Ops', null)] });
    expect(await new GroupDirectory(g.client).resolve(['Ops'], {})).toEqual(new Map([['ops', ref('g-3', 'Ops')]]));
  });

  it('refuses a name two groups share', async () => {
    const g = directory({ Ops: [group('g-1', 'Ops'), group('g-2', 'ops')] });
    expect(await failure(new GroupDirectory(g.client).resolve(['Ops'], {}))).toEqual([
      'PermanentError',
      'Entra has 2 groups named "Ops" (g-1, g-2); rename one so idsync can tell them apart',
      'AMBIGUOUS_GROUP',
      undefined,
    ]);
  });

  it('refuses a page without a value list', async () => {
    const g = FakeGraph.script(reply(200, { groups: [] }));
    expect(await failure(new GroupDirectory(g.client).resolve(['Ops'], {}))).toEqual([
      'TransientError',
      'Graph answered GET /groups Ops with 200 but a body without a "value" list',
      'MALFORMED_RESPONSE',
      200,
    ]);
  });

  it('remembers a found group for ten minutes by default, a miss not at all', async () => {
    const g = directory({ Ops: [group('g-1', 'Ops')] });
    const groups = new GroupDirectory(g.client);
    let now = 1_000_000;
    await atTime(() => now, async () => {
      await groups.resolve(['Ops', 'Missing'], {});
      now += 599_999;
      expect(await groups.resolve(['OPS', 'Missing'], {})).toEqual(new Map([['ops', ref('g-1', 'Ops')], ['missing', null]]));
      expect(g.requests.map((r) => r.options.subject)).toEqual(['Ops', 'Missing', 'Missing']);
      now += 1;
      await groups.resolve(['Ops'], {});
      expect(g.requests).toHaveLength(4);
    });
  });

  it('honours a configured cache lifetime, counted from the last lookup', async () => {
    const g = directory({ Ops: [group('g-1', 'Ops')] });
    const groups = new GroupDirectory(g.client, { cacheTtlMs: 1000 });
    let now = 5000;
    await atTime(() => now, async () => {
      await groups.resolve(['Ops'], {});
      now = 5999;
      await groups.resolve(['Ops'], {});
      expect(g.requests).toHaveLength(1);
      now = 6000;
      await groups.resolve(['Ops'], {});
      expect(g.requests).toHaveLength(2);
      now = 6999;
      await groups.resolve(['Ops'], {});
      expect(g.requests).toHaveLength(2);
    });
  });

  it('forgets every cached name on request', async () => {
    const g = directory({ Ops: [group('g-1', 'Ops')] });
    const groups = new GroupDirectory(g.client);
    await groups.resolve(['Ops'], {});
    groups.forget();
    await groups.resolve(['Ops'], {});
    expect(g.requests).toHaveLength(2);
  });
});

describe('directGroups', () => {
  it('follows nextLinks and keeps only groups, named by id when they have no name', async () => {
    const next = 'https://graph.test/v1.0/users/u-1/memberOf?$skiptoken=2';
    const g = FakeGraph.script(
      reply(200, {
        value: [
          { '@odata.type': '#microsoft.graph.group', ...group('g-1', 'Ops', ['DynamicMembership']) },
          { '@odata.type': '#microsoft.graph.directoryRole', id: 'r-1', displayName: 'Global Reader' },
          { id: 'g-2', displayName: null },
          { displayName: 'no id' },
        ],
        '@odata.nextLink': next,
      }),
      reply(200, { value: [group('g-3', 'Sales', null)] }),
    );
    expect(await directGroups(g.client, 'u-1', { abortSignal: signal, subject: 'alice' })).toEqual([ref('g-1', 'Ops', true), ref('g-2', 'g-2'), ref('g-3', 'Sales')]);
    expect(g.requests).toEqual([
      {
        method: 'GET',
        link: '/users/u-1/memberOf',
        options: { abortSignal: signal, query: { $select: 'id,displayName,groupTypes', $top: 999 }, subject: 'alice', permission: 'GroupMember.Read.All' },
      },
      { method: 'GET', link: next, options: { abortSignal: signal, query: undefined, subject: 'alice', permission: 'GroupMember.Read.All' } },
    ]);
  });

  it('refuses a page without a value list', async () => {
    const g = FakeGraph.script(reply(200, {}));
    expect(await failure(directGroups(g.client, 'u-1', { subject: 'alice' }))).toEqual([
      'TransientError',
      'Graph answered GET /users/u-1/memberOf alice with 200 but a body without a "value" list',
      'MALFORMED_RESPONSE',
      200,
    ]);
  });
});

describe('planGroups', () => {
  const ops = ref('g-1', 'Ops');
  const sales = ref('g-2', 'Sales');
  const auto = ref('g-3', 'Everyone', true);
  const dev = ref('g-4', 'Dev');

  it('adds wanted groups the user lacks and removes assigned ones no longer wanted', () => {
    const resolved = new Map([['ops', ops], ['sales', sales]]);
    expect(planGroups([ops, dev], ['Ops', 'SALES'], resolved)).toEqual({ add: [sales], remove: [dev], missing: [] });
  });

  it('never removes from a dynamic group, and adds a group named twice once', () => {
    const resolved = new Map([['sales', sales]]);
    expect(planGroups([auto], ['Sales', 'sales'], resolved)).toEqual({ add: [sales], remove: [], missing: [] });
  });

  it('never adds to a dynamic group the rule keeps the user out of', () => {
    const resolved = new Map([['everyone', auto], ['sales', sales]]);
    expect(planGroups([], ['Everyone', 'Sales'], resolved)).toEqual({ add: [sales], remove: [], missing: [] });
  });

  it('lists the names Entra has no group for, as given', () => {
    const resolved = new Map<string, GroupRef | null>([['ops', ops], ['qa', null]]);
    expect(planGroups([ops], ['QA', 'Ops', 'Unknown'], resolved)).toEqual({ add: [], remove: [], missing: ['QA', 'Unknown'] });
  });

  it('is empty when nothing is to be added or removed, whatever is missing', () => {
    expect(isEmptyPlan({ add: [], remove: [], missing: ['QA'] })).toBe(true);
    expect(isEmptyPlan({ add: [ops], remove: [], missing: [] })).toBe(false);
    expect(isEmptyPlan({ add: [], remove: [ops], missing: [] })).toBe(false);
  });
});

describe('applyGroupPlan', () => {
  const ops = ref('g-1', 'Ops');
  const sales = ref('g-2', 'Sales');
  const dev = ref('g-4', 'Dev');
  const plan = (over: Partial<GroupPlan>): GroupPlan => ({ add: [], remove: [], missing: [], ...over });
  const byMethod = (status: Record<string, () => ReturnType<typeof reply>>) => new FakeGraph((r) => status[`${r.method} ${r.link}`]!());

  it('adds by member $ref POSTs and removes by DELETEs, and says something changed', async () => {
    const g = byMethod({
      'POST /groups/g-1/members/$ref': () => reply(204, undefined),
      'DELETE /groups/g-4/members/u-1/$ref': () => reply(204, undefined),
    });
    expect(await applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({ add: [ops], remove: [dev] }), options())).toBe(true);
    expect(g.requests).toEqual([
      {
        method: 'POST',
        link: '/groups/g-1/members/$ref',
        options: {
          abortSignal: signal,
          permission: 'GroupMember.ReadWrite.All',
          json: { '@odata.id': 'https://graph.test/v1.0/directoryObjects/u-1' },
          accept: [400, 404],
          subject: 'alice@contoso.com → Ops',
          idempotent: true,
        },
      },
      {
        method: 'DELETE',
        link: '/groups/g-4/members/u-1/$ref',
        options: { abortSignal: signal, permission: 'GroupMember.ReadWrite.All', accept: [404], subject: 'alice@contoso.com ✕ Dev' },
      },
    ]);
  });

  it('counts a membership that already exists, or one already gone, as no change', async () => {
    const g = byMethod({
      'POST /groups/g-1/members/$ref': () => reply(400, undefined, { error: graphError('Request_BadRequest', 'One or more added object references ALREADY EXIST for the following modified properties: members.') }),
      'DELETE /groups/g-4/members/u-1/$ref': () => reply(404, undefined),
    });
    expect(await applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({ add: [ops], remove: [dev] }), options())).toBe(false);
    expect(g.refused).toEqual([]);
  });

  it('reports a change when only one of several writes changed something', async () => {
    const g = byMethod({
      'POST /groups/g-1/members/$ref': () => reply(400, undefined, { error: graphError('Request_BadRequest', 'already exist') }),
      'POST /groups/g-2/members/$ref': () => reply(204, undefined),
    });
    expect(await applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({ add: [ops, sales] }), options())).toBe(true);
    const h = byMethod({ 'DELETE /groups/g-4/members/u-1/$ref': () => reply(204, undefined) });
    expect(await applyGroupPlan(h.client, new GroupDirectory(h.client), 'u-1', plan({ remove: [dev] }), options())).toBe(true);
  });

  it('changes nothing for an empty plan', async () => {
    const g = FakeGraph.script();
    expect(await applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({}), options())).toBe(false);
  });

  it('hands any other 400 back as Graph refused it', async () => {
    for (const error of [graphError('Request_BadRequest', 'Invalid object identifier'), undefined]) {
      const g = byMethod({ 'POST /groups/g-1/members/$ref': () => reply(400, undefined, { ...(error && { error }) }) });
      expect(await failure(applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({ add: [ops] }), options()))).toEqual(['Error', 'refused 400 POST /groups/g-1/members/$ref', undefined, undefined]);
      expect(g.refused.map((r) => [r.status, r.call.path])).toEqual([[400, '/groups/g-1/members/$ref']]);
    }
  });

  it('retries in place a 404 on adding a just-created user, forgetting cached names', async () => {
    let tries = 0;
    const g = new FakeGraph((r) => {
      if (r.link === '/groups') return reply(200, { value: [group('g-1', 'Ops')] });
      return ++tries < 3 ? reply(404, undefined, { error: graphError('Request_ResourceNotFound') }) : reply(204, undefined);
    });
    const groups = new GroupDirectory(g.client);
    await groups.resolve(['Ops'], {});
    const o = options({ justCreated: true });
    expect(await applyGroupPlan(g.client, groups, 'u-1', plan({ add: [ops] }), o)).toBe(true);
    expect(o.invisible).toBe(2);
    await groups.resolve(['Ops'], {});
    expect(g.requests.filter((r) => r.link === '/groups')).toHaveLength(2);
  });

  it('fails a 404 on adding an existing user as a vanished group or user, forgetting cached names', async () => {
    const g = new FakeGraph((r) => {
      if (r.link === '/groups') return reply(200, { value: [group('g-1', 'Ops')] });
      return reply(404, undefined, { error: graphError('Request_ResourceNotFound') });
    });
    const groups = new GroupDirectory(g.client);
    await groups.resolve(['Ops'], {});
    const o = options();
    expect(await failure(applyGroupPlan(g.client, groups, 'u-1', plan({ add: [ops] }), o))).toEqual([
      'TransientError',
      'Entra group "Ops" or user alice@contoso.com vanished while adding the membership; retried with fresh names',
      'Request_ResourceNotFound',
      404,
    ]);
    expect(o.invisible).toBe(0);
    await groups.resolve(['Ops'], {});
    expect(g.requests.filter((r) => r.link === '/groups')).toHaveLength(2);

    const bare = byMethod({ 'POST /groups/g-1/members/$ref': () => reply(404, undefined) });
    const err = await applyGroupPlan(bare.client, new GroupDirectory(bare.client), 'u-1', plan({ add: [ops] }), options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).code).toBeUndefined();
  });

  it('applies every write before failing with the first error', async () => {
    const g = byMethod({
      'POST /groups/g-1/members/$ref': () => reply(400, undefined, { error: graphError('Request_BadRequest', 'first') }),
      'POST /groups/g-2/members/$ref': () => reply(400, undefined, { error: graphError('Request_BadRequest', 'second') }),
      'DELETE /groups/g-4/members/u-1/$ref': () => reply(204, undefined),
    });
    expect(await failure(applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({ add: [ops, sales], remove: [dev] }), options()))).toEqual([
      'Error',
      'refused 400 POST /groups/g-1/members/$ref',
      undefined,
      undefined,
    ]);
    expect(g.requests.map((r) => `${r.method} ${r.link}`)).toEqual(['POST /groups/g-1/members/$ref', 'POST /groups/g-2/members/$ref', 'DELETE /groups/g-4/members/u-1/$ref']);
    expect(g.refused.map((r) => r.call.path)).toEqual(['/groups/g-1/members/$ref', '/groups/g-2/members/$ref']);
  });

  it('fails naming the missing group after applying the rest', async () => {
    const g = byMethod({ 'POST /groups/g-1/members/$ref': () => reply(204, undefined) });
    expect(await failure(applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({ add: [ops], missing: ['QA'] }), options()))).toEqual([
      'PermanentError',
      `Entra has no group "QA" for user alice@contoso.com; idsync does not create groups: create it in Entra (or fix the app's group list) and replay this job. The other membership changes were applied.`,
      'GROUP_NOT_FOUND',
      404,
    ]);
    expect(g.requests).toHaveLength(1);
  });

  it('names several missing groups', async () => {
    const g = FakeGraph.script();
    expect(await failure(applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({ missing: ['QA', 'Ops 2'] }), options()))).toEqual([
      'PermanentError',
      `Entra has no group "QA", "Ops 2" for user alice@contoso.com; idsync does not create groups: create them in Entra (or fix the app's group list) and replay this job. The other membership changes were applied.`,
      'GROUP_NOT_FOUND',
      404,
    ]);
  });

  it('fails with the write error rather than the missing groups when both happen', async () => {
    const g = byMethod({ 'DELETE /groups/g-4/members/u-1/$ref': () => { throw new PermanentError('Graph refused DELETE'); } });
    expect(await failure(applyGroupPlan(g.client, new GroupDirectory(g.client), 'u-1', plan({ remove: [dev], missing: ['QA'] }), options()))).toEqual([
      'PermanentError',
      'Graph refused DELETE',
      undefined,
      undefined,
    ]);
  });
});

// The same requests sent for real: Graph's filter, memberOf listing and $ref writes must
// answer as the cases above assume, "already exist" and 404 included.
describe('against the Graph emulator', () => {
  let em: EntraEmulator;
  let redis: Redis;
  let prefix: string;
  let client: GraphClient;
  beforeAll(async () => {
    em = await startEmulator();
    redis = new Redis(REDIS_URL);
    prefix = uniquePrefix('entra-groups');
    client = realGraphClient(em, redis, prefix);
  });
  afterAll(async () => {
    client.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    await em.close();
  });

  it('resolves names, plans the difference and applies it once', async () => {
    const upn = `alice@${DOMAIN}`;
    const { userIds } = em.seed({ users: [{ userPrincipalName: upn }] });
    const { groupIds } = em.seed({
      groups: [
        { displayName: 'Ops', members: [upn] },
        { displayName: "Dev's" },
        { displayName: 'Everyone', groupTypes: ['DynamicMembership'], members: [upn] },
      ],
    });
    const [ops, dev, everyone] = [ref(groupIds[0]!, 'Ops'), ref(groupIds[1]!, "Dev's"), ref(groupIds[2]!, 'Everyone', true)];
    const userId = userIds[0]!;
    const groups = new GroupDirectory(client);
    const resolved = await groups.resolve(["dev's", 'QA'], {});
    expect(resolved).toEqual(new Map([["dev's", dev], ['qa', null]]));
    const current = (await directGroups(client, userId, { subject: upn })).sort((a, b) => a.displayName.localeCompare(b.displayName));
    expect(current).toEqual([everyone, ops]);
    const plan = planGroups(current, ["dev's"], resolved);
    expect(plan).toEqual({ add: [dev], remove: [ops], missing: [] });
    const o = options();
    expect(await applyGroupPlan(client, groups, userId, plan, o)).toBe(true);
    // Graph does not promise an order for memberOf.
    const after = await directGroups(client, userId, {});
    expect(after.sort((a, b) => a.displayName.localeCompare(b.displayName))).toEqual([dev, everyone]);
    expect(await applyGroupPlan(client, groups, userId, plan, o)).toBe(false);
  });
});
