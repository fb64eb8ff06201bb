// Delta rounds request by request: where a round starts (stored link, fresh round-1), what
// each page's items become, when Graph's refusals start a re-sync and when they are errors,
// and that the deltaLink moves on only after the consumer took the whole round.
import { Redis } from 'ioredis';
import type { RemoteUser } from '../../../shared/jobs.js';
import { DeltaStore, listUsersDelta, type DeltaChange } from '../../../workers/entra/delta.js';
import { EntraMapping } from '../../../workers/entra/mapping.js';
import type { PhotoStore } from '../../../workers/entra/photos.js';
import type { PullDeps } from '../../../workers/entra/pull.js';
import { collect } from '../../helpers/collect.js';
import { REDIS_URL, deletePrefix, uniquePrefix } from '../../helpers/redis.js';
import { FakeGraph, graphError, reply, failure } from './fake-graph.js';

const SELECT = 'id,userPrincipalName,displayName,givenName,surname,mail,accountEnabled,onPremisesSyncEnabled,department';
const mapping = new EntraMapping({ attributeMap: { costCentre: 'department' } });
const signal = new AbortController().signal;
const DELTA = 'https://graph.test/v1.0/users/delta?$deltatoken=d1';
const next = (n: number) => `https://graph.test/v1.0/users/delta?$skiptoken=${n}`;
const graphUser = (n: number, department = `D${n}`) => ({ id: `u-${n}`, userPrincipalName: `user${n}@contoso.com`, department });
const upsert = (n: number, department = `D${n}`): DeltaChange => ({
  type: 'upsert',
  user: { target: 'entra', remoteId: `u-${n}`, username: `user${n}@contoso.com`, active: true, attributes: { costCentre: department } } satisfies RemoteUser,
});
const removedItem = (n: number, reason: string) => ({ id: `u-${n}`, '@removed': { reason } });
const last = (value: unknown[]) => reply(200, { value, '@odata.deltaLink': DELTA });
const page = (value: unknown[], n: number) => reply(200, { value, '@odata.nextLink': next(n) });
/** The options every delta read carries, with the query of a round-1 start or none when following a link. */
const readOptions = (query: Record<string, string> | undefined, pageSize = 999) => ({
  abortSignal: undefined as AbortSignal | undefined,
  query,
  headers: { Prefer: `odata.maxpagesize=${pageSize}` },
  accept: [400, 404, 410],
  permission: 'User.Read.All',
});

describe('Entra delta', () => {
  let redis: Redis;
  let prefix: string;
  let store: DeltaStore;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  beforeEach(() => {
    prefix = uniquePrefix('entra-delta');
    store = new DeltaStore(redis, prefix);
  });
  afterEach(() => deletePrefix(redis, prefix));
  afterAll(() => redis.quit());

  const deps = (g: FakeGraph): PullDeps => ({ client: g.client, mapping, photos: {} as PhotoStore });
  const stored = async () => JSON.parse((await redis.get(`${prefix}:delta:entra`))!) as { link: string; select: string; savedAt: number };

  describe('DeltaStore', () => {
    it('keeps the link with its $select and the time it was saved under <prefix>:delta:entra', async () => {
      expect(store.key).toBe(`${prefix}:delta:entra`);
      const before = Date.now();
      await store.set(DELTA, SELECT);
      const after = Date.now();
      const got = await store.get();
      expect(got).toEqual({ link: DELTA, select: SELECT, savedAt: expect.any(Number) });
      expect(got!.savedAt).toBeGreaterThanOrEqual(before);
      expect(got!.savedAt).toBeLessThanOrEqual(after);
      expect(await stored()).toEqual(got);
    });

    it('has nothing before the first round and after clear', async () => {
      expect(await store.get()).toBeUndefined();
      await store.set(DELTA, SELECT);
      await store.clear();
      expect(await redis.exists(store.key)).toBe(0);
      expect(await store.get()).toBeUndefined();
    });

    it('treats an unreadable or empty value as no link', async () => {
      await redis.set(store.key, '{"link":');
      expect(await store.get()).toBeUndefined();
      await redis.set(store.key, '');
      expect(await store.get()).toBeUndefined();
    });
  });

  describe('listUsersDelta', () => {
    it('starts with a round-1 announced as a re-sync, then stores the deltaLink for the $select', async () => {
      const g = FakeGraph.script(page([graphUser(1)], 2), last([graphUser(2)]));
      expect(await collect(listUsersDelta(deps(g), store, { abortSignal: signal }))).toEqual([{ type: 'resync', reason: 'initial' }, upsert(1), upsert(2)]);
      expect(g.requests).toEqual([
        { method: 'GET', link: '/users/delta', options: { ...readOptions({ $select: SELECT }), abortSignal: signal } },
        { method: 'GET', link: next(2), options: { ...readOptions(undefined), abortSignal: signal } },
      ]);
      expect(await stored()).toEqual({ link: DELTA, select: SELECT, savedAt: expect.any(Number) });
    });

    it('continues from the stored link with only the changes', async () => {
      await store.set('https://graph.test/v1.0/users/delta?$deltatoken=d0', SELECT);
      const g = FakeGraph.script(last([graphUser(3)]));
      expect(await collect(listUsersDelta(deps(g), store))).toEqual([upsert(3)]);
      expect(g.requests).toEqual([{ method: 'GET', link: 'https://graph.test/v1.0/users/delta?$deltatoken=d0', options: readOptions(undefined) }]);
      expect((await stored()).link).toBe(DELTA);
    });

    it('starts over with a re-sync when the stored link was issued for another $select', async () => {
      await store.set('https://graph.test/v1.0/users/delta?$deltatoken=d0', 'id,displayName');
      const g = FakeGraph.script(last([]));
      expect(await collect(listUsersDelta(deps(g), store))).toEqual([{ type: 'resync', reason: 'mapping-changed' }]);
      expect(g.requests).toEqual([{ method: 'GET', link: '/users/delta', options: readOptions({ $select: SELECT }) }]);
      expect(await stored()).toEqual({ link: DELTA, select: SELECT, savedAt: expect.any(Number) });
    });

    it('asks for pages of 1 to 999 users', async () => {
      const sizes: unknown[] = [];
      for (const pageSize of [0, 1, 20, 999, 1000]) {
        const g = FakeGraph.script(last([]));
        await collect(listUsersDelta(deps(g), store, { pageSize }));
        sizes.push(g.requests[0]!.options.headers);
      }
      expect(sizes).toEqual([1, 1, 20, 999, 999].map((n) => ({ Prefer: `odata.maxpagesize=${n}` })));
    });

    it('hands over removals with their reason; anything but "changed" is gone for good', async () => {
      await store.set(DELTA, SELECT);
      const g = FakeGraph.script(last([removedItem(1, 'changed'), removedItem(2, 'deleted'), removedItem(3, 'purged')]));
      expect(await collect(listUsersDelta(deps(g), store))).toEqual([
        { type: 'removed', remoteId: 'u-1', reason: 'changed' },
        { type: 'removed', remoteId: 'u-2', reason: 'deleted' },
        { type: 'removed', remoteId: 'u-3', reason: 'deleted' },
      ]);
    });

    it('hands a user seen twice over once, as last seen and where last seen', async () => {
      await store.set(DELTA, SELECT);
      const g = FakeGraph.script(page([graphUser(1, 'old'), graphUser(2)], 2), page([graphUser(1, 'new'), graphUser(3), graphUser(4)], 3), last([removedItem(4, 'changed')]));
      expect(await collect(listUsersDelta(deps(g), store))).toEqual([upsert(2), upsert(1, 'new'), upsert(3), { type: 'removed', remoteId: 'u-4', reason: 'changed' }]);
    });

    it('reads groups of upserted users when asked', async () => {
      await store.set(DELTA, SELECT);
      const g = FakeGraph.script(last([graphUser(1)]), reply(200, { value: [{ id: 'g-1', displayName: 'Ops' }] }));
      const [change] = await collect(listUsersDelta(deps(g), store, { groups: true }));
      expect(change).toEqual({ type: 'upsert', user: { ...(upsert(1) as Extract<DeltaChange, { type: 'upsert' }>).user, groups: ['Ops'] } });
      expect(g.requests[1]!.link).toBe('/users/u-1/memberOf');
    });

    it('moves the stored link on only once the consumer took the whole round', async () => {
      await store.set(DELTA.replace('d1', 'd0'), SELECT);
      const g = FakeGraph.script(last([graphUser(1), graphUser(2)]));
      for await (const change of listUsersDelta(deps(g), store)) if (change.type === 'upsert') break;
      expect((await stored()).link).toBe(DELTA.replace('d1', 'd0'));
    });

    describe('refusals', () => {
      const expired: [string, ReturnType<typeof reply>][] = [
        ['syncStateNotFound', reply(400, undefined, { error: graphError('syncStateNotFound', 'x') })],
        ['in any case', reply(400, undefined, { error: graphError('SYNCSTATENOTFOUND') })],
        ['resyncRequired', reply(400, undefined, { error: graphError('resyncRequired') })],
        ['a 404 code', reply(404, undefined, { error: graphError('Request_syncStateNotFound') })],
        ['the message', reply(400, undefined, { error: graphError('BadRequest', 'The Sync State Generation is not found.') })],
      ];
      it.each(expired)('an expired token (%s) starts a fresh round-1 announced as expired', async (_, refusal) => {
        await store.set(DELTA.replace('d1', 'd0'), SELECT);
        const g = FakeGraph.script(refusal, last([graphUser(1)]));
        expect(await collect(listUsersDelta(deps(g), store))).toEqual([{ type: 'resync', reason: 'expired' }, upsert(1)]);
        expect(g.requests.map((r) => [r.link, r.options.query])).toEqual([
          [DELTA.replace('d1', 'd0'), undefined],
          ['/users/delta', { $select: SELECT }],
        ]);
        expect((await stored()).link).toBe(DELTA);
      });

      it('a reset (410) starts a fresh round-1 announced as a reset', async () => {
        await store.set(DELTA.replace('d1', 'd0'), SELECT);
        const g = FakeGraph.script(reply(410, undefined), last([]));
        expect(await collect(listUsersDelta(deps(g), store))).toEqual([{ type: 'resync', reason: 'reset' }]);
        expect(g.requests[1]!.link).toBe('/users/delta');
      });

      it('a refusal in mid-round starts over from round-1, and the last reason is announced', async () => {
        const g = FakeGraph.script(page([graphUser(1)], 2), reply(400, undefined, { error: graphError('syncStateNotFound') }), reply(410, undefined), last([graphUser(2)]));
        expect(await collect(listUsersDelta(deps(g), store))).toEqual([{ type: 'resync', reason: 'reset' }, upsert(2)]);
        expect(g.requests.map((r) => r.link)).toEqual(['/users/delta', next(2), '/users/delta', '/users/delta']);
      });

      it('gives up after three refused rounds in a row, storing nothing', async () => {
        const g = FakeGraph.script(reply(410, undefined), reply(410, undefined), reply(400, undefined, { error: graphError('resyncRequired') }), last([]));
        expect(await failure(collect(listUsersDelta(deps(g), store)))).toEqual([
          'TransientError',
          'Graph kept refusing delta rounds (expired); try again later',
          'syncStateNotFound',
          undefined,
        ]);
        expect(g.requests).toHaveLength(3);
        expect(await store.get()).toBeUndefined();
      });

      it('hands other refusals back as Graph refused them', async () => {
        for (const refusal of [reply(400, undefined, { error: graphError('BadRequest', 'Unsupported query.') }), reply(404, undefined)]) {
          const g = FakeGraph.script(refusal);
          expect(await failure(collect(listUsersDelta(deps(g), store)))).toEqual(['Error', `refused ${refusal.status} GET /users/delta`, undefined, undefined]);
          expect(g.refused).toHaveLength(1);
        }
        expect(await store.get()).toBeUndefined();
      });
    });

    describe('malformed pages', () => {
      const cases: [string, unknown, string][] = [
        ['no value list', { '@odata.deltaLink': DELTA }, 'a body without a "value" list'],
        ['an item without an id', { value: [graphUser(1), { displayName: 'x' }], '@odata.deltaLink': DELTA }, 'a delta item without an id'],
        ['neither link', { value: [graphUser(1)] }, 'a delta page with neither a nextLink nor a deltaLink'],
      ];
      it.each(cases)('refuses a page with %s', async (_, body, problem) => {
        const g = FakeGraph.script(reply(200, body));
        expect(await failure(collect(listUsersDelta(deps(g), store)))).toEqual([
          'TransientError',
          `Graph answered GET /users/delta with 200 but ${problem}`,
          'MALFORMED_RESPONSE',
          200,
        ]);
        expect(await store.get()).toBeUndefined();
      });
    });

    describe('empty pages', () => {
      const empties = (n: number, from = 0) => Array.from({ length: n }, (_, i) => page([], from + i + 1));

      it('stops after 100 empty pages in a row that each promise more', async () => {
        const g = FakeGraph.script(...empties(100), last([]));
        expect(await failure(collect(listUsersDelta(deps(g), store)))).toEqual([
          'PermanentError',
          'Graph answered GET /users/delta with 100 empty pages in a row, each with a nextLink; stopping instead of looping',
          'NEXTLINK_LOOP',
          undefined,
        ]);
        expect(g.requests).toHaveLength(100);
      });

      it('accepts 99 in a row, counting afresh after a page with items', async () => {
        const g = FakeGraph.script(...empties(99), page([graphUser(1)], 100), ...empties(99, 100), last([graphUser(2)]));
        expect(await collect(listUsersDelta(deps(g), store))).toEqual([{ type: 'resync', reason: 'initial' }, upsert(1), upsert(2)]);
      });
    });
  });
});
