// The Graph shapes the worker reads: what each schema lets through (extra properties kept,
// absent values as null) and what it refuses, and the defaults a GraphUser gets for values
// that were not selected.
import {
  BASE_SELECT,
  deltaItemSchema,
  directoryObjectSchema,
  graphUserSchema,
  organizationSchema,
  pageSchema,
  toGraphUser,
} from '../../../workers/entra/entities.js';

const ok = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) => [value, schema.safeParse(value).success];

describe('toGraphUser', () => {
  it('keeps the id, UPN and flags Graph sent, and every selected value', () => {
    const parsed = graphUserSchema.parse({ id: 'u-1', userPrincipalName: 'a@contoso.com', accountEnabled: false, onPremisesSyncEnabled: true, department: 'Ops' });
    expect(toGraphUser(parsed)).toEqual({
      id: 'u-1',
      userPrincipalName: 'a@contoso.com',
      accountEnabled: false,
      onPremisesSyncEnabled: true,
      values: { id: 'u-1', userPrincipalName: 'a@contoso.com', accountEnabled: false, onPremisesSyncEnabled: true, department: 'Ops' },
    });
  });

  it('reads an unselected or null accountEnabled as enabled, as Graph defaults it', () => {
    expect(toGraphUser(graphUserSchema.parse({ id: 'u-1' })).accountEnabled).toBe(true);
    expect(toGraphUser(graphUserSchema.parse({ id: 'u-1', accountEnabled: null })).accountEnabled).toBe(true);
    expect(toGraphUser(graphUserSchema.parse({ id: 'u-1', accountEnabled: true })).accountEnabled).toBe(true);
  });

  it('counts a user as synced from on-premises only when Graph says true', () => {
    expect(toGraphUser(graphUserSchema.parse({ id: 'u-1' })).onPremisesSyncEnabled).toBe(false);
    expect(toGraphUser(graphUserSchema.parse({ id: 'u-1', onPremisesSyncEnabled: null })).onPremisesSyncEnabled).toBe(false);
    expect(toGraphUser(graphUserSchema.parse({ id: 'u-1', onPremisesSyncEnabled: false })).onPremisesSyncEnabled).toBe(false);
  });

  it('gives a user without a UPN an empty one', () => {
    expect(toGraphUser(graphUserSchema.parse({ id: 'u-1' }))).toEqual({ id: 'u-1', userPrincipalName: '', accountEnabled: true, onPremisesSyncEnabled: false, values: { id: 'u-1' } });
    expect(toGraphUser(graphUserSchema.parse({ id: 'u-1', userPrincipalName: null })).userPrincipalName).toBe('');
  });
});

describe('Graph schemas', () => {
  it('a user needs a non-empty id and typed flags', () => {
    expect([
      ok(graphUserSchema, { id: 'u' }),
      ok(graphUserSchema, { id: 'u', userPrincipalName: null, accountEnabled: null, onPremisesSyncEnabled: null }),
      ok(graphUserSchema, {}),
      ok(graphUserSchema, { id: '' }),
      ok(graphUserSchema, { id: 7 }),
      ok(graphUserSchema, { id: 'u', userPrincipalName: 5 }),
      ok(graphUserSchema, { id: 'u', accountEnabled: 'true' }),
      ok(graphUserSchema, { id: 'u', onPremisesSyncEnabled: 1 }),
      ok(graphUserSchema, null),
    ]).toEqual([
      [{ id: 'u' }, true],
      [{ id: 'u', userPrincipalName: null, accountEnabled: null, onPremisesSyncEnabled: null }, true],
      [{}, false],
      [{ id: '' }, false],
      [{ id: 7 }, false],
      [{ id: 'u', userPrincipalName: 5 }, false],
      [{ id: 'u', accountEnabled: 'true' }, false],
      [{ id: 'u', onPremisesSyncEnabled: 1 }, false],
      [null, false],
    ]);
  });

  it('a page needs a value list; its links, when there, are strings; other properties stay', () => {
    expect(pageSchema.parse({ value: [1], '@odata.nextLink': 'n', '@odata.deltaLink': 'd', '@odata.context': 'c' })).toEqual({
      value: [1],
      '@odata.nextLink': 'n',
      '@odata.deltaLink': 'd',
      '@odata.context': 'c',
    });
    expect([ok(pageSchema, {}), ok(pageSchema, { value: {} }), ok(pageSchema, { value: [], '@odata.nextLink': 1 }), ok(pageSchema, { value: [], '@odata.deltaLink': null })]).toEqual([
      [{}, false],
      [{ value: {} }, false],
      [{ value: [], '@odata.nextLink': 1 }, false],
      [{ value: [], '@odata.deltaLink': null }, false],
    ]);
  });

  it('a directory object needs an id; its type, name and group types are optional', () => {
    expect(directoryObjectSchema.parse({ id: 'g', '@odata.type': '#microsoft.graph.group', displayName: null, groupTypes: null, mail: 'x' })).toEqual({
      id: 'g',
      '@odata.type': '#microsoft.graph.group',
      displayName: null,
      groupTypes: null,
      mail: 'x',
    });
    expect([
      ok(directoryObjectSchema, { id: '' }),
      ok(directoryObjectSchema, { id: 'g', '@odata.type': 3 }),
      ok(directoryObjectSchema, { id: 'g', displayName: 3 }),
      ok(directoryObjectSchema, { id: 'g', groupTypes: 'Unified' }),
      ok(directoryObjectSchema, { id: 'g', groupTypes: [1] }),
    ]).toEqual([
      [{ id: '' }, false],
      [{ id: 'g', '@odata.type': 3 }, false],
      [{ id: 'g', displayName: 3 }, false],
      [{ id: 'g', groupTypes: 'Unified' }, false],
      [{ id: 'g', groupTypes: [1] }, false],
    ]);
  });

  it('an organization lists ids with optional verified domains', () => {
    const org = { value: [{ id: 'o', verifiedDomains: [{ name: 'contoso.com', isDefault: true, type: 'Managed' }, { name: 'b.com', isDefault: null }] }, { id: 'p', verifiedDomains: null }] };
    expect(organizationSchema.parse(org)).toEqual(org);
    expect([
      ok(organizationSchema, {}),
      ok(organizationSchema, { value: [{}] }),
      ok(organizationSchema, { value: [{ id: 'o', verifiedDomains: [{}] }] }),
      ok(organizationSchema, { value: [{ id: 'o', verifiedDomains: [{ name: 'a', isDefault: 'yes' }] }] }),
    ]).toEqual([
      [{}, false],
      [{ value: [{}] }, false],
      [{ value: [{ id: 'o', verifiedDomains: [{}] }] }, false],
      [{ value: [{ id: 'o', verifiedDomains: [{ name: 'a', isDefault: 'yes' }] }] }, false],
    ]);
  });

  it('a delta item is a user or an id with a removal reason', () => {
    expect(deltaItemSchema.parse({ id: 'u', '@removed': { reason: 'changed' } })).toEqual({ id: 'u', '@removed': { reason: 'changed' } });
    expect(deltaItemSchema.parse({ id: 'u', displayName: 'A' })).toEqual({ id: 'u', displayName: 'A' });
    expect([ok(deltaItemSchema, { id: '' }), ok(deltaItemSchema, { id: 'u', '@removed': {} }), ok(deltaItemSchema, { id: 'u', '@removed': 'deleted' })]).toEqual([
      [{ id: '' }, false],
      [{ id: 'u', '@removed': {} }, false],
      [{ id: 'u', '@removed': 'deleted' }, false],
    ]);
  });

  it('every user read selects the properties the app shape is made of', () => {
    expect(BASE_SELECT).toEqual(['id', 'userPrincipalName', 'displayName', 'givenName', 'surname', 'mail', 'accountEnabled', 'onPremisesSyncEnabled']);
  });
});
