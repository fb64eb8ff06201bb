import { PageIterator, type Client } from '@microsoft/microsoft-graph-client';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, graphClient, graphError, rawGraph, startTestEmulator } from './helpers.js';

let emu: EntraEmulator;
let client: Client;
const eventual = { ConsistencyLevel: 'eventual' };

beforeAll(async () => {
  emu = await startTestEmulator();
  client = graphClient(emu);
  emu.seed({
    users: [
      { userPrincipalName: `ann@${DOMAIN}`, displayName: 'Ann Archer', mail: 'ann@example.org', employeeId: 'E001', accountEnabled: true, onPremisesImmutableId: 'imm-ann', onPremisesExtensionAttributes: { extensionAttribute1: 'red' }, companyName: 'Contoso' },
      { userPrincipalName: `bob@${DOMAIN}`, displayName: 'Bob Baker', mail: 'bob@example.org', employeeId: 'E002', accountEnabled: false, onPremisesExtensionAttributes: { extensionAttribute1: 'blue' } },
      { userPrincipalName: `carol.x@${DOMAIN}`, displayName: "Carol O'Hara", mail: 'carol@other.net', employeeId: 'E003' },
    ],
  });
});
afterAll(() => emu.close());

const upns = (res: { value: { userPrincipalName: string }[] }): string[] => res.value.map((u) => u.userPrincipalName.split('@')[0]!).sort();

describe('$filter: default queries', () => {
  test.each([
    [`userPrincipalName eq 'ANN@${DOMAIN}'`, ['ann']],
    ["startsWith(displayName,'b')", ['bob']],
    ["mail in ('ann@example.org','carol@other.net')", ['ann', 'carol.x']],
    ["employeeId ge 'E002'", ['bob', 'carol.x']],
    ['accountEnabled eq false', ['bob']],
    ["displayName eq 'Carol O''Hara'", ['carol.x']],
    ["proxyAddresses/any(p:startsWith(p,'smtp:bob@'))", ['bob']],
    ["startsWith(displayName,'A') or startsWith(displayName,'C')", ['ann', 'carol.x']],
  ])('%s', async (filter, expected) => {
    expect(upns(await client.api('/users').filter(filter).get())).toEqual(expected);
  });

  test("'+' in the query is a space, %27 a quote (Graph's decoding)", async () => {
    const res = await rawGraph(emu, 'GET', "/users?$filter=displayName+eq+%27Bob+Baker%27");
    expect(upns(res.body as never)).toEqual(['bob']);
  });
});

describe('$filter: advanced queries need ConsistencyLevel: eventual and $count=true', () => {
  test.each([
    ["onPremisesImmutableId eq 'imm-ann'", ['ann']],
    ["onPremisesExtensionAttributes/extensionAttribute1 eq 'blue'", ['bob']],
    ["endsWith(mail,'@example.org')", ['ann', 'bob']],
    ["userPrincipalName ne 'ann@" + DOMAIN + "'", ['bob', 'carol.x']],
    ["not(startsWith(displayName,'A'))", ['bob', 'carol.x']],
    ["companyName eq 'Contoso'", ['ann']],
    ['employeeId eq null', []],
  ])('%s', async (filter, expected) => {
    const denied = await graphError(client.api('/users').filter(filter).get());
    expect(denied.statusCode).toBe(400);
    expect(denied.code).toBe('Request_UnsupportedQuery');
    // The header alone is not enough either.
    expect((await graphError(client.api('/users').header('ConsistencyLevel', 'eventual').filter(filter).get())).code).toBe('Request_UnsupportedQuery');
    const res = await client.api('/users').headers(eventual).filter(filter).count(true).get();
    expect(upns(res)).toEqual(expected);
    expect(res['@odata.count']).toBe(expected.length);
  });

  test('$count=true without the header is silently ignored', async () => {
    const res = await client.api('/users').count(true).get();
    expect(res['@odata.count']).toBeUndefined();
    expect(res.value).toHaveLength(3);
  });

  test('/users/$count needs the header and answers text/plain', async () => {
    expect((await graphError(client.api('/users/$count').get())).message).toBe('$count is not currently supported.');
    const res = await rawGraph(emu, 'GET', "/users/$count?$filter=startsWith(displayName,'b')", { headers: eventual });
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.body).toBe('1');
  });

  test('unsupported filters: unknown property, non-indexed property, unsupported operator', async () => {
    expect((await graphError(client.api('/users').filter("shoeSize eq '9'").get())).message).toMatch(/Could not find a property named 'shoeSize'/);
    expect((await graphError(client.api('/users').headers(eventual).count(true).filter("aboutMe eq 'x'").get())).message).toBe('The request uses a filter property that is not indexed');
    expect((await graphError(client.api('/users').headers(eventual).count(true).filter("startsWith(onPremisesImmutableId,'i')").get())).message).toBe('Unsupported Query.');
  });

  test('$search needs the header; $orderby with $filter is advanced', async () => {
    expect((await graphError(client.api('/users').search('"displayName:bak"').get())).message).toMatch(/ConsistencyLevel: eventual/);
    expect(upns(await client.api('/users').headers(eventual).search('"displayName:bak"').get())).toEqual(['bob']);
    const sorted = await client.api('/users').orderby('displayName desc').get();
    expect(sorted.value.map((u: { displayName: string }) => u.displayName)).toEqual(["Carol O'Hara", 'Bob Baker', 'Ann Archer']);
    expect((await graphError(client.api('/users').orderby('displayName').filter("startsWith(mail,'a')").get())).code).toBe('Request_UnsupportedQuery');
  });
});

describe('paging', () => {
  let big: EntraEmulator;
  let bigClient: Client;
  beforeAll(async () => {
    big = await startTestEmulator();
    big.seed({ generateUsers: { count: 2_500 } });
    bigClient = graphClient(big);
  });
  afterAll(() => big.close());

  test('$top is 1..999; no $skip', async () => {
    expect((await graphError(bigClient.api('/users').top(1000).get())).message).toBe("Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.");
    expect((await graphError(bigClient.api('/users').top(0).get())).statusCode).toBe(400);
    expect((await graphError(bigClient.api('/users').skip(10).get())).statusCode).toBe(400);
    expect((await bigClient.api('/users').get()).value).toHaveLength(100);
  });

  test('absolute https nextLinks carry the query; PageIterator walks every user once', async () => {
    const first = await bigClient.api('/users').top(999).select('id,userPrincipalName').get();
    const next = new URL(first['@odata.nextLink']);
    expect(`${next.protocol}//${next.host}/`).toBe(big.info.graphBaseUrl);
    expect(next.pathname).toBe('/v1.0/users');
    expect([...next.searchParams.keys()]).toEqual(['$skiptoken']);
    const seen = new Set<string>();
    let pages = 0;
    const it = new PageIterator(bigClient, first, (u: { id: string; userPrincipalName: string; displayName?: string }) => {
      expect(u.displayName).toBeUndefined();
      seen.add(u.id);
      return true;
    });
    const before = big.stats().graphRequests;
    await it.iterate();
    pages = big.stats().graphRequests - before + 1;
    expect(seen.size).toBe(2_500);
    expect(pages).toBe(3);
    expect(it.getDeltaLink()).toBeUndefined();
  });

  test('advanced queries page without re-sending the header', async () => {
    const first = await bigClient.api('/users').headers(eventual).count(true).filter("endsWith(userPrincipalName,'0@" + DOMAIN + "')").top(100).get();
    expect(first['@odata.count']).toBe(250);
    const second = await bigClient.api(first['@odata.nextLink']).get();
    expect(second.value).toHaveLength(100);
  });

  test('a garbled skiptoken → 400 Directory_ExpiredPageToken', async () => {
    const err = await graphError(bigClient.api('/users?$skiptoken=not-a-token!').get());
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('Directory_ExpiredPageToken');
  });
});
