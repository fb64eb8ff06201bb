// The app snapshot → Graph user mapping, without the emulator: what each snapshot field turns
// into, what is left out (omitted = Graph's value stays), what is cleared, and how a custom
// mapping module bends it. Values are asserted whole, since Graph acts on every property sent.
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RemoteUser, UserSnapshot } from '../../../shared/jobs.js';
import type { GraphUser } from '../../../workers/entra/entities.js';
import {
  EXTENSION_ATTRIBUTES,
  EntraMapping,
  defaultUserPrincipalName,
  hashDesired,
  isMappableProperty,
  loadMappingModule,
  mailNicknameFor,
  sameValue,
  type EntraMappingModule,
  type GraphUserBody,
} from '../../../workers/entra/mapping.js';
import { failure, tempModules } from '../../helpers/mapping-modules.js';

const DOMAIN = { domain: 'contoso.com' };
const snap = (over: Partial<UserSnapshot> = {}): UserSnapshot => ({ id: '42', username: 'alice', email: 'alice@example.com', active: true, ...over });
const base = { userPrincipalName: 'alice@contoso.com', displayName: 'alice', mail: 'alice@example.com', accountEnabled: true };
const HEX = '0123456789abcdef0123456789abcdef';
const EXT = `extension_${HEX}_costCentre`;
const STRING_PROPERTIES = [
  'ageGroup', 'city', 'companyName', 'consentProvidedForMinor', 'country', 'department', 'employeeHireDate', 'employeeId',
  'employeeLeaveDateTime', 'employeeType', 'faxNumber', 'jobTitle', 'mobilePhone', 'officeLocation', 'onPremisesImmutableId',
  'postalCode', 'preferredDataLocation', 'preferredLanguage', 'state', 'streetAddress', 'usageLocation',
];
const ALL_EXTENSION_ATTRIBUTES = Array.from({ length: 15 }, (_, i) => `extensionAttribute${i + 1}`);
/** [class, message] of a rejection, or undefined when it resolved. */
const graphUser = (values: Record<string, unknown>): GraphUser => ({
  id: 'u-1',
  userPrincipalName: 'alice@contoso.com',
  accountEnabled: true,
  onPremisesSyncEnabled: false,
  values: { id: 'u-1', userPrincipalName: 'alice@contoso.com', accountEnabled: true, ...values },
});

describe('the default UPN rule', () => {
  it('keeps the characters Entra allows and replaces or strips the rest', () => {
    const cases: [string, string][] = [
      ["o'brien!#^~-_.x9Z", "o'brien!#^~-_.x9Z"],
      ['a b+c&d%e/f\\g@h', 'a_b_c_d_e_f_g_h'],
      ['ÀÉÎõü', 'AEIou'],
      // Compatibility forms decompose (NFKD); what has no ASCII base is replaced per UTF-16 unit.
      ['ﬁ①', 'fi1'],
      ['ßø😀', '____'],
      ['a.b', 'a.b'],
      ['a...b', 'a.b'],
      ['.a.', 'a'],
      ['...', 'user'],
      ['x'.repeat(64), 'x'.repeat(64)],
      ['x'.repeat(65), 'x'.repeat(64)],
      // Cut first, then dots trimmed: a cut that ends on a dot must not leave it at the end.
      [`${'x'.repeat(63)}.y`, 'x'.repeat(63)],
      [`.${'x'.repeat(70)}`, 'x'.repeat(63)],
    ];
    for (const [username, local] of cases) expect([username, defaultUserPrincipalName(username, 'contoso.com')]).toEqual([username, `${local}@contoso.com`]);
  });

  it('appends the domain as given', () => {
    expect(defaultUserPrincipalName('Alice', 'Contoso.onmicrosoft.com')).toBe('Alice@Contoso.onmicrosoft.com');
  });
});

describe('the mail nickname', () => {
  it('is the UPN local part with what mailNickname refuses replaced, at most 64 characters', () => {
    const cases: [string, string][] = [
      ['alice@contoso.com', 'alice'],
      ['alice', 'alice'],
      ['a@b@contoso.com', 'a_b'],
      ['@contoso.com', 'user'],
      ['a b(c)d\\e[f]g"h;i:j<k>l,m@x.com', 'a_b_c_d_e_f_g_h_i_j_k_l_m'],
      ["zoë\x7f~!#$%&'*+-/=?^_`{|}.@x.com", "zo__~!#$%&'*+-/=?^_`{|}."],
      [`${'n'.repeat(64)}@x.com`, 'n'.repeat(64)],
      [`${'n'.repeat(65)}@x.com`, 'n'.repeat(64)],
    ];
    for (const [upn, nickname] of cases) expect([upn, mailNicknameFor(upn)]).toEqual([upn, nickname]);
  });
});

describe('mappable properties', () => {
  it('are the writable string and collection properties, extensionAttribute1–15 and directory extensions', () => {
    const yes = [...STRING_PROPERTIES, 'businessPhones', 'otherMails', ...ALL_EXTENSION_ATTRIBUTES, EXT, `EXTENSION_${HEX.toUpperCase()}_Team`, `extension_${HEX}_a_b1`];
    const no = [
      '', 'displayName', 'givenName', 'surname', 'mail', 'userPrincipalName', 'accountEnabled', 'mailNickname', 'passwordProfile', 'id',
      'userType', 'showInAddressList', EXTENSION_ATTRIBUTES, 'Department',
      'extensionAttribute0', 'extensionAttribute16', 'extensionAttribute01', 'extensionAttribute100', 'extensionAttribute', 'ExtensionAttribute1',
      'extensionAttribute1x', 'xextensionAttribute1', `extension_${HEX.slice(1)}_x`, `extension_${HEX}0_x`, `extension_${HEX}_`,
      `extension_${HEX}_a-b`, `xextension_${HEX}_x`, `extension_${HEX.slice(1)}g_x`,
    ];
    const expected = Object.fromEntries([...yes.map((n) => [n, true]), ...no.map((n) => [n, false])]);
    expect(Object.fromEntries([...yes, ...no].map((n) => [n, isMappableProperty(n)]))).toEqual(expected);
  });
});

describe('comparing Graph values with desired ones', () => {
  it('treats null, undefined, "" and [] alike and compares the rest exactly', () => {
    const cases: [string, unknown, unknown, boolean][] = [
      ['department', undefined, null, true],
      ['department', '', null, true],
      ['department', null, '', true],
      ['businessPhones', null, [], true],
      ['businessPhones', [], '', true],
      ['businessPhones', undefined, [], true],
      ['department', '', 'x', false],
      ['department', 'x', undefined, false],
      ['department', 'Sales', 'sales', false],
      ['displayName', 'Ann Lee', 'ann lee', false],
      ['extensionAttribute1', 'X', 'x', false],
      ['businessPhones', ['1'], [], false],
      ['businessPhones', ['1'], ['1'], true],
      ['businessPhones', ['1'], '1', false],
      ['otherMails', ['a@x.com', 'b@x.com'], ['b@x.com', 'a@x.com'], false],
      ['accountEnabled', false, false, true],
      ['accountEnabled', true, false, false],
      ['accountEnabled', null, false, false],
      ['accountEnabled', undefined, true, false],
    ];
    for (const [p, current, desired, same] of cases) expect([p, current, desired, sameValue(p, current, desired)]).toEqual([p, current, desired, same]);
  });

  it('ignores case only in the UPN and compares dates as instants only for date properties', () => {
    const cases: [string, unknown, unknown, boolean][] = [
      ['userPrincipalName', 'alice@CONTOSO.com', 'ALICE@contoso.COM', true],
      ['userPrincipalName', 'ALICE@contoso.com', 'alice@contoso.com', true],
      ['userPrincipalName', 'alice@contoso.com', 'alicia@contoso.com', false],
      ['userPrincipalName', null, 'alice@contoso.com', false],
      ['employeeLeaveDateTime', '2025-03-01T12:00:00Z', '2025-03-01T13:00:00+01:00', true],
      ['employeeLeaveDateTime', '2025-03-01T12:00:00Z', '2025-03-01T12:00:01Z', false],
      ['employeeHireDate', '2024-01-15T00:00:00Z', '2024-01-16', false],
      ['employeeHireDate', null, '2024-01-16', false],
      ['department', '2024-01-15T00:00:00Z', '2024-01-15', false],
    ];
    for (const [p, current, desired, same] of cases) expect([p, current, desired, sameValue(p, current, desired)]).toEqual([p, current, desired, same]);
  });
});

describe('the desired Graph user', () => {
  it('maps names, clears and omissions by the omitted-field contract', async () => {
    const m = new EntraMapping();
    // [snapshot fields, body beyond `base`, createOnly]
    const cases: [Partial<UserSnapshot>, Record<string, unknown>, string[]][] = [
      // Omitted names stay as Graph has them; the required displayName is a create-only default.
      [{}, {}, ['displayName']],
      [{ firstName: ' Ann ', lastName: ' Lee ' }, { displayName: 'Ann Lee', givenName: 'Ann', surname: 'Lee' }, ['displayName']],
      [{ firstName: 'Ann' }, { displayName: 'Ann', givenName: 'Ann' }, ['displayName']],
      [{ lastName: 'Lee' }, { displayName: 'Lee', surname: 'Lee' }, ['displayName']],
      // Cleared names are PATCHed to null; a cleared displayName takes the default on updates too.
      [{ firstName: null, lastName: '  ', displayName: '' }, { givenName: null, surname: null }, []],
      [{ firstName: '', lastName: 'Lee', displayName: null }, { displayName: 'Lee', givenName: null, surname: 'Lee' }, []],
      [{ firstName: 'Ann', lastName: 'Lee', displayName: ' The Ann ' }, { displayName: 'The Ann', givenName: 'Ann', surname: 'Lee' }, []],
      // Given, even when equal to the default, it is the app's value and managed on updates.
      [{ firstName: 'Ann', lastName: 'Lee', displayName: 'Ann Lee' }, { displayName: 'Ann Lee', givenName: 'Ann', surname: 'Lee' }, []],
      [{ active: false }, { accountEnabled: false }, ['displayName']],
    ];
    for (const [fields, body, createOnly] of cases) {
      const desired = await m.toEntra(snap(fields), DOMAIN);
      expect([fields, desired]).toEqual([fields, { body: { ...base, ...body }, createOnly, mailNickname: 'alice', groups: undefined, hash: hashDesired({ ...base, ...body }, undefined) }]);
    }
  });

  it('derives the UPN and nickname from the username, and dedupes groups ignoring case', async () => {
    const desired = await new EntraMapping().toEntra(snap({ username: 'Zoë O’Neil', groups: ['Staff', 'admins', 'STAFF', 'Admins'] }), { domain: 'fabrikam.com' });
    const body = { ...base, userPrincipalName: 'Zoe_O_Neil@fabrikam.com', displayName: 'Zoë O’Neil' };
    expect(desired).toEqual({ body, createOnly: ['displayName'], mailNickname: 'Zoe_O_Neil', groups: ['Staff', 'admins'], hash: hashDesired(body, ['Staff', 'admins']) });
    expect((await new EntraMapping().toEntra(snap({ groups: [] }), DOMAIN)).groups).toEqual([]);
  });

  it('puts custom attributes under their Graph names and ignores the rest', async () => {
    const attributes = {
      department: 'Sales', employeeId: ['E1'], businessPhones: '+1 555 0100', otherMails: ['a@x.com', 'b@x.com'],
      extensionAttribute1: 'one', extensionAttribute15: 'fifteen', extensionAttribute16: 'no', [EXT]: 'CC-7', nickname: 'no', displayName: 'no',
    };
    const m = new EntraMapping();
    expect((await m.toEntra(snap({ attributes }), DOMAIN)).body).toEqual({
      ...base, department: 'Sales', employeeId: 'E1', businessPhones: ['+1 555 0100'], otherMails: ['a@x.com', 'b@x.com'],
      [EXTENSION_ATTRIBUTES]: { extensionAttribute1: 'one', extensionAttribute15: 'fifteen' }, [EXT]: 'CC-7',
    });
    // Omitted attributes leave every attribute alone, so none is in the body.
    for (const a of [undefined, {}, { nickname: 'x', extensionAttribute0: 'x' }] as UserSnapshot['attributes'][]) expect((await m.toEntra(snap({ attributes: a }), DOMAIN)).body).toEqual(base);
    const all = Object.fromEntries(ALL_EXTENSION_ATTRIBUTES.map((n, i) => [n, `v${i + 1}`]));
    expect((await m.toEntra(snap({ attributes: all }), DOMAIN)).body).toEqual({ ...base, [EXTENSION_ATTRIBUTES]: all });
  });

  it('manages exactly the mapped attributes and clears those missing from the snapshot', async () => {
    const attributeMap = { costCentre: 'department', phones: 'businessPhones', team: 'extensionAttribute3', badge: 'employeeId', tag: EXT };
    const m = new EntraMapping({ attributeMap });
    const desired = await m.toEntra(snap({ attributes: { costCentre: 'CC-7', team: 'Blue', department: 'unmapped', extensionAttribute4: 'unmapped' } }), DOMAIN);
    expect(desired.body).toEqual({ ...base, department: 'CC-7', businessPhones: [], [EXTENSION_ATTRIBUTES]: { extensionAttribute3: 'Blue' }, employeeId: null, [EXT]: null });
    expect((await m.toEntra(snap(), DOMAIN)).body).toEqual(base);

    const every = new EntraMapping({ attributeMap: Object.fromEntries(ALL_EXTENSION_ATTRIBUTES.map((n, i) => [`a${i + 1}`, n])) });
    expect((await every.toEntra(snap({ attributes: { a15: 'x' } }), DOMAIN)).body).toEqual({
      ...base, [EXTENSION_ATTRIBUTES]: { ...Object.fromEntries(ALL_EXTENSION_ATTRIBUTES.map((n) => [n, null])), extensionAttribute15: 'x' },
    });
  });

  it('clears a property given an empty value: null, or an empty list; empty entries of a list are dropped', async () => {
    const m = new EntraMapping();
    const attributes = { employeeHireDate: '', usageLocation: [], department: [''], extensionAttribute5: '', businessPhones: '', otherMails: ['', 'a@x.com', ''], employeeId: ['', 'E1'] };
    expect((await m.toEntra(snap({ attributes }), DOMAIN)).body).toEqual({
      ...base, employeeHireDate: null, usageLocation: null, department: null, businessPhones: [], otherMails: ['a@x.com'], employeeId: 'E1',
      [EXTENSION_ATTRIBUTES]: { extensionAttribute5: null },
    });
  });

  it('refuses several values for a single-valued property, naming the app attribute', async () => {
    const cases: [EntraMappingModule, Record<string, string[]>, string][] = [
      [{}, { department: ['a', 'b'] }, "attribute department has 2 values, but Graph's department holds one"],
      [{}, { extensionAttribute2: ['a', 'b', 'c'] }, "attribute extensionAttribute2 has 3 values, but Graph's extensionAttribute2 holds one"],
      [{ attributeMap: { costCentre: 'department' } }, { costCentre: ['a', 'b'] }, "attribute costCentre has 2 values, but Graph's department holds one"],
    ];
    for (const [module, attributes, message] of cases) {
      expect(await failure(new EntraMapping(module).toEntra(snap({ attributes }), DOMAIN))).toEqual(['PermanentError', message]);
    }
  });
});

describe('the hash of the desired state', () => {
  it('changes with every field written and with groups, but not with the snapshot id or version', async () => {
    const m = new EntraMapping();
    const hashOf = async (over: Partial<UserSnapshot>) => (await m.toEntra(snap({ groups: ['Staff'], ...over }), DOMAIN)).hash;
    const reference = await hashOf({});
    const changed: Partial<UserSnapshot>[] = [
      { username: 'bob' }, { email: 'alice@example.org' }, { firstName: 'Ann' }, { firstName: null }, { lastName: 'Lee' }, { lastName: '' },
      { displayName: 'Ann' }, { active: false }, { groups: ['Staff', 'Admins'] }, { groups: [] }, { groups: undefined },
      { attributes: { department: 'Sales' } }, { attributes: { extensionAttribute1: 'x' } },
    ];
    for (const over of changed) expect([over, await hashOf(over)]).not.toEqual([over, reference]);
    for (const over of [{ id: '43' }, { version: 7 }, { groups: ['STAFF'] }, { attributes: {} }]) expect([over, await hashOf(over)]).toEqual([over, reference]);
  });

  it('is a fixed digest of the sorted body and the lower-cased, sorted groups', () => {
    const body = { userPrincipalName: 'alice@contoso.com', displayName: 'Ann Lee', accountEnabled: true };
    // Stored in links across restarts: the canonical form must not drift.
    expect(hashDesired(body, ['Staff'])).toBe('9YMzAk9q2dB0Y-TwWzsnWbUeOl80sBfH');
    expect(hashDesired({ accountEnabled: true, displayName: 'Ann Lee', userPrincipalName: 'alice@contoso.com' }, ['staff'])).toBe('9YMzAk9q2dB0Y-TwWzsnWbUeOl80sBfH');
    expect(hashDesired(body, ['b', 'A'])).toBe(hashDesired(body, ['a', 'B']));
    expect(hashDesired(body, [])).not.toBe(hashDesired(body, undefined));
    expect(hashDesired(body, undefined)).not.toBe(hashDesired({ ...body, accountEnabled: false }, undefined));
    // Extension attributes are a nested object: their key order does not count either.
    const ext = (e: Record<string, string>) => hashDesired({ ...body, [EXTENSION_ATTRIBUTES]: e }, undefined);
    expect(ext({ extensionAttribute1: 'a', extensionAttribute2: 'b' })).toBe(ext({ extensionAttribute2: 'b', extensionAttribute1: 'a' }));
    expect(ext({ extensionAttribute1: 'a', extensionAttribute2: 'b' })).not.toBe(ext({ extensionAttribute1: 'b', extensionAttribute2: 'a' }));
  });
});

describe('the mapping module hooks', () => {
  it('uses the UPN rule for pushes and for users known only by reference', async () => {
    const seen: UserSnapshot[] = [];
    const m = new EntraMapping({ userPrincipalName: (s, { domain }) => (seen.push(s), `${s.username}.x@${domain}`) });
    const desired = await m.toEntra(snap(), DOMAIN);
    expect([desired.body.userPrincipalName, desired.mailNickname]).toEqual(['alice.x@contoso.com', 'alice.x']);
    expect(await m.userPrincipalNameFor({ id: '7', username: 'bob' }, DOMAIN)).toBe('bob.x@contoso.com');
    expect(seen).toEqual([snap(), { id: '7', username: 'bob', email: '', active: true }]);
    expect(await new EntraMapping().userPrincipalNameFor({ id: '7', username: 'b o b' }, DOMAIN)).toBe('b_o_b@contoso.com');
  });

  it('lets alterEntraUser edit or replace the body, keeping what a create needs', async () => {
    const cases: [EntraMappingModule['alterEntraUser'], Partial<UserSnapshot>, Record<string, unknown>, string, string[]][] = [
      [(b) => { b.usageLocation = 'DE'; b.mailNickname = 'ally'; b.passwordProfile = { password: 'x' }; }, {}, { ...base, usageLocation: 'DE' }, 'ally', ['displayName']],
      [(b) => ({ ...b, displayName: 'Custom', mailNickname: '' }), {}, { ...base, displayName: 'Custom' }, 'alice', []],
      [(b) => ({ ...b, mailNickname: 7 }), {}, base, 'alice', ['displayName']],
      // Only false disables: a hook that drops accountEnabled leaves the account enabled.
      [(b) => { delete (b as Partial<GraphUserBody>).accountEnabled; }, { active: false }, base, 'alice', ['displayName']],
      [() => undefined, { active: false }, { ...base, accountEnabled: false }, 'alice', ['displayName']],
    ];
    for (const [alterEntraUser, fields, body, mailNickname, createOnly] of cases) {
      const desired = await new EntraMapping({ alterEntraUser }).toEntra(snap(fields), DOMAIN);
      expect(desired).toEqual({ body, createOnly, mailNickname, groups: undefined, hash: hashDesired(body, undefined) });
    }
  });

  it('refuses a body Graph could not create, and reports a failing hook', async () => {
    const alter = (f: (b: GraphUserBody) => unknown) => new EntraMapping({ alterEntraUser: f as EntraMappingModule['alterEntraUser'] });
    const cases: [EntraMapping, string][] = [
      [alter(() => 5), "the Entra mapping module's alterEntraUser returned no object"],
      [alter((b) => ({ ...b, userPrincipalName: 'alice' })), 'the user principal name "alice" is not of the form local@domain'],
      [alter((b) => ({ ...b, userPrincipalName: 'a@b@contoso.com' })), 'the user principal name "a@b@contoso.com" is not of the form local@domain'],
      [alter((b) => ({ ...b, userPrincipalName: 'a b@contoso.com' })), 'the user principal name "a b@contoso.com" is not of the form local@domain'],
      [alter((b) => ({ ...b, userPrincipalName: '@contoso.com' })), 'the user principal name "@contoso.com" is not of the form local@domain'],
      [alter((b) => ({ ...b, userPrincipalName: 'alice@' })), 'the user principal name "alice@" is not of the form local@domain'],
      [alter((b) => ({ ...b, userPrincipalName: undefined })), 'the user principal name undefined is not of the form local@domain'],
      [alter((b) => ({ ...b, displayName: ' ' })), 'the Graph user body has no displayName'],
      [alter((b) => ({ ...b, displayName: null })), 'the Graph user body has no displayName'],
      [alter(() => { throw new Error('boom'); }), "the Entra mapping module's alterEntraUser failed: boom"],
      [new EntraMapping({ userPrincipalName: () => Promise.reject(new Error('no rule')) }), "the Entra mapping module's userPrincipalName failed: no rule"],
    ];
    for (const [m, message] of cases) expect(await failure(m.toEntra(snap(), DOMAIN))).toEqual(['PermanentError', message]);
  });

  it('passes an initial password through only when it is a non-empty string', async () => {
    expect(await new EntraMapping().initialPassword(snap())).toBeUndefined();
    expect(await new EntraMapping({ initialPassword: async () => 'Temp-Pass-1' }).initialPassword(snap())).toBe('Temp-Pass-1');
    expect(await new EntraMapping({ initialPassword: () => undefined }).initialPassword(snap())).toBeUndefined();
    for (const pw of ['', 42, null]) {
      const m = new EntraMapping({ initialPassword: () => pw as string });
      expect(await failure(m.initialPassword(snap()))).toEqual(['PermanentError', "the Entra mapping module's initialPassword returned something other than a non-empty string"]);
    }
  });
});

describe('names for audits and $select', () => {
  it('names changed properties as the app knows them', () => {
    const plain = new EntraMapping();
    const mapped = new EntraMapping({ attributeMap: { costCentre: 'department', team: 'extensionAttribute3' } });
    const names = ['userPrincipalName', 'displayName', 'givenName', 'surname', 'mail', 'accountEnabled', 'department', 'extensionAttribute3', EXT, 'jobTitle', 'mailNickname'];
    expect(names.map((n) => [plain.appName(n), mapped.appName(n)])).toEqual([
      ['username', 'username'], ['displayName', 'displayName'], ['firstName', 'firstName'], ['lastName', 'lastName'], ['email', 'email'], ['active', 'active'],
      ['attributes.department', 'attributes.costCentre'], ['attributes.extensionAttribute3', 'attributes.team'], [`attributes.${EXT}`, EXT],
      ['attributes.jobTitle', 'jobTitle'], ['mailNickname', 'mailNickname'],
    ]);
  });

  it('selects every mappable property, or only the mapped ones, plus what the body writes', async () => {
    const plain = new EntraMapping();
    expect(plain.selectFor()).toEqual([...STRING_PROPERTIES, 'businessPhones', 'otherMails', EXTENSION_ATTRIBUTES]);
    expect(plain.selectFor(await plain.toEntra(snap({ firstName: 'Ann' }), DOMAIN)))
      .toEqual([...STRING_PROPERTIES, 'businessPhones', 'otherMails', EXTENSION_ATTRIBUTES, 'userPrincipalName', 'displayName', 'givenName', 'mail', 'accountEnabled']);
    const mapped = new EntraMapping({ attributeMap: { costCentre: 'department', team: 'extensionAttribute3', tag: 'extensionAttribute4', tag2: EXT } });
    expect(mapped.selectFor()).toEqual(['department', EXTENSION_ATTRIBUTES, EXT]);
    expect(new EntraMapping({ attributeMap: { costCentre: 'department' } }).selectFor()).toEqual(['department']);
    expect(mapped.selectFor(await mapped.toEntra(snap(), DOMAIN))).toEqual(['department', EXTENSION_ATTRIBUTES, EXT, 'userPrincipalName', 'displayName', 'mail', 'accountEnabled']);
  });
});

describe('a Graph user in the app shape', () => {
  const values = {
    mail: 'alice@example.com', givenName: 'Ann', surname: '', displayName: 'Ann Lee', mailNickname: 'alice', department: 'Sales', jobTitle: null,
    businessPhones: [], otherMails: ['a@x.com', 'b@x.com'], employeeHireDate: '2024-01-15T00:00:00Z', extensionAttribute4: 'top-level',
    [EXTENSION_ATTRIBUTES]: { extensionAttribute1: 'one', extensionAttribute2: null, extensionAttribute3: '' }, [EXT]: 7,
  };

  it('pulls the standard fields and every non-empty mappable property', async () => {
    expect(await new EntraMapping().toRemote(graphUser(values), { groups: ['Staff'], photo: null })).toEqual({
      target: 'entra', remoteId: 'u-1', username: 'alice@contoso.com', active: true, email: 'alice@example.com', firstName: 'Ann', displayName: 'Ann Lee',
      groups: ['Staff'], photo: null,
      attributes: { department: 'Sales', otherMails: ['a@x.com', 'b@x.com'], employeeHireDate: '2024-01-15T00:00:00Z', extensionAttribute1: 'one', [EXT]: '7' },
    });
    // Strict: an absent field is no key at all, not a key holding undefined.
    const bare = { ...graphUser({ mail: '', givenName: null }), accountEnabled: false };
    expect(await new EntraMapping().toRemote(bare)).toStrictEqual({ target: 'entra', remoteId: 'u-1', username: 'alice@contoso.com', active: false });
    expect(await new EntraMapping().toRemote(graphUser({ surname: 'Lee' }))).toStrictEqual({ target: 'entra', remoteId: 'u-1', username: 'alice@contoso.com', active: true, lastName: 'Lee' });
  });

  it('pulls only mapped attributes under their app names, then applies alterRemoteUser', async () => {
    const module: EntraMappingModule = {
      attributeMap: { costCentre: 'department', phones: 'otherMails', team: 'extensionAttribute1', gone: 'extensionAttribute2', title: 'jobTitle' },
      alterRemoteUser: (remote, g) => ({ ...remote, attributes: { ...remote.attributes, objectId: String(g.id) } }),
    };
    expect(await new EntraMapping(module).toRemote(graphUser(values))).toEqual({
      target: 'entra', remoteId: 'u-1', username: 'alice@contoso.com', active: true, email: 'alice@example.com', firstName: 'Ann', displayName: 'Ann Lee',
      attributes: { costCentre: 'Sales', phones: ['a@x.com', 'b@x.com'], team: 'one', objectId: 'u-1' },
    } satisfies RemoteUser);
    const mutating = new EntraMapping({ alterRemoteUser: (remote) => { remote.username = 'renamed'; } });
    expect((await mutating.toRemote(graphUser({}))).username).toBe('renamed');
  });
});

describe('loading a mapping module', () => {
  const { file, path: inDir } = tempModules('entra-mapping');

  it('is empty without a specifier', async () => {
    expect(await loadMappingModule(undefined)).toEqual({});
    expect(await loadMappingModule('')).toEqual({});
  });

  it('takes the hooks and a copy of attributeMap, by path, relative path or file: URL', async () => {
    const path = await file(
      'full.mjs',
      `export const attributeMap = { costCentre: 'department', team: 'extensionAttribute3', tag: '${EXT}' };
       export function userPrincipalName(s, { domain }) { return s.username + '.m@' + domain; }
       export const initialPassword = () => 'Temp-Pass-1';
       export function alterEntraUser(body) { body.jobTitle = 'Synced'; }
       export const alterRemoteUser = (r) => r;`,
    );
    for (const specifier of [path, relative(process.cwd(), path), pathToFileURL(path).href]) {
      const module = await loadMappingModule(specifier);
      expect([specifier, Object.keys(module).sort(), module.attributeMap])
        .toEqual([specifier, ['alterEntraUser', 'alterRemoteUser', 'attributeMap', 'initialPassword', 'userPrincipalName'], { costCentre: 'department', team: 'extensionAttribute3', tag: EXT }]);
      const desired = await new EntraMapping(module).toEntra(snap({ attributes: { costCentre: 'CC' } }), DOMAIN);
      expect(desired.body).toEqual({ ...base, userPrincipalName: 'alice.m@contoso.com', department: 'CC', [EXTENSION_ATTRIBUTES]: { extensionAttribute3: null }, [EXT]: null, jobTitle: 'Synced' });
    }
  });

  it('reads exports from a default export object, named exports first', async () => {
    const path = await file(
      'default.mjs',
      `export default { attributeMap: { a: 'city' }, userPrincipalName: () => 'default@x.com', initialPassword: () => 'from-default' };
       export const userPrincipalName = () => 'named@x.com';`,
    );
    const m = new EntraMapping(await loadMappingModule(path));
    expect([await m.userPrincipalNameFor({ id: '1', username: 'a' }, DOMAIN), await m.initialPassword(snap()), m.appName('city')]).toEqual(['named@x.com', 'from-default', 'attributes.a']);
  });

  it('refuses a hook that is not a function and an attributeMap onto anything Graph cannot take', async () => {
    const cases: [string, string, string][] = [
      ['hook.mjs', `export const alterEntraUser = { jobTitle: 'x' };`, 'exports alterEntraUser, but it is not a function'],
      ['upn.mjs', `export default { userPrincipalName: 'alice@x.com' };`, 'exports userPrincipalName, but it is not a function'],
      ['map.mjs', `export const attributeMap = { a: 'department', b: 'mail', c: 5, d: 'extensionAttribute16' };`, 'exports attributeMap with "mail", 5, "extensionAttribute16"'],
      ['string-map.mjs', `export const attributeMap = 'department';`, 'exports attributeMap with "department"'],
      ['null-map.mjs', `export const attributeMap = null;`, 'exports attributeMap with null'],
      ['list-map.mjs', `export const attributeMap = ['department'];`, 'exports attributeMap with ["department"]'],
    ];
    const expected = ': expected app attribute → a writable Graph user property (e.g. department, employeeId), extensionAttribute1–15 or extension_<appId>_<name>';
    for (const [name, source, problem] of cases) {
      const path = await file(name, source);
      const message = `the Entra mapping module ${path} ${problem}${problem.startsWith('exports attributeMap') ? expected : ''}`;
      expect(await failure(loadMappingModule(path))).toEqual(['Error', message]);
    }
  });

  it('refuses exports it does not read (a misspelt hook) and two app attributes on one property', async () => {
    const known = '(it reads userPrincipalName, initialPassword, alterEntraUser, alterRemoteUser, attributeMap); a misspelt name would silently not run';
    const cases: [string, string, string][] = [
      ['misspelt.mjs', `export const attributemap = { a: 'city' }; export function alterEntrauser() {}`, `exports alterEntrauser, attributemap, which idsync does not read ${known}`],
      ['default-misspelt.mjs', `export default { userPrincipalname: () => 'a@b.c' };`, `exports userPrincipalname, which idsync does not read ${known}`],
      ['shared.mjs', `export const attributeMap = { a: 'department', b: 'city', c: 'department', d: 'city', e: 'jobTitle' };`, 'maps a and c onto department; b and d onto city: each Graph property takes one app attribute'],
    ];
    for (const [name, source, problem] of cases) {
      const path = await file(name, source);
      expect(await failure(loadMappingModule(path))).toEqual(['Error', `the Entra mapping module ${path} ${problem}`]);
    }
  });

  it('names the module it cannot load', async () => {
    const missing = inDir('missing.mjs');
    const syntax = await file('syntax.mjs', 'export const = ;');
    const [kind, message] = (await failure(loadMappingModule(missing)))!;
    expect(kind).toBe('Error');
    expect(message).toMatch(new RegExp(`^cannot load the Entra mapping module ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\S`));
    expect((await failure(loadMappingModule(syntax)))?.[1]).toMatch(/^cannot load the Entra mapping module .*syntax\.mjs: \S/);
  });
});
