// What a write carries: an update PATCHes only the managed properties whose Graph value
// differs (extension attributes one by one), a create leaves out what there is nothing to
// clear on, and the audit log names each written property once.
import type { GraphUser } from '../../../workers/entra/entities.js';
import { createBody, diff, keysAre, writtenProperties } from '../../../workers/entra/changes.js';
import type { GraphUserBody } from '../../../workers/entra/mapping.js';

const user = (values: Record<string, unknown>): GraphUser => ({ id: 'u-1', userPrincipalName: 'alice@contoso.com', accountEnabled: true, onPremisesSyncEnabled: false, values });
const body = (extra: Record<string, unknown> = {}): GraphUserBody => ({ userPrincipalName: 'alice@contoso.com', displayName: 'Alice', accountEnabled: true, ...extra });
const current = { userPrincipalName: 'alice@contoso.com', displayName: 'Alice', accountEnabled: true };

describe('diff', () => {
  it('is empty when Graph already holds every managed value', () => {
    expect(diff(user({ ...current, department: 'Ops', jobTitle: 'Unmanaged' }), body({ department: 'Ops' }))).toEqual({});
  });

  it('carries only the properties that differ, with the desired value', () => {
    const have = user({ ...current, givenName: 'Al', surname: 'Liddell', mail: 'a@x.com', department: 'Ops' });
    expect(diff(have, body({ givenName: 'Alice', surname: 'Liddell', mail: 'b@x.com', department: 'Ops', accountEnabled: false }))).toEqual({
      givenName: 'Alice',
      mail: 'b@x.com',
      accountEnabled: false,
    });
  });

  it('sets a property Graph does not have, and clears one it has', () => {
    expect(diff(user({ ...current, jobTitle: 'Boss' }), body({ department: 'Ops', jobTitle: null }))).toEqual({ department: 'Ops', jobTitle: null });
  });

  it('takes an absent, null, empty or empty-list value as the same nothing', () => {
    expect(diff(user({ ...current, jobTitle: '', department: null, businessPhones: [] }), body({ jobTitle: null, department: '', businessPhones: [], mobilePhone: null }))).toEqual({});
  });

  it('compares UPNs without case and dates as instants, through the mapping', () => {
    expect(diff(user({ ...current, userPrincipalName: 'ALICE@Contoso.com', employeeHireDate: '2024-01-02T00:00:00Z' }), body({ employeeHireDate: '2024-01-02T00:00:00.000Z' }))).toEqual({});
    expect(diff(user({ ...current, employeeHireDate: '2024-01-02T00:00:00Z' }), body({ userPrincipalName: 'alice2@contoso.com', employeeHireDate: '2024-01-03T00:00:00Z' }))).toEqual({
      userPrincipalName: 'alice2@contoso.com',
      employeeHireDate: '2024-01-03T00:00:00Z',
    });
  });

  it('compares lists whole', () => {
    expect(diff(user({ ...current, businessPhones: ['1', '2'] }), body({ businessPhones: ['1', '2'] }))).toEqual({});
    expect(diff(user({ ...current, businessPhones: ['1', '2'] }), body({ businessPhones: ['2', '1'] }))).toEqual({ businessPhones: ['2', '1'] });
  });

  it('leaves the skipped (create-only) properties alone', () => {
    expect(diff(user({ ...current, displayName: 'Someone Else' }), body({ department: 'Ops' }), ['displayName'])).toEqual({ department: 'Ops' });
    expect(diff(user({ ...current, displayName: 'Someone Else' }), body())).toEqual({ displayName: 'Alice' });
  });

  it('compares extension attributes one by one and sends only those that differ', () => {
    const have = user({ ...current, onPremisesExtensionAttributes: { extensionAttribute1: 'a', extensionAttribute2: 'b', extensionAttribute3: null } });
    expect(diff(have, body({ onPremisesExtensionAttributes: { extensionAttribute1: 'a', extensionAttribute2: 'c', extensionAttribute3: null, extensionAttribute4: 'd' } }))).toEqual({
      onPremisesExtensionAttributes: { extensionAttribute2: 'c', extensionAttribute4: 'd' },
    });
    expect(diff(have, body({ onPremisesExtensionAttributes: { extensionAttribute1: 'a', extensionAttribute3: '' } }))).toEqual({});
  });

  it('compares extension attributes against nothing when Graph has no object for them', () => {
    for (const missing of [undefined, null, 'x']) {
      expect(diff(user({ ...current, onPremisesExtensionAttributes: missing }), body({ onPremisesExtensionAttributes: { extensionAttribute1: 'a', extensionAttribute2: null } }))).toEqual({
        onPremisesExtensionAttributes: { extensionAttribute1: 'a' },
      });
    }
  });

  it('compares a non-object extension attributes value as a whole', () => {
    expect(diff(user({ ...current, onPremisesExtensionAttributes: { extensionAttribute1: 'a' } }), body({ onPremisesExtensionAttributes: null }))).toEqual({ onPremisesExtensionAttributes: null });
    expect(diff(user({ ...current, onPremisesExtensionAttributes: null }), body({ onPremisesExtensionAttributes: null }))).toEqual({});
  });
});

describe('createBody', () => {
  it('keeps every property that has a value, false and non-empty lists included', () => {
    expect(createBody(body({ accountEnabled: false, department: 'Ops', businessPhones: ['1'], otherMails: ['a@x.com', 'b@x.com'] }))).toEqual({
      userPrincipalName: 'alice@contoso.com',
      displayName: 'Alice',
      accountEnabled: false,
      department: 'Ops',
      businessPhones: ['1'],
      otherMails: ['a@x.com', 'b@x.com'],
    });
  });

  it('leaves out nulls, undefined and empty lists: a new user has nothing to clear', () => {
    const out = createBody(body({ givenName: null, surname: undefined, businessPhones: [], jobTitle: '' }));
    expect(out).toEqual({ ...current, jobTitle: '' });
    expect(Object.keys(out)).toEqual(['userPrincipalName', 'displayName', 'accountEnabled', 'jobTitle']);
  });

  it('keeps another object property whole', () => {
    expect(createBody(body({ employeeOrgData: { division: '', costCenter: null } }))).toEqual({ ...current, employeeOrgData: { division: '', costCenter: null } });
  });

  it('keeps only the extension attributes with a value, and none when none has', () => {
    const out = createBody(body({ onPremisesExtensionAttributes: { extensionAttribute1: 'a', extensionAttribute2: null, extensionAttribute3: '', extensionAttribute4: undefined, extensionAttribute5: 'e' } }));
    expect(out).toEqual({ ...current, onPremisesExtensionAttributes: { extensionAttribute1: 'a', extensionAttribute5: 'e' } });
    expect(Object.keys(out.onPremisesExtensionAttributes as object)).toEqual(['extensionAttribute1', 'extensionAttribute5']);
    expect(createBody(body({ onPremisesExtensionAttributes: { extensionAttribute4: undefined } }))).toEqual(current);
    expect(createBody(body({ onPremisesExtensionAttributes: { extensionAttribute1: null, extensionAttribute2: '' } }))).toEqual(current);
    expect(createBody(body({ onPremisesExtensionAttributes: {} }))).toEqual(current);
  });

  it('does not change the body it is given', () => {
    const b = body({ givenName: null, onPremisesExtensionAttributes: { extensionAttribute1: null, extensionAttribute2: 'b' } });
    const copy = structuredClone(b);
    createBody(b);
    expect(b).toEqual(copy);
  });
});

describe('writtenProperties', () => {
  it('names each property, and extension attributes by their own names', () => {
    expect(writtenProperties({ displayName: 'A', givenName: null, onPremisesExtensionAttributes: { extensionAttribute2: 'b', extensionAttribute7: null }, department: 'Ops' })).toEqual([
      'displayName',
      'givenName',
      'extensionAttribute2',
      'extensionAttribute7',
      'department',
    ]);
  });

  it('names a cleared extension attributes object as itself', () => {
    expect(writtenProperties({ onPremisesExtensionAttributes: null })).toEqual(['onPremisesExtensionAttributes']);
    expect(writtenProperties({})).toEqual([]);
  });

  it('expands only the extension attributes object', () => {
    expect(writtenProperties({ passwordProfile: { password: 'x' } })).toEqual(['passwordProfile']);
  });
});

describe('keysAre', () => {
  it('holds for exactly the given keys', () => {
    expect(keysAre({ accountEnabled: false }, 'accountEnabled')).toBe(true);
    expect(keysAre({ a: 1, b: 2 }, 'b', 'a')).toBe(true);
    expect(keysAre({})).toBe(true);
  });

  it('fails on a missing, an extra or a different key', () => {
    expect(keysAre({}, 'accountEnabled')).toBe(false);
    expect(keysAre({ accountEnabled: false, displayName: 'A' }, 'accountEnabled')).toBe(false);
    expect(keysAre({ displayName: 'A' }, 'accountEnabled')).toBe(false);
    expect(keysAre({ a: 1, c: 2 }, 'a', 'b')).toBe(false);
  });
});
