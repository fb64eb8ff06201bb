// Crowd's event feed read as XML: which users a round must re-read, the next token, whether
// the server offers the feed at all; and where the token is kept between rounds.
import type { Redis } from 'ioredis';
import type { CrowdEmulator } from '../../../emulators/crowd/index.js';
import { EventTokenStore, parseEventsXml } from '../../../workers/crowd/events.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';
import { APP_PASSWORD, CrowdRest, startEmulator } from './helpers.js';

const PROLOG = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>';
const doc = (body: string, attrs = 'newEventToken="1700:42" incrementalSynchronisationAvailable="true"') => `${PROLOG}<events ${attrs}>${body}</events>`;
const userEvent = (op: string, name: string) => `<userEvent><operation>${op}</operation><user name="${name}"><link rel="self"/></user></userEvent>`;
const membership = (op: string, user: string, group: string) =>
  `<userMembershipEvent><operation>${op}</operation><childUser name="${user}"/><parentGroups><group name="${group}"/></parentGroups></userMembershipEvent>`;

describe('parseEventsXml', () => {
  it('reads the next token and the users created or updated', () => {
    expect(parseEventsXml(doc(userEvent('CREATED', 'alice') + userEvent('UPDATED', 'bob')))).toEqual({ token: '1700:42', available: true, users: ['alice', 'bob'] });
  });

  it('reads a lone event as a list of one', () => {
    expect(parseEventsXml(doc(userEvent('UPDATED', 'alice')))?.users).toEqual(['alice']);
    expect(parseEventsXml(doc(membership('CREATED', 'bob', 'staff')))?.users).toEqual(['bob']);
  });

  it('leaves deleted users to full syncs', () => {
    expect(parseEventsXml(doc(userEvent('DELETED', 'gone') + userEvent('CREATED', 'alice')))?.users).toEqual(['alice']);
  });

  it('names the user of a membership added or removed', () => {
    expect(parseEventsXml(doc(membership('CREATED', 'alice', 'staff') + membership('DELETED', 'bob', 'old')))?.users).toEqual(['alice', 'bob']);
  });

  it('ignores group events and group-in-group memberships', () => {
    const groups =
      '<groupEvent><operation>CREATED</operation><group name="staff"/></groupEvent>' +
      '<groupMembershipEvent><operation>CREATED</operation><group name="a"/><parentGroups><group name="b"/></parentGroups><childGroups/></groupMembershipEvent>';
    expect(parseEventsXml(doc(groups))).toEqual({ token: '1700:42', available: true, users: [] });
  });

  it('lists each user once, case-insensitively, in the order last seen, with the last spelling', () => {
    // Profile events are taken before membership events, whatever the document order.
    const body = userEvent('UPDATED', 'alice') + membership('CREATED', 'Bob', 'staff') + userEvent('UPDATED', 'carol') + membership('DELETED', 'ALICE', 'old');
    expect(parseEventsXml(doc(body))?.users).toEqual(['carol', 'Bob', 'ALICE']);
    expect(parseEventsXml(doc(userEvent('UPDATED', 'Dave') + userEvent('UPDATED', 'erin') + userEvent('UPDATED', 'dave')))?.users).toEqual(['erin', 'dave']);
  });

  it('skips events that name no user', () => {
    const body =
      '<userEvent/>' +
      '<userEvent><operation>CREATED</operation></userEvent>' +
      '<userEvent><operation>CREATED</operation><user>alice</user></userEvent>' +
      '<userEvent><operation>CREATED</operation><user/></userEvent>' +
      '<userMembershipEvent><operation>CREATED</operation></userMembershipEvent>' +
      '<userMembershipEvent><operation>CREATED</operation><childUser/></userMembershipEvent>' +
      userEvent('CREATED', 'dave');
    expect(parseEventsXml(doc(body))?.users).toEqual(['dave']);
  });

  it.each<[string, string, string | undefined]>([
    ['a token', 'newEventToken="t-1"', 't-1'],
    ['an empty token', 'newEventToken=""', undefined],
    ['no token', 'incrementalSynchronisationAvailable="true"', undefined],
  ])('reads %s', (_, attrs, token) => {
    expect(parseEventsXml(doc('', attrs))?.token).toBe(token);
  });

  it.each<[string, boolean]>([
    ['incrementalSynchronisationAvailable="false"', false],
    ['incrementalSynchronisationAvailable="true"', true],
    ['newEventToken="t"', true],
  ])('reads availability from %s', (attrs, available) => {
    expect(parseEventsXml(doc('', attrs))?.available).toBe(available);
  });

  it.each(['<events/>', '<events></events>', `${PROLOG}<events>\n</events>`])('reads the empty document %j', (text) => {
    expect(parseEventsXml(text)).toEqual({ token: undefined, available: true, users: [] });
  });

  it.each([
    ['an empty body', ''],
    ['plain text', 'Service Unavailable'],
    ['another XML root', `${PROLOG}<error><reason>EVENT_TOKEN_EXPIRED</reason><message>m</message></error>`],
    ['a JSON body', '{"newEventToken":"t","events":[]}'],
    ['a cut-off tag', '<events'],
    ['an unclosed comment', '<events><!-- cut'],
  ])('answers undefined for %s', (_, text) => {
    expect(parseEventsXml(text)).toBeUndefined();
  });
});

describe('parseEventsXml on the emulator\'s feed', () => {
  let em: CrowdEmulator;
  beforeAll(async () => {
    em = await startEmulator();
  });
  afterAll(() => em.close());

  const xml = async (path: string) => {
    const res = await fetch(`${em.info.baseUrl}rest/usermanagement/1/${path}`, {
      headers: { Authorization: `Basic ${Buffer.from(`${em.info.applicationName}:${APP_PASSWORD}`).toString('base64')}`, Accept: 'application/xml' },
    });
    expect(res.status).toBe(200);
    return res.text();
  };

  it('reads the users touched since a token, and a token that moves on', async () => {
    em.seed([{ name: 'alice', email: 'alice@example.com' }, { name: 'bob', email: 'bob@example.com' }], [{ name: 'staff' }]);
    const start = parseEventsXml(await xml('event'))!;
    expect(start).toEqual({ token: expect.any(String), available: true, users: [] });
    const rest = new CrowdRest(em);
    expect((await rest.call('POST', 'user/group/direct?username=alice', { name: 'staff' })).status).toBe(201);
    expect((await rest.call('DELETE', 'user?username=bob')).status).toBe(204);
    await rest.createGroup('ops');
    const read = parseEventsXml(await xml(`event/${encodeURIComponent(start.token!)}`))!;
    expect(read.users).toEqual(['alice']);
    expect(read.available).toBe(true);
    expect(read.token).not.toBe(start.token);
  });
});

describe('EventTokenStore', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => {
    redis = workerRedis();
  });
  beforeEach(() => {
    prefix = uniquePrefix('crowd-events');
  });
  afterEach(() => deletePrefix(redis, prefix));
  afterAll(() => redis.quit());

  it('keeps the token under <prefix>:events:crowd', async () => {
    const store = new EventTokenStore(redis, prefix);
    expect(store.key).toBe(`${prefix}:events:crowd`);
    await store.set('1700:42');
    expect(await redis.get(`${prefix}:events:crowd`)).toBe('1700:42');
    expect(await store.get()).toBe('1700:42');
  });

  it('answers undefined, not null, before any token was stored and after a clear', async () => {
    const store = new EventTokenStore(redis, prefix);
    expect(await store.get()).toBeUndefined();
    await store.set('t');
    await store.clear();
    expect(await store.get()).toBeUndefined();
    expect(await redis.exists(store.key)).toBe(0);
  });

  it('replaces the stored token', async () => {
    const store = new EventTokenStore(redis, prefix);
    await store.set('a');
    await store.set('b');
    expect(await store.get()).toBe('b');
  });
});
