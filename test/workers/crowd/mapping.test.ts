// The app snapshot ↔ Crowd user mapping, without the emulator: which names Crowd ends up
// storing, what is sent, left out (omitted = Crowd's value stays) or cleared, how attributes,
// groups and the written hash come out, and how a custom mapping module bends it. Values are
// asserted whole and strictly: a key present as undefined would reach Crowd's full-replace PUT.
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { UserSnapshot } from '../../../shared/jobs.js';
import type { CrowdUser, UserBody } from '../../../workers/crowd/entities.js';
import {
  CROWD_INTERNAL_ATTRIBUTES,
  CrowdMapping,
  abbreviate,
  crowdNames,
  hashDesired,
  loadMappingModule,
  type CrowdMappingModule,
  type DesiredUser,
  type NameField,
} from '../../../workers/crowd/mapping.js';
import { failure, tempModules } from '../../helpers/mapping-modules.js';

const snap = (over: Partial<UserSnapshot> = {}): UserSnapshot => ({ id: '42', username: 'alice', email: 'alice@example.com', active: true, ...over });
const base: UserBody = { name: 'alice', email: 'alice@example.com', active: true };
/** What toCrowd should return, the hash derived from the very parts it returns. */
const desired = (over: Partial<Omit<DesiredUser, 'hash'>> = {}): DesiredUser => {
  const d = { body: base, clears: [] as NameField[], attributes: {}, managedAttributes: [] as string[], groups: undefined, ...over };
  return { ...d, hash: hashDesired(d.body, d.attributes, d.groups, d.clears) };
};
const crowdUser = (over: Partial<CrowdUser> = {}): CrowdUser => ({
  name: 'alice', key: undefined, firstName: undefined, lastName: undefined, displayName: undefined, email: undefined,
  active: true, attributes: undefined, updatedAt: undefined, ...over,
});
/** [class, message] of a rejection, or undefined when it resolved. */
const long = (c: string, n: number) => c.repeat(n);
const cut = (c: string) => `${long(c, 252)}...`;

describe('abbreviate', () => {
  it("keeps up to 255 characters and shortens longer values to 255 ending in '...', as Crowd stores them", () => {
    const cases: [string, string][] = [
      ['', ''],
      ['Ann', 'Ann'],
      [long('a', 254), long('a', 254)],
      [long('a', 255), long('a', 255)],
      [long('a', 256), cut('a')],
      [`${long('b', 252)}xyz!`, cut('b')],
      [long('a', 1000), cut('a')],
    ];
    for (const [v, out] of cases) expect([v.length, abbreviate(v)]).toEqual([v.length, out]);
    expect(abbreviate(long('a', 256))).toHaveLength(255);
  });
});

describe('Crowd internal attributes', () => {
  it('are the ones the internal directory writes by itself', () => {
    expect([...CROWD_INTERNAL_ATTRIBUTES].sort()).toEqual([
      'autoGroupsAdded', 'invalidPasswordAttempts', 'lastActive', 'lastAuthenticated', 'lastPasswordChangeReminderSent', 'passwordLastChanged', 'requiresPasswordChange',
    ]);
  });
});

describe('crowdNames (what Crowd stores for the names sent)', () => {
  it('fills blank names by UserUtils.populateNames', () => {
    // [first, last, display sent] → [first, last, display stored], for user "jsmith"
    const cases: [string | undefined, string | undefined, string | undefined, [string, string, string]][] = [
      ['John', 'Smith', 'John Smith', ['John', 'Smith', 'John Smith']],
      ['John', 'Smith', 'Dr Who', ['John', 'Smith', 'Dr Who']],
      // A computed display name: the first name is kept as sent (even blank), never split.
      ['John', 'Smith', undefined, ['John', 'Smith', 'John Smith']],
      ['John', 'Smith', '', ['John', 'Smith', 'John Smith']],
      ['John', 'Smith', ' \t ', ['John', 'Smith', 'John Smith']],
      [undefined, 'Smith', undefined, ['', 'Smith', 'Smith']],
      [undefined, 'van Dyke', undefined, ['', 'van Dyke', 'van Dyke']],
      [' ', 'Smith', undefined, [' ', 'Smith', 'Smith']],
      // A missing last name is split off the display name, else is the whole display name.
      ['John', undefined, undefined, ['John', 'John', 'John']],
      ['John', '  ', undefined, ['John', 'John', 'John']],
      [undefined, undefined, undefined, ['', 'jsmith', 'jsmith']],
      ['', '', '', ['', 'jsmith', 'jsmith']],
      // A given display name is split for whichever of first / last is blank.
      [undefined, undefined, 'John Smith', ['John', 'Smith', 'John Smith']],
      [undefined, undefined, 'Mary Ann Lee', ['Mary', 'Ann Lee', 'Mary Ann Lee']],
      [undefined, undefined, 'Cher', ['', 'Cher', 'Cher']],
      [undefined, undefined, '  John   Smith  ', ['John', 'Smith', '  John   Smith  ']],
      [undefined, undefined, 'John ', ['', 'John', 'John ']],
      [undefined, undefined, 'John \t', ['John', 'John \t', 'John \t']],
      ['Ann', undefined, 'John Smith', ['Ann', 'Smith', 'John Smith']],
      ['Ann', undefined, 'Cher', ['Ann', 'Cher', 'Cher']],
      [undefined, 'Lee', 'John Smith', ['John', 'Lee', 'John Smith']],
      ['', 'Lee', 'Cher', ['', 'Lee', 'Cher']],
    ];
    for (const [first, last, display, [f, l, d]] of cases) {
      expect([first, last, display, crowdNames('jsmith', first, last, display)])
        .toStrictEqual([first, last, display, { 'first-name': f, 'last-name': l, 'display-name': d }]);
    }
  });

  it('abbreviates each stored name, computed ones included', () => {
    const cases: [string | undefined, string | undefined, string | undefined, [string, string, string]][] = [
      [long('f', 255), long('l', 255), undefined, [long('f', 255), long('l', 255), cut('f')]],
      [long('f', 256), long('l', 256), undefined, [cut('f'), cut('l'), cut('f')]],
      [undefined, undefined, `${long('f', 300)} ${long('l', 300)}`, [cut('f'), cut('l'), cut('f')]],
      [long('f', 256), undefined, long('d', 256), [cut('f'), cut('d'), cut('d')]],
    ];
    for (const [first, last, display, [f, l, d]] of cases) {
      expect(crowdNames('jsmith', first, last, display)).toStrictEqual({ 'first-name': f, 'last-name': l, 'display-name': d });
    }
  });
});

describe('the desired Crowd user', () => {
  it('sends given names, leaves omitted ones out and clears null or blank ones', async () => {
    const m = new CrowdMapping();
    const cases: [Partial<UserSnapshot>, Partial<UserBody>, NameField[]][] = [
      [{}, {}, []],
      [{ firstName: 'Ann', lastName: 'Lee', displayName: 'Ann Lee' }, { 'first-name': 'Ann', 'last-name': 'Lee', 'display-name': 'Ann Lee' }, []],
      // Sent as given: Crowd keeps surrounding blanks too.
      [{ firstName: ' Ann ' }, { 'first-name': ' Ann ' }, []],
      [{ lastName: 'Lee' }, { 'last-name': 'Lee' }, []],
      [{ displayName: 'The Ann' }, { 'display-name': 'The Ann' }, []],
      [{ firstName: null, lastName: '', displayName: '  ' }, {}, ['first-name', 'last-name', 'display-name']],
      [{ displayName: null, firstName: 'Ann' }, { 'first-name': 'Ann' }, ['display-name']],
      [{ lastName: '\t' }, {}, ['last-name']],
      [{ displayName: long('d', 255) }, { 'display-name': long('d', 255) }, []],
      [{ displayName: long('d', 256) }, { 'display-name': cut('d') }, []],
      [{ firstName: long('f', 256), lastName: long('l', 256) }, { 'first-name': cut('f'), 'last-name': cut('l') }, []],
      [{ email: `${long('e', 250)}@x.com` }, { email: `${long('e', 250)}@x...` }, []],
      [{ active: false }, { active: false }, []],
    ];
    for (const [fields, body, clears] of cases) {
      expect([fields, await m.toCrowd(snap(fields))]).toStrictEqual([fields, desired({ body: { ...base, ...body }, clears })]);
    }
  });

  it('pushes every attribute under its own name without an attribute map, and manages none', async () => {
    const attributes = { dept: 'Sales', phones: ['1', '2'], none: [], blank: '', exact: long('v', 255), over: [long('v', 256), 'x'] };
    expect(await new CrowdMapping().toCrowd(snap({ attributes }))).toStrictEqual(desired({
      attributes: { dept: ['Sales'], phones: ['1', '2'], none: [], blank: [''], exact: [long('v', 255)], over: [cut('v'), 'x'] },
    }));
  });

  it("never writes or deletes Crowd's own attributes, and takes only own keys of the map", async () => {
    const own = { invalidPasswordAttempts: '0', requiresPasswordChange: 'false', dept: 'Sales' };
    expect(await new CrowdMapping().toCrowd(snap({ attributes: own }))).toStrictEqual(desired({ attributes: { dept: ['Sales'] } }));
    // A map may name one to pull it; pushes still leave it alone, and it is not managed (deleted when missing).
    const m = new CrowdMapping({ attributeMap: { department: 'dept', lastLogin: 'lastAuthenticated' } });
    expect(await m.toCrowd(snap({ attributes: { department: 'Sales', lastLogin: '1' } }))).toStrictEqual(desired({ attributes: { dept: ['Sales'] }, managedAttributes: ['dept'] }));
    // `constructor` and `toString` are on every object's prototype, not in the map.
    expect(await m.toCrowd(snap({ attributes: { constructor: 'x', toString: 'y' } }))).toStrictEqual(desired({ managedAttributes: ['dept'] }));
  });

  it('with an attribute map, pushes only mapped attributes and manages all of them once attributes are given', async () => {
    const m = new CrowdMapping({ attributeMap: { department: 'dept', costCentre: 'cost-centre' } });
    const managedAttributes = ['dept', 'cost-centre'];
    expect(await m.toCrowd(snap({ attributes: { department: ['Sales', 'R&D'], dept: 'unmapped', other: 'x' } })))
      .toStrictEqual(desired({ attributes: { dept: ['Sales', 'R&D'] }, managedAttributes }));
    expect(await m.toCrowd(snap({ attributes: {} }))).toStrictEqual(desired({ managedAttributes }));
    // Omitted attributes leave every Crowd attribute alone.
    expect(await m.toCrowd(snap())).toStrictEqual(desired());
  });

  it('keeps the first spelling of each group, ignoring case; omitted groups stay undefined', async () => {
    const m = new CrowdMapping();
    const cases: [string[] | undefined, string[] | undefined][] = [
      [undefined, undefined],
      [[], []],
      [['Staff', 'Dev', 'staff', 'STAFF', 'dev', 'Ops'], ['Staff', 'Dev', 'Ops']],
    ];
    for (const [groups, out] of cases) expect([groups, await m.toCrowd(snap({ groups }))]).toStrictEqual([groups, desired({ groups: out })]);
  });

  it('needs attributes on reads when it writes or manages any', () => {
    const m = new CrowdMapping();
    const cases: [Partial<DesiredUser>, boolean][] = [
      [{}, false],
      [{ attributes: { dept: ['x'] } }, true],
      [{ attributes: { dept: [] } }, true],
      [{ managedAttributes: ['dept'] }, true],
    ];
    for (const [over, needs] of cases) expect([over, m.needsAttributes(desired(over))]).toEqual([over, needs]);
  });
});

describe('the mapping module hooks on push', () => {
  it('let alterCrowdUser edit or replace the body, which is then checked like the snapshot', async () => {
    const cases: [CrowdMappingModule['alterCrowdUser'], Partial<UserSnapshot>, UserBody, NameField[]][] = [
      [(b, s) => { b['display-name'] = `${s.lastName}, ${s.firstName}`; }, { firstName: 'Ann', lastName: 'Lee' }, { ...base, 'first-name': 'Ann', 'last-name': 'Lee', 'display-name': 'Lee, Ann' }, []],
      [async (b) => ({ ...b, name: 'ann', 'first-name': long('f', 256) }), {}, { ...base, name: 'ann', 'first-name': cut('f') }, []],
      // A value the hook sets wins over the snapshot's clear; the other clears stand.
      [(b) => { b['first-name'] = 'Ann'; }, { firstName: null, lastName: null }, { ...base, 'first-name': 'Ann' }, ['last-name']],
      // Blank or null values become omitted, unknown keys are dropped, only false deactivates.
      [() => ({ name: 'alice', email: ' ', 'first-name': null, 'last-name': '', extra: 1 }) as unknown as UserBody, { firstName: 'Ann' }, { name: 'alice', active: true }, []],
      [(b) => { delete (b as Partial<UserBody>).active; }, { active: false }, base, []],
      [() => undefined, { active: false }, { ...base, active: false }, []],
      [() => null as unknown as UserBody, { lastName: 'Lee' }, { ...base, 'last-name': 'Lee' }, []],
    ];
    for (const [alterCrowdUser, fields, body, clears] of cases) {
      const out = await new CrowdMapping({ alterCrowdUser }).toCrowd(snap(fields));
      expect([fields, out]).toStrictEqual([fields, desired({ body, clears })]);
    }
  });

  it('let alterCrowdAttributes edit or replace the attributes, single values becoming lists', async () => {
    const cases: [CrowdMappingModule['alterCrowdAttributes'], Record<string, string[]>][] = [
      [(a, s) => { a['employee-id'] = [s.id]; }, { dept: ['Sales'], 'employee-id': ['42'] }],
      [() => ({ one: 'x', many: ['a', long('v', 256)] }) as unknown as Record<string, string[]>, { one: ['x'], many: ['a', cut('v')] }],
      [async () => undefined, { dept: ['Sales'] }],
    ];
    for (const [alterCrowdAttributes, attributes] of cases) {
      const out = await new CrowdMapping({ alterCrowdAttributes }).toCrowd(snap({ attributes: { dept: 'Sales' } }));
      expect(out).toStrictEqual(desired({ attributes }));
    }
  });

  it('fail the job with a PermanentError naming the hook when it throws or leaves something Crowd cannot take', async () => {
    const cases: [CrowdMappingModule, string][] = [
      [{ alterCrowdUser: (b) => ({ ...b, name: '' }) }, "the Crowd mapping module's alterCrowdUser left the user without a name"],
      [{ alterCrowdUser: (b) => ({ ...b, name: '  ' }) }, "the Crowd mapping module's alterCrowdUser left the user without a name"],
      [{ alterCrowdUser: (b) => ({ ...b, name: 7 }) as unknown as UserBody }, "the Crowd mapping module's alterCrowdUser left the user without a name"],
      [{ alterCrowdUser: () => 'alice' as unknown as UserBody }, "the Crowd mapping module's alterCrowdUser left the user without a name"],
      [{ alterCrowdUser: (b) => ({ ...b, 'first-name': 42 }) as unknown as UserBody }, "the Crowd mapping module's alterCrowdUser set first-name to a number, not a string"],
      [{ alterCrowdUser: (b) => ({ ...b, email: ['a@x.com'] }) as unknown as UserBody }, "the Crowd mapping module's alterCrowdUser set email to a object, not a string"],
      [{ alterCrowdUser: () => { throw new Error('no manager'); } }, "the Crowd mapping module's alterCrowdUser failed: no manager"],
      [{ alterCrowdAttributes: () => 'dept' as unknown as Record<string, string[]> }, "the Crowd mapping module's alterCrowdAttributes returned no object"],
      [{ alterCrowdAttributes: () => ({ dept: ['a', 1] }) as unknown as Record<string, string[]> }, "the Crowd mapping module's alterCrowdAttributes set dept to something other than strings"],
      [{ alterCrowdAttributes: () => ({ dept: null }) as unknown as Record<string, string[]> }, "the Crowd mapping module's alterCrowdAttributes set dept to something other than strings"],
      [{ alterCrowdAttributes: () => Promise.reject('offline') }, "the Crowd mapping module's alterCrowdAttributes failed: offline"],
    ];
    for (const [module, message] of cases) expect(await failure(new CrowdMapping(module).toCrowd(snap()))).toEqual(['PermanentError', message]);
  });
});

describe('the Crowd user in the app shape (pull)', () => {
  const full = crowdUser({ key: '1:abc', firstName: 'Ann', lastName: 'Lee', displayName: 'Ann Lee', email: 'ann@x.com', active: false });
  const profile = { target: 'crowd', remoteId: '1:abc', username: 'alice', active: false, email: 'ann@x.com', firstName: 'Ann', lastName: 'Lee', displayName: 'Ann Lee' };

  it('maps the profile, falls back to the name without a key, and adds groups and roles when given', async () => {
    const m = new CrowdMapping();
    expect(await m.toRemote(full)).toStrictEqual(profile);
    expect(await m.toRemote(crowdUser())).toStrictEqual({ target: 'crowd', remoteId: 'alice', username: 'alice', active: true });
    expect(await m.toRemote(crowdUser({ firstName: '' }), { groups: ['Staff'], roles: [] }))
      .toStrictEqual({ target: 'crowd', remoteId: 'alice', username: 'alice', active: true, firstName: '', groups: ['Staff'], roles: [] });
  });

  it("without a map, pulls every attribute but Crowd's own, single values unwrapped", async () => {
    const m = new CrowdMapping();
    const internal = Object.fromEntries([...CROWD_INTERNAL_ATTRIBUTES].map((a) => [a, ['1']]));
    expect(await m.toRemote(crowdUser({ attributes: { ...internal, dept: ['Sales'], phones: ['1', '2'], none: [] } })))
      .toStrictEqual({ target: 'crowd', remoteId: 'alice', username: 'alice', active: true, attributes: { dept: 'Sales', phones: ['1', '2'], none: [] } });
    // Nothing left to pull: no attributes key at all.
    for (const attributes of [internal, {}]) {
      expect(await m.toRemote(crowdUser({ attributes }))).toStrictEqual({ target: 'crowd', remoteId: 'alice', username: 'alice', active: true });
    }
  });

  it('with a map, pulls only mapped attributes under their app names, internal ones included', async () => {
    const m = new CrowdMapping({ attributeMap: { department: 'dept', lastLogin: 'lastAuthenticated', costCentre: 'cost-centre' } });
    const attributes = { dept: ['Sales'], department: ['unmapped'], other: ['x'], lastAuthenticated: ['1700000000000'], lastActive: ['1'] };
    expect(await m.toRemote(crowdUser({ attributes })))
      .toStrictEqual({ target: 'crowd', remoteId: 'alice', username: 'alice', active: true, attributes: { department: 'Sales', lastLogin: '1700000000000' } });
  });

  it('lets alterRemoteUser edit or replace the result, and fails the job when it throws', async () => {
    const replacing = new CrowdMapping({ alterRemoteUser: (r, u) => ({ ...r, attributes: { crowdKey: u.key ?? '' } }) });
    expect(await replacing.toRemote(full)).toStrictEqual({ ...profile, attributes: { crowdKey: '1:abc' } });
    const mutating = new CrowdMapping({ alterRemoteUser: async (r) => { r.username = 'renamed'; } });
    expect(await mutating.toRemote(full)).toStrictEqual({ ...profile, username: 'renamed' });
    const throwing = new CrowdMapping({ alterRemoteUser: () => { throw new TypeError('bad'); } });
    expect(await failure(throwing.toRemote(full))).toEqual(['PermanentError', "the Crowd mapping module's alterRemoteUser failed: bad"]);
  });
});

describe('the hash of the desired state', () => {
  const body: UserBody = { name: 'alice', 'first-name': 'Ann', 'last-name': 'Lee', 'display-name': 'Ann Lee', email: 'ann@x.com', active: true };
  const attributes = { dept: ['Sales'], phones: ['1', '2'] };

  it('is a fixed digest, whatever the order of attribute names, groups and clears and the case of groups', () => {
    // Stored in links across restarts: the canonical form must not drift.
    expect(hashDesired(body, attributes, ['Staff', 'Dev'])).toBe('MEwVgZRsJoGDLliDyly4yuMJV5vonsyC');
    expect(hashDesired({ ...base }, {}, undefined)).toBe('24cbBWZgCpJS-g9fFBNkRO-Qn5uWk_X6');
    expect(hashDesired({ ...base }, {}, undefined, [])).toBe('24cbBWZgCpJS-g9fFBNkRO-Qn5uWk_X6');
    const reordered: UserBody = { active: true, email: 'ann@x.com', 'display-name': 'Ann Lee', 'last-name': 'Lee', 'first-name': 'Ann', name: 'alice' };
    expect(hashDesired(reordered, { phones: ['1', '2'], dept: ['Sales'] }, ['dev', 'STAFF'])).toBe('MEwVgZRsJoGDLliDyly4yuMJV5vonsyC');
    expect(hashDesired(base, {}, undefined, ['last-name', 'first-name'])).toBe(hashDesired(base, {}, undefined, ['first-name', 'last-name']));
  });

  it('changes with every field written, each attribute, groups and clears', () => {
    const { 'first-name': _f, 'last-name': _l, 'display-name': _d, email: _e, ...bare } = body;
    const variants: [string, string][] = [
      ['reference', hashDesired(body, attributes, ['Staff'])],
      ['name', hashDesired({ ...body, name: 'bob' }, attributes, ['Staff'])],
      ['first-name', hashDesired({ ...body, 'first-name': 'Anne' }, attributes, ['Staff'])],
      ['last-name', hashDesired({ ...body, 'last-name': 'Li' }, attributes, ['Staff'])],
      ['display-name', hashDesired({ ...body, 'display-name': 'Ann L' }, attributes, ['Staff'])],
      ['email', hashDesired({ ...body, email: 'ann@y.com' }, attributes, ['Staff'])],
      ['active', hashDesired({ ...body, active: false }, attributes, ['Staff'])],
      ['names omitted', hashDesired(bare, attributes, ['Staff'])],
      ['first-name cleared', hashDesired({ ...bare, 'last-name': 'Lee', 'display-name': 'Ann Lee', email: 'ann@x.com' }, attributes, ['Staff'], ['first-name'])],
      ['first-name omitted', hashDesired({ ...bare, 'last-name': 'Lee', 'display-name': 'Ann Lee', email: 'ann@x.com' }, attributes, ['Staff'])],
      ['last-name cleared', hashDesired({ ...bare, 'last-name': 'Lee', 'display-name': 'Ann Lee', email: 'ann@x.com' }, attributes, ['Staff'], ['last-name'])],
      ['attribute value', hashDesired(body, { ...attributes, dept: ['R&D'] }, ['Staff'])],
      ['attribute value order', hashDesired(body, { ...attributes, phones: ['2', '1'] }, ['Staff'])],
      ['attribute added', hashDesired(body, { ...attributes, team: ['Blue'] }, ['Staff'])],
      ['attribute renamed', hashDesired(body, { dept: ['Sales'], phone: ['1', '2'] }, ['Staff'])],
      ['no attributes', hashDesired(body, {}, ['Staff'])],
      ['another group', hashDesired(body, attributes, ['Staff', 'Dev'])],
      ['no groups', hashDesired(body, attributes, [])],
      ['groups omitted', hashDesired(body, attributes, undefined)],
    ];
    const byHash = new Map<string, string[]>();
    for (const [label, hash] of variants) byHash.set(hash, [...(byHash.get(hash) ?? []), label]);
    expect([...byHash.values()]).toEqual(variants.map(([label]) => [label]));
  });

  it('is what toCrowd returns, so equal snapshots hash alike and the snapshot id and version do not count', async () => {
    const m = new CrowdMapping();
    const s = snap({ firstName: 'Ann', lastName: null, attributes: { dept: 'Sales' }, groups: ['Staff'] });
    const a = await m.toCrowd(s);
    expect(a.hash).toBe(hashDesired({ ...base, 'first-name': 'Ann' }, { dept: ['Sales'] }, ['Staff'], ['last-name']));
    expect((await m.toCrowd({ ...s, id: '43', version: 9 })).hash).toBe(a.hash);
    expect((await m.toCrowd({ ...s, groups: ['STAFF'], attributes: { dept: ['Sales'] } })).hash).toBe(a.hash);
    expect((await m.toCrowd({ ...s, lastName: undefined })).hash).not.toBe(a.hash);
  });
});

describe('loading a mapping module', () => {
  const { file, path: inDir } = tempModules('crowd-mapping');

  it('is empty without a specifier', async () => {
    expect(await loadMappingModule(undefined)).toStrictEqual({});
    expect(await loadMappingModule('')).toStrictEqual({});
  });

  it('takes the hooks and a copy of attributeMap, by path, relative path or file: URL', async () => {
    const path = await file(
      'full.mjs',
      `export const attributeMap = { department: 'dept', costCentre: 'cost-centre' };
       export function alterCrowdUser(body, snapshot) { body['display-name'] = snapshot.username.toUpperCase(); }
       export const alterCrowdAttributes = (attributes, snapshot) => ({ ...attributes, 'employee-id': [snapshot.id] });
       export const alterRemoteUser = (remote) => remote;`,
    );
    for (const specifier of [path, relative(process.cwd(), path), pathToFileURL(path).href]) {
      const module = await loadMappingModule(specifier);
      expect([specifier, Object.keys(module).sort(), module.attributeMap])
        .toStrictEqual([specifier, ['alterCrowdAttributes', 'alterCrowdUser', 'alterRemoteUser', 'attributeMap'], { department: 'dept', costCentre: 'cost-centre' }]);
      expect(await new CrowdMapping(module).toCrowd(snap({ attributes: { department: 'Sales' } }))).toStrictEqual(desired({
        body: { ...base, 'display-name': 'ALICE' }, attributes: { dept: ['Sales'], 'employee-id': ['42'] }, managedAttributes: ['dept', 'cost-centre'],
      }));
    }
  });

  it('reads exports from a default export object, named exports first, and needs none of them', async () => {
    const path = await file(
      'default.mjs',
      `export default { attributeMap: { a: 'b' }, alterCrowdUser: (b) => ({ ...b, 'first-name': 'default' }) };
       export const alterCrowdUser = (b) => ({ ...b, 'first-name': 'named' });`,
    );
    const module = await loadMappingModule(path);
    expect(module.attributeMap).toStrictEqual({ a: 'b' });
    expect((await new CrowdMapping(module).toCrowd(snap())).body).toStrictEqual({ ...base, 'first-name': 'named' });
    // Every export is optional: a module without any leaves the defaults.
    expect(await loadMappingModule(await file('empty.mjs', 'export {};'))).toStrictEqual({});
    expect(await loadMappingModule(await file('empty-map.mjs', 'export const attributeMap = {};'))).toStrictEqual({ attributeMap: {} });
  });

  it('refuses a hook that is not a function and an attributeMap that is not app → Crowd names', async () => {
    const notAMap = 'exports attributeMap, but it is not an object of app attribute → Crowd attribute names';
    const cases: [string, string, string][] = [
      ['hook.mjs', `export const alterCrowdUser = { 'display-name': 'x' };`, 'exports alterCrowdUser, but it is not a function'],
      ['default-hook.mjs', `export default { alterRemoteUser: 'yes' };`, 'exports alterRemoteUser, but it is not a function'],
      ['attributes-hook.mjs', `export const alterCrowdAttributes = null;`, 'exports alterCrowdAttributes, but it is not a function'],
      ['string-map.mjs', `export const attributeMap = 'dept';`, notAMap],
      ['null-map.mjs', `export const attributeMap = null;`, notAMap],
      ['number-value.mjs', `export const attributeMap = { department: 'dept', team: 5 };`, notAMap],
      ['empty-value.mjs', `export const attributeMap = { department: '' };`, notAMap],
      ['list-map.mjs', `export const attributeMap = ['dept'];`, notAMap],
      // A misspelt hook would load without a word and never run.
      ['misspelt.mjs', `export const attributemap = {}; export function alterCrowdUsr() {}`,
        'exports alterCrowdUsr, attributemap, which idsync does not read (it reads alterCrowdUser, alterCrowdAttributes, alterRemoteUser, attributeMap); a misspelt name would silently not run'],
      ['twice.mjs', `export const attributeMap = { a: 'dept', b: 'dept', c: 'team', d: 'team', e: 'x' };`, 'maps a and b onto dept; c and d onto team: each Crowd attribute takes one app attribute'],
    ];
    for (const [name, source, problem] of cases) {
      const path = await file(name, source);
      expect(await failure(loadMappingModule(path))).toEqual(['Error', `the Crowd mapping module ${path} ${problem}`]);
    }
  });

  it('names the module it cannot load', async () => {
    const missing = inDir('missing.mjs');
    // The rest of the message is Node's own wording.
    const prefix = `cannot load the Crowd mapping module ${missing}: `;
    const [kind, message] = (await failure(loadMappingModule(missing)))!;
    expect([kind, message?.slice(0, prefix.length), (message?.length ?? 0) > prefix.length]).toEqual(['Error', prefix, true]);
    const syntax = await file('syntax.mjs', 'export const = ;');
    expect((await failure(loadMappingModule(syntax)))?.[1]).toMatch(/^cannot load the Crowd mapping module .*syntax\.mjs: \S/);
  });
});
