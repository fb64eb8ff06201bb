// Search of reference §6: CQL operators, wildcards, quoting, dates, precedence, POST bodies, paging.
import type { SeedUser } from '../../../emulators/crowd/index.js';
import { enc, useEmulator } from './helpers.js';

const USERS: SeedUser[] = [
  { name: 'alice', firstName: 'Alice', lastName: 'Archer', email: 'alice@example.com', createdDate: '2024-01-10T08:00:00Z', updatedDate: '2024-05-01T10:00:00.000Z' },
  { name: 'Bob', firstName: 'Bob', lastName: 'Builder', email: 'bob@example.net', createdDate: '2024-02-10T08:00:00Z', updatedDate: '2024-05-01T11:30:00.000Z', attributes: { dept: ['eng', 'ops'] } },
  { name: 'bobby', firstName: 'Bobby', lastName: 'Tables', email: 'bobby@example.net', active: false, createdDate: '2024-03-10T08:00:00Z', updatedDate: '2024-06-15T00:00:00.000Z' },
  { name: 'carol', firstName: 'Carol', lastName: 'van Dyke', displayName: 'Carol van Dyke', email: 'carol@example.org', createdDate: '2023-12-31T23:59:59Z', updatedDate: '2023-12-31T23:59:59.000Z', attributes: { dept: ['sales'] } },
  { name: 'dave', firstName: 'Dave', lastName: 'Or', email: 'dave@example.com', createdDate: '2024-04-01T00:00:00Z', updatedDate: '2024-04-01T00:00:00.000Z' },
];

describe('Crowd emulator search', () => {
  const t = useEmulator();
  beforeEach(() => {
    t.em.seed(USERS, [
      { name: 'admins', description: 'Administrators', createdDate: '2024-01-01T00:00:00Z' },
      { name: 'Users', description: 'Everyone', active: false, createdDate: '2024-03-01T00:00:00Z' },
    ]);
  });

  const cql = (restriction: string, extra = ''): Promise<string[]> =>
    t.client.names(`search?entity-type=user&restriction=${enc(restriction)}${extra}`);

  it('answers the list shape with no-cache headers, minimal items unless expand=user', async () => {
    const r = await t.client.get('search?entity-type=user&max-results=1');
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-cache, no-store');
    expect(r.json).toEqual({ expand: 'user', users: [{ link: { rel: 'self', href: `${t.client.api}user?username=alice` }, name: 'alice' }] });
    const full = await t.client.get('search?entity-type=user&max-results=1&expand=user');
    expect(full.json.users[0]['email']).toBe('alice@example.com');
    expect(full.json.users[0].attributes.attributes).toEqual([]);
    const withAttrs = await t.client.get(`search?entity-type=user&restriction=${enc('name=bob')}&expand=user,attributes`);
    expect(withAttrs.json.users[0].attributes.attributes[0].name).toBe('dept');
  });

  it('treats a blank restriction as everything, in name order', async () => {
    expect(await cql('')).toEqual(['alice', 'Bob', 'bobby', 'carol', 'dave']);
    expect(await t.client.names('search?entity-type=user')).toHaveLength(5);
  });

  it('matches = exactly and case-insensitively, bare or quoted', async () => {
    expect(await cql('email=bob@example.net')).toEqual(['Bob']);
    expect(await cql('name = "BOB"')).toEqual(['Bob']);
    expect(await cql("lastName = 'van dyke'")).toEqual(['carol']);
    expect(await cql('displayName = "Carol van Dyke"')).toEqual(['carol']);
    expect(await cql('firstName = Bob')).toEqual(['Bob']);
  });

  it('supports * wildcards at either end of = values', async () => {
    expect(await cql('name = "bo*"')).toEqual(['Bob', 'bobby']);
    expect(await cql('email = *.net')).toEqual(['Bob', 'bobby']);
    expect(await cql('email = *example.c*')).toEqual(['alice', 'dave']);
    expect(await cql('name = "*"')).toHaveLength(5);
  });

  it('compares with < and > on strings', async () => {
    expect(await cql('name < bob')).toEqual(['alice']);
    expect(await cql('name > bobby')).toEqual(['carol', 'dave']);
  });

  it('matches booleans', async () => {
    expect(await cql('active = false')).toEqual(['bobby']);
    expect(await cql('active = TRUE')).toEqual(['alice', 'Bob', 'carol', 'dave']);
  });

  it('compares dates in every accepted format, including offsets', async () => {
    expect(await cql('updatedDate > 2024-05-01T10:00:00.000+0000')).toEqual(['Bob', 'bobby']);
    expect(await cql('updatedDate > 2024-05-01T11:00:00.000+0100')).toEqual(['Bob', 'bobby']); // 10:00Z
    expect(await cql('updatedDate > 2024-05-01T12:30:00.000+0100')).toEqual(['bobby']); // 11:30Z, strictly after
    expect(await cql('updatedDate > 2024-05-01T10:00:00')).toEqual(['Bob', 'bobby']);
    expect(await cql('updatedDate > 2024-05-01T10')).toEqual(['Bob', 'bobby']);
    expect(await cql('updatedDate > 2024-05-01')).toEqual(['alice', 'Bob', 'bobby']);
    expect(await cql('updatedDate > 2024-06')).toEqual(['bobby']);
    expect(await cql('createdDate < 2024')).toEqual(['carol']);
    expect(await cql('createdDate = 2024-04-01')).toEqual(['dave']);
    expect(await cql('createdDate > 2024-01-31 and createdDate < 2024-03-31')).toEqual(['Bob', 'bobby']);
  });

  it('sees later writes through updatedDate > last pull (incremental pull)', async () => {
    const mark = '2025-01-01T00:00:00.000+0000';
    expect(await cql(`updatedDate > ${mark}`)).toEqual([]);
    await t.client.put('user?username=carol', { name: 'carol', email: 'carol@example.org', 'first-name': 'Caro' });
    await t.client.createUser('erin');
    expect(await cql(`updatedDate > ${mark}`)).toEqual(['carol', 'erin']);
  });

  it('gives and precedence over or, and honours parentheses', async () => {
    expect(await cql('name = alice or name = bob and active = false')).toEqual(['alice']);
    expect(await cql('(name = alice or name = bob*) and active = true')).toEqual(['alice', 'Bob']);
    expect(await cql('name = alice OR (name = bob* AND active = false)')).toEqual(['alice', 'bobby']);
    expect(await cql('((email = *.net))')).toEqual(['Bob', 'bobby']);
  });

  it('treats unknown properties as custom attributes', async () => {
    expect(await cql('dept = ops')).toEqual(['Bob']);
    expect(await cql('dept = s*')).toEqual(['carol']);
  });

  it.each([
    ['name != bob'],
    ['updatedDate >= 2024-01-01'],
    ['not name = bob'],
    ['name = "unterminated'],
    ['name = bob and'],
    ['(name = bob'],
    ['name bob'],
    ['updatedDate > yesterday'],
    ['createdDate > 2024-13-01'],
    ['active > true'],
    ['name = bob name = alice'],
  ])('refuses %j with 400 ILLEGAL_ARGUMENT', async (restriction) => {
    const r = await t.client.get(`search?entity-type=user&restriction=${enc(restriction)}`);
    expect(r.status).toBe(400);
    expect(r.json.reason).toBe('ILLEGAL_ARGUMENT');
  });

  it('requires a known entity-type', async () => {
    expect((await t.client.get('search')).json).toEqual({ reason: 'ILLEGAL_ARGUMENT', message: 'entity-type query parameter required.' });
    expect((await t.client.get('search?entity-type=role')).json).toEqual({ reason: 'ILLEGAL_ARGUMENT', message: 'Unknown type: role' });
    expect((await t.client.get('search?entity-type=USER')).status).toBe(200);
  });

  it('pages by offset in name order, with -1 for all and no total', async () => {
    const pages: string[][] = [];
    for (let start = 0; ; start += 2) {
      const page = await t.client.names(`search?entity-type=user&start-index=${start}&max-results=2`);
      pages.push(page);
      if (page.length < 2) break;
    }
    expect(pages).toEqual([['alice', 'Bob'], ['bobby', 'carol'], ['dave']]);
    expect(await cql('email = *example*', '&start-index=1&max-results=2')).toEqual(['Bob', 'bobby']);
    expect(await t.client.names('search?entity-type=user&max-results=-1')).toHaveLength(5);
    expect((await t.client.get('search?entity-type=user&max-results=0')).status).toBe(400);
  });

  it('searches groups by name, description, active and dates', async () => {
    const g = (restriction: string): Promise<string[]> =>
      t.client.names(`search?entity-type=group&restriction=${enc(restriction)}`);
    expect(await g('')).toEqual(['admins', 'Users']);
    expect(await g('description = "every*"')).toEqual(['Users']);
    expect(await g('active = true')).toEqual(['admins']);
    expect(await g('createdDate > 2024-02-01')).toEqual(['Users']);
    const r = await t.client.get('search?entity-type=group&expand=group');
    expect(r.json.expand).toBe('group');
    expect(r.json.groups[0]).toMatchObject({ name: 'admins', description: 'Administrators', type: 'GROUP', active: true });
  });

  it('accepts POST restriction bodies in JSON', async () => {
    const body = {
      'restriction-type': 'boolean-search-restriction',
      'boolean-logic': 'and',
      restrictions: [
        { 'restriction-type': 'property-search-restriction', property: { name: 'active', type: 'BOOLEAN' }, 'match-mode': 'EXACTLY_MATCHES', value: 'true' },
        { 'restriction-type': 'property-search-restriction', property: { name: 'updatedDate', type: 'DATE' }, 'match-mode': 'GREATER_THAN_OR_EQUAL', value: '2024-05-01T10:00:00.000+0000' },
      ],
    };
    const r = await t.client.post('search?entity-type=user', body);
    expect(r.status).toBe(200);
    expect(r.json.users.map((u: { name: string }) => u.name)).toEqual(['alice', 'Bob']);
    const all = await t.client.post('search?entity-type=user&max-results=2', { 'restriction-type': 'null-search-restriction' });
    expect(all.json.users.map((u: { name: string }) => u.name)).toEqual(['alice', 'Bob']);
    const modes = async (mode: string, value: string): Promise<string[]> =>
      (await t.client.post('search?entity-type=user', { 'restriction-type': 'property-search-restriction', property: { name: 'name', type: 'STRING' }, 'match-mode': mode, value })).json.users.map((u: { name: string }) => u.name);
    expect(await modes('starts_with', 'BO')).toEqual(['Bob', 'bobby']);
    expect(await modes('ENDS_WITH', 'ol')).toEqual(['carol']);
    expect(await modes('CONTAINS', 'l')).toEqual(['alice', 'carol']);
    expect(await modes('LESS_THAN_OR_EQUAL', 'bob')).toEqual(['alice', 'Bob']);
  });

  it('accepts POST restriction bodies in XML (python-crowd style)', async () => {
    const body =
      '<property-search-restriction><property><name>email</name><type>STRING</type></property>' +
      '<match-mode>EXACTLY_MATCHES</match-mode><value>bob@example.net</value></property-search-restriction>';
    const r = await t.client.post('search?entity-type=user', body, { contentType: 'application/xml' });
    expect(r.json.users.map((u: { name: string }) => u.name)).toEqual(['Bob']);
    const or =
      '<boolean-search-restriction boolean-logic="or"><restrictions>' +
      '<property-search-restriction><property><name>name</name><type>STRING</type></property><match-mode>EXACTLY_MATCHES</match-mode><value>dave</value></property-search-restriction>' +
      '<property-search-restriction><property><name>active</name><type>BOOLEAN</type></property><match-mode>EXACTLY_MATCHES</match-mode><value>false</value></property-search-restriction>' +
      '</restrictions></boolean-search-restriction>';
    const r2 = await t.client.post('search?entity-type=user', or, { contentType: 'application/xml', accept: 'application/xml' });
    expect(r2.text).toContain('<users expand="user"><user name="bobby">');
    expect(r2.text).toContain('<user name="dave">');
  });

  it('refuses bad POST bodies', async () => {
    const bad = async (body: unknown) => t.client.post('search?entity-type=user', body);
    expect((await bad({ property: { name: 'x', type: 'STRING' } })).status).toBe(400); // no restriction-type
    const mode = await bad({ 'restriction-type': 'property-search-restriction', property: { name: 'name', type: 'STRING' }, 'match-mode': 'LIKE', value: 'x' });
    expect(mode.json.reason).toBe('ILLEGAL_ARGUMENT');
    const date = await bad({ 'restriction-type': 'property-search-restriction', property: { name: 'updatedDate', type: 'DATE' }, 'match-mode': 'GREATER_THAN', value: '2024-05-01' });
    expect(date.json).toEqual({ reason: 'ILLEGAL_ARGUMENT', message: 'Error parsing time: 2024-05-01' });
  });
});
