// The helpers both connectors' mapping modules share (workers/runtime/mapping-module.ts), on their
// own: loading a module from a path or file: URL (real files in a temporary folder), the refusals
// and their exact texts, hook picking and running, the written-hash, and how multi-valued
// attributes compare (Crowd keeps one attribute's values as a set, ignoring case for duplicates).
import { createHash } from 'node:crypto';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PermanentError } from '../../shared/errors.js';
import {
  importMappingModule,
  pickHooks,
  refuseSharedTargets,
  refuseUnknownExports,
  runHook,
  sameValues,
  stableHash,
  uniqueCaseless,
} from '../../workers/runtime/mapping-module.js';
import { failure, tempModules } from '../helpers/mapping-modules.js';

describe('importMappingModule', () => {
  const { file, path } = tempModules('mapping-module');

  it('loads a path relative to the working directory, an absolute path and a file: URL alike', async () => {
    const absolute = await file('named.mjs', 'export const attributeMap = { dept: "department" };\nexport function alterCrowdUser(u) { return u; }');
    for (const specifier of [absolute, relative(process.cwd(), absolute), pathToFileURL(absolute).href]) {
      const exports = await importMappingModule('Crowd', specifier);
      expect([specifier, Object.keys(exports).sort()]).toEqual([specifier, ['alterCrowdUser', 'attributeMap']]);
      expect(exports['attributeMap']).toEqual({ dept: 'department' });
    }
  });

  it('spreads a default export object under the named exports, the named ones winning', async () => {
    const specifier = await file('default.mjs', [
      'export default { attributeMap: { a: "fromDefault" }, alterRemoteUser: () => "default hook" };',
      'export const attributeMap = { a: "named" };',
    ].join('\n'));
    const exports = await importMappingModule('Entra', specifier);
    expect(Object.keys(exports).sort()).toEqual(['alterRemoteUser', 'attributeMap', 'default']);
    expect(exports['attributeMap']).toEqual({ a: 'named' });
    expect((exports['alterRemoteUser'] as () => string)()).toBe('default hook');
  });

  it('leaves a default export that is not an object (a function, null) as it is', async () => {
    const fn = await file('default-fn.mjs', 'export default function hook() {}\nhook.attributeMap = { a: "b" };');
    const fnExports = await importMappingModule('Crowd', fn);
    expect(Object.keys(fnExports)).toEqual(['default']);
    expect(typeof fnExports['default']).toBe('function');
    const nul = await file('default-null.mjs', 'export default null;\nexport const attributeMap = { a: "b" };');
    const nulExports = await importMappingModule('Crowd', nul);
    expect(Object.keys(nulExports).sort()).toEqual(['attributeMap', 'default']);
    expect(nulExports['default']).toBeNull();
  });

  it('names the target, the specifier and the cause when the module cannot be loaded', async () => {
    const missing = path('missing.mjs');
    const [kind, message] = (await failure(importMappingModule('Entra', missing)))!;
    expect(kind).toBe('Error');
    expect(message.startsWith(`cannot load the Entra mapping module ${missing}: `)).toBe(true);
    expect(message).toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND|missing\.mjs/);
    const broken = await file('broken.mjs', 'export const = ;');
    expect((await failure(importMappingModule('Crowd', broken)))?.[1]).toMatch(new RegExp(`^cannot load the Crowd mapping module ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\S`));
  });
});

describe('refuseUnknownExports', () => {
  const known = ['alterCrowdUser', 'attributeMap'] as const;

  it('accepts known exports, a default export and no exports at all', () => {
    expect(() => refuseUnknownExports('Crowd', 'm.mjs', { alterCrowdUser: () => 1, attributeMap: {}, default: {} }, known)).not.toThrow();
    expect(() => refuseUnknownExports('Crowd', 'm.mjs', {}, known)).not.toThrow();
  });

  it('lists every export it does not read, and what it does read', () => {
    expect(() => refuseUnknownExports('Crowd', 'm.mjs', { attributemap: {}, alterCrowdUser: () => 1, alterCrowduser: () => 1 }, known)).toThrow(new Error(
      'the Crowd mapping module m.mjs exports attributemap, alterCrowduser, which idsync does not read (it reads alterCrowdUser, attributeMap); a misspelt name would silently not run',
    ));
    expect(() => refuseUnknownExports('Entra', 'x.mjs', { extra: 1 }, ['a'])).toThrow(new Error(
      'the Entra mapping module x.mjs exports extra, which idsync does not read (it reads a); a misspelt name would silently not run',
    ));
  });
});

describe('refuseSharedTargets', () => {
  it('accepts one app attribute per remote name, and an empty map', () => {
    expect(() => refuseSharedTargets('Crowd', 'm.mjs', { dept: 'department', site: 'location' }, 'Crowd attribute')).not.toThrow();
    expect(() => refuseSharedTargets('Crowd', 'm.mjs', {}, 'Crowd attribute')).not.toThrow();
  });

  it('names every remote name that two or more app attributes share', () => {
    expect(() => refuseSharedTargets('Entra', 'm.mjs', { dept: 'department', team: 'department', site: 'officeLocation' }, 'Graph property')).toThrow(new Error(
      'the Entra mapping module m.mjs maps dept and team onto department: each Graph property takes one app attribute',
    ));
    expect(() => refuseSharedTargets('Crowd', 'm.mjs', { a: 'x', b: 'y', c: 'x', d: 'y', e: 'x' }, 'Crowd attribute')).toThrow(new Error(
      'the Crowd mapping module m.mjs maps a and c and e onto x; b and d onto y: each Crowd attribute takes one app attribute',
    ));
  });
});

describe('pickHooks', () => {
  interface Hooks { first?: () => number; second?: () => number; third?: () => number }

  it('keeps the named hooks that are exported and nothing else', () => {
    const first = () => 1;
    const third = () => 3;
    const picked = pickHooks<Hooks>('Crowd', 'm.mjs', { first, third, attributeMap: {}, other: () => 0 }, ['first', 'second', 'third']);
    expect(picked).toStrictEqual({ first, third });
    expect(Object.keys(picked)).toEqual(['first', 'third']);
    expect(pickHooks<Hooks>('Crowd', 'm.mjs', {}, ['first'])).toStrictEqual({});
  });

  it('refuses a hook that is not a function, null included', () => {
    for (const value of ['text', null, 0, {}]) {
      expect(() => pickHooks<Hooks>('Entra', 'm.mjs', { first: () => 1, second: value }, ['first', 'second'])).toThrow(new Error(
        'the Entra mapping module m.mjs exports second, but it is not a function',
      ));
    }
  });
});

describe('runHook', () => {
  it('returns what the hook returns, sync or async', async () => {
    expect(await runHook('Crowd', 'alterCrowdUser', () => 42)).toBe(42);
    expect(await runHook('Crowd', 'alterCrowdUser', async () => 'later')).toBe('later');
    expect(await runHook('Crowd', 'alterCrowdUser', () => undefined)).toBeUndefined();
  });

  it('fails the job for good with the hook named, whatever it throws or rejects with', async () => {
    await expect(failure(runHook('Crowd', 'alterCrowdUser', () => { throw new TypeError('x is undefined'); })))
      .resolves.toEqual(['PermanentError', "the Crowd mapping module's alterCrowdUser failed: x is undefined"]);
    await expect(failure(runHook('Entra', 'alterRemoteUser', async () => { throw new Error('nope'); })))
      .resolves.toEqual(['PermanentError', "the Entra mapping module's alterRemoteUser failed: nope"]);
    await expect(failure(runHook('Entra', 'alterEntraUser', () => Promise.reject('a plain string'))))
      .resolves.toEqual(['PermanentError', "the Entra mapping module's alterEntraUser failed: a plain string"]);
    await expect(runHook('Crowd', 'h', () => Promise.reject(7))).rejects.toBeInstanceOf(PermanentError);
  });
});

describe('stableHash', () => {
  it('is the first 32 characters of the base64url SHA-256 of the JSON form', () => {
    const canonical = ['alice', null, true, [['dept', ['IT']]]];
    const full = createHash('sha256').update('["alice",null,true,[["dept",["IT"]]]]').digest('base64url');
    expect(stableHash(canonical)).toBe(full.slice(0, 32));
    expect(stableHash(canonical)).toHaveLength(32);
    expect(stableHash([])).toBe('T1PNoYwrqgwDVLtfmj7L5e0Sq02OEbqH');
  });

  it('is equal for equal forms and differs when anything differs, order included', () => {
    expect(stableHash(['a', 1])).toBe(stableHash(['a', 1]));
    expect(stableHash(['a', 1])).not.toBe(stableHash([1, 'a']));
    expect(stableHash(['a', null])).not.toBe(stableHash(['a']));
  });
});

describe('uniqueCaseless', () => {
  it('keeps the first spelling of each name, ignoring case, in first-seen order', () => {
    expect(uniqueCaseless(['Alice', 'bob', 'ALICE', 'alice', 'Bob', 'carol'])).toEqual(['Alice', 'bob', 'carol']);
    expect(uniqueCaseless([])).toEqual([]);
    expect(uniqueCaseless(['x'])).toEqual(['x']);
  });
});

describe('sameValues', () => {
  it('compares distinct values regardless of order', () => {
    expect(sameValues([], [])).toBe(true);
    expect(sameValues(['a', 'b'], ['b', 'a'])).toBe(true);
    expect(sameValues(['b', 'c', 'a'], ['a', 'c', 'b'])).toBe(true);
  });

  it('drops duplicates ignoring case, as Crowd stores them', () => {
    expect(sameValues(['a', 'A', 'b'], ['b', 'a'])).toBe(true);
    expect(sameValues(['x', 'x', 'x'], ['x'])).toBe(true);
  });

  it('tells lists apart by a missing, extra or different value, or a change of case', () => {
    expect(sameValues(['a'], ['a', 'b'])).toBe(false);
    expect(sameValues(['a', 'b'], ['a'])).toBe(false);
    expect(sameValues(['a'], [])).toBe(false);
    expect(sameValues([], ['a'])).toBe(false);
    expect(sameValues(['a', 'b'], ['a', 'c'])).toBe(false);
    expect(sameValues(['Admin'], ['admin'])).toBe(false);
  });

  it('leaves its arguments as they were', () => {
    const a = ['b', 'a'];
    const b = ['a', 'b'];
    sameValues(a, b);
    expect([a, b]).toEqual([['b', 'a'], ['a', 'b']]);
  });
});
