// Incremental synchronisation through `/event` tokens (reference §7).
import { Client, enc, useEmulator, xml } from './helpers.js';

const XML = { accept: 'application/xml' };

async function token(client: Client): Promise<string> {
  const r = await client.get('event', XML);
  expect(r.status).toBe(200);
  const events = xml.parse(r.text).events;
  expect(events['@incrementalSynchronisationAvailable']).toBe('true');
  return events['@newEventToken'] as string;
}

describe('Crowd emulator /event', () => {
  const t = useEmulator();

  it('GET /event gives a token; GET /event/{token} the changes since, as XML elements, and the next token', async () => {
    await t.client.createGroup('crew');
    const first = await token(t.client);
    await t.client.createUser('alice');
    await t.client.put('user?username=alice', { name: 'alice', 'first-name': 'Alicia', 'last-name': 'L', email: 'alice@example.com', active: true });
    expect((await t.client.post('user/group/direct?username=alice', { name: 'crew' })).status).toBe(201);
    await t.client.createUser('bob');
    expect((await t.client.del('user?username=bob')).status).toBe(204);

    const r = await t.client.get(`event/${enc(first)}`, XML);
    expect(r.status).toBe(200);
    const events = xml.parse(r.text).events;
    const next = events['@newEventToken'] as string;
    expect(next).not.toBe(first);
    const userEvents = [events.userEvent].flat() as { operation: string; user: { '@name': string; key?: string } }[];
    expect(userEvents.map((e) => [e.operation, e.user['@name']])).toEqual([
      ['CREATED', 'alice'],
      ['UPDATED', 'alice'],
      ['CREATED', 'bob'],
      ['DELETED', 'bob'],
    ]);
    // A live user comes whole; a deleted one by name only.
    expect(userEvents[1]!.user.key).toMatch(/^32769:/);
    expect(userEvents[3]!.user.key).toBeUndefined();
    expect(events.userMembershipEvent).toMatchObject({ operation: 'CREATED', childUser: { '@name': 'alice' }, parentGroups: { group: { '@name': 'crew' } } });

    // Nothing since the new token; JSON carries the same.
    const none = await t.client.get(`event/${enc(next)}`);
    expect(none.status).toBe(200);
    expect(none.json).toMatchObject({ newEventToken: next, incrementalSynchronisationAvailable: true, events: [] });
    await t.client.createUser('carol');
    const json = await t.client.get(`event/${enc(next)}`);
    expect(json.json.events).toEqual([expect.objectContaining({ type: 'userEvent', operation: 'CREATED', user: expect.objectContaining({ name: 'carol' }) })]);
  });

  it('an unknown or expired token → 410 EVENT_TOKEN_EXPIRED; a fresh token works again', async () => {
    const old = await token(t.client);
    const unknown = await t.client.get('event/not-a-token');
    expect(unknown.status).toBe(410);
    expect(unknown.json.reason).toBe('EVENT_TOKEN_EXPIRED');
    t.em.expireEventTokens();
    const expired = await t.client.get(`event/${enc(old)}`);
    expect(expired.status).toBe(410);
    expect(expired.json.reason).toBe('EVENT_TOKEN_EXPIRED');
    const fresh = await token(t.client);
    expect((await t.client.get(`event/${enc(fresh)}`)).status).toBe(200);
    // The admin endpoint does the same.
    expect((await fetch(`${t.em.adminUrl}/event-tokens/expire`, { method: 'POST' })).status).toBe(204);
    expect((await t.client.get(`event/${enc(fresh)}`)).status).toBe(410);
  });

  it('a server with incremental synchronisation disabled answers 400 INCREMENTAL_SYNC_NOT_AVAILABLE', async () => {
    const before = await token(t.client);
    t.em.setFaults({ incrementalSync: false });
    for (const path of ['event', `event/${enc(before)}`]) {
      const r = await t.client.get(path);
      expect(r.status).toBe(400);
      expect(r.json.reason).toBe('INCREMENTAL_SYNC_NOT_AVAILABLE');
    }
    t.em.setFaults({ incrementalSync: true });
    expect((await t.client.get(`event/${enc(before)}`)).status).toBe(200);
  });

  it('GET only: other methods are 405', async () => {
    expect((await t.client.post('event', {})).status).toBe(405);
  });
});
