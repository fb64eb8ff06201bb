// Incremental rounds, request by request: the event feed when a token is stored, the
// updatedDate search or a full re-read otherwise, and when the next token is stored (only
// once the consumer has taken every change, so a round cut short is repeated).
import type { Logger } from '../../../shared/logger.js';
import type { RemoteChange } from '../../../workers/runtime/connector.js';
import { listCrowdChanges, type ChangesOptions } from '../../../workers/crowd/changes.js';
import type { CrowdClient } from '../../../workers/crowd/client.js';
import type { CrowdUser } from '../../../workers/crowd/entities.js';
import type { EventRead, EventTokenStore } from '../../../workers/crowd/events.js';
import { CrowdMapping } from '../../../workers/crowd/mapping.js';
import type { PullDeps } from '../../../workers/crowd/pull.js';
import { collect } from '../../helpers/collect.js';
import { crowdUser, fakeClient, type Call } from './fake-client.js';

const signal = new AbortController().signal;
const since = new Date('2024-05-01T10:00:00.000Z');
const roleMap = { 'team-leads': 'editor' };
const EXPIRED_WARNING = 'the Crowd event token expired; re-reading every user';

const alice = crowdUser('alice', { key: 'k-a', attributes: { dept: ['Sales'] } });
const bob = crowdUser('bob');
const upsert = (username: string, more: object = {}): RemoteChange => ({
  type: 'upsert',
  user: { target: 'crowd', remoteId: username === 'alice' ? 'k-a' : username, username, active: true, ...(username === 'alice' && { attributes: { dept: 'Sales' } }), ...more },
});

interface World {
  directory?: CrowdUser[];
  events?: EventRead;
  current?: string | 'unavailable';
  /** Names getUser finds (defaults to the directory). */
  readable?: CrowdUser[];
}

function world(w: World): { deps: PullDeps; calls: Call[]; client: CrowdClient } {
  const directory = w.directory ?? [alice, bob];
  const readable = w.readable ?? directory;
  const { client, calls } = fakeClient({
    searchUsers: (p) => directory.slice(p.startIndex, p.startIndex + p.maxResults),
    getUser: (by) => readable.find((u) => 'username' in by && u.name === by.username) ?? null,
    listUserGroups: (_name, scope) => (scope === 'direct' ? ['team-leads', 'other'] : ['team-leads']),
    ...(w.events && { eventsSince: () => w.events! }),
    ...(w.current && { currentEventToken: () => w.current! }),
  });
  return { deps: { client, mapping: new CrowdMapping(), roleMap }, calls, client };
}

function tokenStore(stored: string | undefined): { tokens: EventTokenStore; log: unknown[][] } {
  const log: unknown[][] = [];
  let value = stored;
  const tokens = {
    get: async () => {
      log.push(['get']);
      return value;
    },
    set: async (t: string) => {
      log.push(['set', t]);
      value = t;
    },
    clear: async () => {
      log.push(['clear']);
      value = undefined;
    },
  };
  return { tokens: tokens as unknown as EventTokenStore, log };
}

function recordingLogger(): { logger: Logger; warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  return { logger: { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger, warnings };
}

const options = (over: Partial<ChangesOptions> = {}): ChangesOptions => ({ since, groups: false, abortSignal: signal, ...over });
const fullSearch = (groups: boolean) => [
  'searchUsers',
  { startIndex: 0, maxResults: 1000, restriction: undefined, attributes: true },
  { attributes: true, groups, abortSignal: signal },
];
const changedSearch = (groups: boolean) => {
  const restriction = 'updatedDate > "2024-05-01T09:59:58.999+0000"';
  return ['searchUsers', { startIndex: 0, maxResults: 1000, restriction, attributes: true }, { attributes: true, groups, overlapMs: 1000, abortSignal: signal, restriction }];
};

describe('listCrowdChanges without a token store', () => {
  it('re-reads every user on the first round, announced by a resync', async () => {
    const { deps, calls } = world({});
    const { logger, warnings } = recordingLogger();
    expect(await collect(listCrowdChanges(deps, undefined, logger, options({ since: undefined })))).toEqual([
      { type: 'resync', reason: 'initial' },
      upsert('alice'),
      upsert('bob'),
    ]);
    expect(calls).toEqual([fullSearch(false)]);
    expect(warnings).toEqual([]);
  });

  it('reads the users updated since the bookmark, a second further back, without a resync', async () => {
    const { deps, calls } = world({ directory: [bob] });
    expect(await collect(listCrowdChanges(deps, undefined, recordingLogger().logger, options()))).toEqual([upsert('bob')]);
    expect(calls).toEqual([changedSearch(false)]);
  });

  it('reads groups and roles of each user when asked', async () => {
    const { deps, calls } = world({ directory: [bob] });
    expect(await collect(listCrowdChanges(deps, undefined, recordingLogger().logger, options({ groups: true })))).toEqual([
      upsert('bob', { groups: ['team-leads', 'other'], roles: ['editor'] }),
    ]);
    expect(calls.map((c) => c.slice(0, 3))).toEqual([changedSearch(true).slice(0, 3), ['listUserGroups', 'bob', 'direct'], ['listUserGroups', 'bob', 'nested']]);
  });
});

describe('listCrowdChanges with a stored token', () => {
  it('re-reads each user the feed names, with attributes, then stores the next token', async () => {
    const { deps, calls } = world({ events: { kind: 'events', token: 'T1', users: ['alice', 'bob'] } });
    const { tokens, log } = tokenStore('T0');
    expect(await collect(listCrowdChanges(deps, tokens, recordingLogger().logger, options()))).toEqual([upsert('alice'), upsert('bob')]);
    expect(calls).toEqual([
      ['eventsSince', 'T0', { abortSignal: signal }],
      ['getUser', { username: 'alice' }, { abortSignal: signal, attributes: true }],
      ['getUser', { username: 'bob' }, { abortSignal: signal, attributes: true }],
    ]);
    expect(log).toEqual([['get'], ['set', 'T1']]);
  });

  it('skips a named user that is gone again', async () => {
    const { deps } = world({ events: { kind: 'events', token: 'T1', users: ['ghost', 'bob'] } });
    const { tokens, log } = tokenStore('T0');
    expect(await collect(listCrowdChanges(deps, tokens, recordingLogger().logger, options()))).toEqual([upsert('bob')]);
    expect(log).toEqual([['get'], ['set', 'T1']]);
  });

  it('reads groups and roles of each named user when asked', async () => {
    const { deps, calls } = world({ events: { kind: 'events', token: 'T1', users: ['bob'] } });
    const { tokens } = tokenStore('T0');
    expect(await collect(listCrowdChanges(deps, tokens, recordingLogger().logger, options({ groups: true })))).toEqual([
      upsert('bob', { groups: ['team-leads', 'other'], roles: ['editor'] }),
    ]);
    expect(calls.slice(2)).toEqual([
      ['listUserGroups', 'bob', 'direct', { abortSignal: signal }],
      ['listUserGroups', 'bob', 'nested', { abortSignal: signal }],
    ]);
  });

  it('stores the next token of a quiet round without reading anything', async () => {
    const { deps, calls } = world({ events: { kind: 'events', token: 'T1', users: [] } });
    const { tokens, log } = tokenStore('T0');
    expect(await collect(listCrowdChanges(deps, tokens, recordingLogger().logger, options({ since: undefined })))).toEqual([]);
    expect(calls).toEqual([['eventsSince', 'T0', { abortSignal: signal }]]);
    expect(log).toEqual([['get'], ['set', 'T1']]);
  });

  it('stores the next token only after the consumer took the last change', async () => {
    const { deps } = world({ events: { kind: 'events', token: 'T1', users: ['alice', 'bob'] } });
    const { tokens, log } = tokenStore('T0');
    const it = listCrowdChanges(deps, tokens, recordingLogger().logger, options());
    await it.next();
    await it.next();
    expect(log).toEqual([['get']]);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(log).toEqual([['get'], ['set', 'T1']]);
  });

  it('re-reads every user after an expired token, with a warning, and stores a fresh token', async () => {
    const { deps, calls } = world({ events: { kind: 'expired' }, current: 'T9' });
    const { tokens, log } = tokenStore('T0');
    const { logger, warnings } = recordingLogger();
    // The bookmark is set, yet the changes since the old token are lost: everything is read.
    expect(await collect(listCrowdChanges(deps, tokens, logger, options()))).toEqual([{ type: 'resync', reason: 'expired' }, upsert('alice'), upsert('bob')]);
    expect(warnings).toEqual([[EXPIRED_WARNING]]);
    expect(calls).toEqual([['eventsSince', 'T0', { abortSignal: signal }], ['currentEventToken', { abortSignal: signal }], fullSearch(false)]);
    expect(log).toEqual([['get'], ['set', 'T9']]);
  });

  it('falls back to the updatedDate search when the server stopped offering the feed', async () => {
    const { deps, calls } = world({ directory: [bob], events: { kind: 'unavailable' }, current: 'unavailable' });
    const { tokens, log } = tokenStore('T0');
    const { logger, warnings } = recordingLogger();
    expect(await collect(listCrowdChanges(deps, tokens, logger, options()))).toEqual([upsert('bob')]);
    expect(warnings).toEqual([]);
    expect(calls).toEqual([['eventsSince', 'T0', { abortSignal: signal }], ['currentEventToken', { abortSignal: signal }], changedSearch(false)]);
    expect(log).toEqual([['get'], ['clear']]);
  });

  it('takes a fresh token when the feed is unavailable for that token but not for a new one', async () => {
    const { deps } = world({ directory: [], events: { kind: 'unavailable' }, current: 'T5' });
    const { tokens, log } = tokenStore('T0');
    expect(await collect(listCrowdChanges(deps, tokens, recordingLogger().logger, options({ since: undefined })))).toEqual([{ type: 'resync', reason: 'initial' }]);
    expect(log).toEqual([['get'], ['set', 'T5']]);
  });
});

describe('listCrowdChanges with a token store but no token', () => {
  it.each<[string, string | undefined]>([
    ['nothing stored', undefined],
    ['an empty token', ''],
  ])('takes a token for now before reading (%s), and stores it after', async (_, stored) => {
    const { deps, calls } = world({ current: 'T1' });
    const { tokens, log } = tokenStore(stored);
    expect(await collect(listCrowdChanges(deps, tokens, recordingLogger().logger, options({ since: undefined })))).toEqual([
      { type: 'resync', reason: 'initial' },
      upsert('alice'),
      upsert('bob'),
    ]);
    expect(calls).toEqual([['currentEventToken', { abortSignal: signal }], fullSearch(false)]);
    expect(log).toEqual([['get'], ['set', 'T1']]);
  });

  it('reads by updatedDate when a bookmark exists', async () => {
    const { deps, calls } = world({ directory: [], current: 'T1' });
    const { tokens, log } = tokenStore(undefined);
    expect(await collect(listCrowdChanges(deps, tokens, recordingLogger().logger, options()))).toEqual([]);
    expect(calls).toEqual([['currentEventToken', { abortSignal: signal }], changedSearch(false)]);
    expect(log).toEqual([['get'], ['set', 'T1']]);
  });

  it('does not store the fresh token when the consumer stops early', async () => {
    const { deps } = world({ current: 'T1' });
    const { tokens, log } = tokenStore(undefined);
    const it = listCrowdChanges(deps, tokens, recordingLogger().logger, options({ since: undefined }));
    await it.next();
    await it.next();
    await it.next();
    expect(log).toEqual([['get']]);
    await it.return!(undefined);
    expect(log).toEqual([['get']]);
  });

  it('clears the store and stores nothing on a server without the feed', async () => {
    const { deps } = world({ directory: [], current: 'unavailable' });
    const { tokens, log } = tokenStore(undefined);
    expect(await collect(listCrowdChanges(deps, tokens, recordingLogger().logger, options({ since: undefined })))).toEqual([{ type: 'resync', reason: 'initial' }]);
    expect(log).toEqual([['get'], ['clear']]);
  });
});
