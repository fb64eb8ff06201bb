// Direct memberships: the plan (only the difference, case-insensitive, Crowd's case kept),
// how it is sent (at most four requests at a time, the first failure stops new ones, a
// missing group fails the job only after the rest was applied), and the role map.
import { PermanentError, TransientError, errorKind } from '../../../shared/errors.js';
import { applyGroupPlan, isEmptyPlan, planDirectGroups, planGroups, rolesFor } from '../../../workers/crowd/groups.js';
import { deferred, fakeClient } from './fake-client.js';

const signal = new AbortController().signal;

describe('planGroups', () => {
  it('adds what is wanted and missing, removes what is there and unwanted', () => {
    expect(planGroups(['staff', 'old'], ['staff', 'new'])).toEqual({ add: ['new'], remove: ['old'] });
  });

  it('compares names case-insensitively and keeps each side\'s spelling', () => {
    expect(planGroups(['Jira-Users', 'Legacy'], ['jira-users', 'NEW-Team'])).toEqual({ add: ['NEW-Team'], remove: ['Legacy'] });
    expect(planGroups(['ADMINS'], ['admins'])).toEqual({ add: [], remove: [] });
  });

  it('plans everything when one side is empty', () => {
    expect(planGroups([], ['a', 'B'])).toEqual({ add: ['a', 'B'], remove: [] });
    expect(planGroups(['a', 'B'], [])).toEqual({ add: [], remove: ['a', 'B'] });
  });
});

describe('isEmptyPlan', () => {
  it('is empty only when there is nothing to add and nothing to remove', () => {
    expect(isEmptyPlan({ add: [], remove: [] })).toBe(true);
    expect(isEmptyPlan({ add: ['a'], remove: [] })).toBe(false);
    expect(isEmptyPlan({ add: [], remove: ['r'] })).toBe(false);
    expect(isEmptyPlan({ add: ['a'], remove: ['r'] })).toBe(false);
  });
});

describe('planDirectGroups', () => {
  it('reads the direct groups of the user and plans against them', async () => {
    const { client, calls } = fakeClient({ listUserGroups: () => ['Staff', 'old'] });
    expect(await planDirectGroups(client, 'alice', ['staff', 'new'], { abortSignal: signal })).toEqual({ add: ['new'], remove: ['old'] });
    expect(calls).toEqual([['listUserGroups', 'alice', 'direct', { abortSignal: signal }]]);
  });

  it('fails for a retry when the user vanished between its read and its groups', async () => {
    const { client } = fakeClient({ listUserGroups: () => null });
    const err = await planDirectGroups(client, 'alice', ['staff'], {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toBe('Crowd user alice disappeared while reading its groups');
  });
});

describe('applyGroupPlan', () => {
  it('sends each add and remove for the user, with the caller\'s options', async () => {
    const { client, calls } = fakeClient({ addUserToGroup: () => 'added', removeUserFromGroup: () => 'removed' });
    expect(await applyGroupPlan(client, 'alice', { add: ['a1', 'a2'], remove: ['r1'] }, { abortSignal: signal })).toBe(true);
    expect(calls).toEqual([
      ['addUserToGroup', 'alice', 'a1', { abortSignal: signal }],
      ['addUserToGroup', 'alice', 'a2', { abortSignal: signal }],
      ['removeUserFromGroup', 'alice', 'r1', { abortSignal: signal }],
    ]);
  });

  it('sends nothing and reports no change for an empty plan', async () => {
    const { client, calls } = fakeClient({});
    expect(await applyGroupPlan(client, 'alice', { add: [], remove: [] }, {})).toBe(false);
    expect(calls).toEqual([]);
  });

  it.each<[string, 'added' | 'exists', 'removed' | 'absent' | undefined, boolean]>([
    ['an add that landed', 'added', undefined, true],
    ['an add of an existing membership', 'exists', undefined, false],
    ['an existing add and a remove that landed', 'exists', 'removed', true],
    ['an existing add and a remove of a missing membership', 'exists', 'absent', false],
  ])('reports whether anything changed: %s', async (_, add, remove, changed) => {
    const { client } = fakeClient({ addUserToGroup: () => add, removeUserFromGroup: () => remove! });
    expect(await applyGroupPlan(client, 'alice', { add: ['g'], remove: remove ? ['r'] : [] }, {})).toBe(changed);
  });

  it('reports a remove alone that landed as a change', async () => {
    const { client } = fakeClient({ removeUserFromGroup: () => 'removed' });
    expect(await applyGroupPlan(client, 'alice', { add: [], remove: ['r'] }, {})).toBe(true);
  });

  it('applies the rest, then fails permanently naming the one group Crowd lacks', async () => {
    const { client, calls } = fakeClient({
      addUserToGroup: (_u, g) => (g === 'ghost' ? 'no-group' : 'added'),
      removeUserFromGroup: () => 'removed',
    });
    const err = await applyGroupPlan(client, 'alice', { add: ['ghost', 'staff'], remove: ['old'] }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({
      message: 'Crowd has no group "ghost" for user alice; idsync does not create groups: create it in Crowd (or fix the app\'s group list) and replay this job. The other membership changes were applied.',
      code: 'GROUP_NOT_FOUND',
      status: 400,
    });
    expect(calls.map((c) => c[2])).toEqual(['ghost', 'staff', 'old']);
  });

  it('names every missing group, quoted, and says "them"', async () => {
    const { client } = fakeClient({ addUserToGroup: (_u, g) => (g === 'here' ? 'exists' : 'no-group') });
    const err = await applyGroupPlan(client, 'bob', { add: ['ghost', 'here', 'Phantom'], remove: [] }, {}).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('permanent');
    expect((err as Error).message).toBe(
      'Crowd has no group "ghost", "Phantom" for user bob; idsync does not create groups: create them in Crowd (or fix the app\'s group list) and replay this job. The other membership changes were applied.',
    );
  });

  it('keeps at most four requests in flight', async () => {
    const gates = Array.from({ length: 6 }, () => deferred<'added'>());
    let inFlight = 0;
    let most = 0;
    const { client, calls } = fakeClient({
      addUserToGroup: async (_u, g) => {
        inFlight++;
        most = Math.max(most, inFlight);
        const r = await gates[Number(g)]!.promise;
        inFlight--;
        return r;
      },
    });
    const done = applyGroupPlan(client, 'alice', { add: ['0', '1', '2', '3', '4', '5'], remove: [] }, {});
    await Promise.resolve();
    expect(calls).toHaveLength(4);
    for (const g of gates) g.resolve('added');
    expect(await done).toBe(true);
    expect(most).toBe(4);
    expect(calls.map((c) => c[2])).toEqual(['0', '1', '2', '3', '4', '5']);
  });

  it('starts no new request after one failed, and rethrows that first failure', async () => {
    const gates = Array.from({ length: 6 }, () => deferred<'added'>());
    const first = new TransientError('first');
    const { client, calls } = fakeClient({ addUserToGroup: (_u, g) => gates[Number(g)]!.promise });
    const done = applyGroupPlan(client, 'alice', { add: ['0', '1', '2', '3', '4', '5'], remove: [] }, {}).catch((e: unknown) => e);
    gates[0]!.reject(first);
    // A second failure, once the first is known, does not replace it.
    gates[1]!.reject(new TransientError('second'));
    gates[2]!.resolve('added');
    gates[3]!.resolve('added');
    expect(await done).toBe(first);
    expect(calls.map((c) => c[2])).toEqual(['0', '1', '2', '3']);
  });

  it('lets a request failure win over missing groups', async () => {
    const boom = new TransientError('socket hang up');
    const { client } = fakeClient({
      addUserToGroup: () => 'no-group',
      removeUserFromGroup: () => Promise.reject(boom),
    });
    expect(await applyGroupPlan(client, 'alice', { add: ['ghost'], remove: ['old'] }, {}).catch((e: unknown) => e)).toBe(boom);
  });
});

describe('rolesFor', () => {
  const roleMap = { 'crowd-administrators': 'admin', 'Jira-Administrators': 'admin', 'team-leads': 'editor', viewers: '' };

  it('maps groups to roles case-insensitively, once each, sorted', () => {
    expect(rolesFor(['Team-Leads', 'jira-administrators', 'CROWD-ADMINISTRATORS', 'unmapped'], roleMap)).toEqual(['admin', 'editor']);
  });

  it('skips groups the map does not name', () => {
    expect(rolesFor(['unmapped', 'other'], roleMap)).toEqual([]);
    expect(rolesFor(['team-leads'], {})).toEqual([]);
  });

  it('keeps a role named by the empty string', () => {
    expect(rolesFor(['viewers', 'team-leads'], roleMap)).toEqual(['', 'editor']);
  });

  it('sorts roles whatever order the groups came in', () => {
    expect(rolesFor(['z', 'a', 'm'], { z: 'zeta', a: 'alpha', m: 'mu' })).toEqual(['alpha', 'mu', 'zeta']);
  });
});
