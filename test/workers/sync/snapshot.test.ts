// The push snapshot a full sync or provisioning builds from an application row: the same
// checks as a client's event, every field carried over, and the clock only where the row has
// no version. A wrong snapshot is pushed to every target, so each result is compared whole.
import type { AppUser } from '../../../workers/app/directory.js';
import { toSnapshot } from '../../../workers/sync/snapshot.js';

// The row's absent names come through as absent keys (dropped on the way to JSON); groups and
// attributes are not even that.
const NO_NAMES = { firstName: undefined, lastName: undefined, displayName: undefined };
const row = (over: Partial<AppUser> = {}): AppUser => ({ id: 'a1', username: 'alice', email: 'alice@example.com', active: true, version: 7, ...over });

describe('toSnapshot', () => {
  it('carries every profile field, groups and attributes over as they are', () => {
    const user = row({
      firstName: 'Alice', lastName: 'Smith', displayName: 'Alice Smith', active: false,
      groups: ['staff', 'admins'], attributes: { dept: 'ops', tags: ['a', 'b'] },
    });
    expect(toSnapshot(user, 99)).toStrictEqual({
      ok: true,
      snapshot: {
        id: 'a1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Smith', displayName: 'Alice Smith',
        active: false, groups: ['staff', 'admins'], attributes: { dept: 'ops', tags: ['a', 'b'] }, version: 7,
      },
    });
  });

  it('leaves out what the row does not have, rather than sending it empty', () => {
    expect(toSnapshot(row(), 99)).toStrictEqual({ ok: true, snapshot: { id: 'a1', username: 'alice', email: 'alice@example.com', ...NO_NAMES, active: true, version: 7 } });
  });

  it('keeps fields the row cleared, so the push clears them on the target', () => {
    const user = row({ firstName: null, lastName: '', displayName: null } as unknown as Partial<AppUser>);
    expect(toSnapshot(user, 99)).toStrictEqual({
      ok: true,
      snapshot: { id: 'a1', username: 'alice', email: 'alice@example.com', firstName: null, lastName: '', displayName: null, active: true, version: 7 },
    });
  });

  it('keeps empty group and attribute lists: they mean "none", not "leave alone"', () => {
    expect(toSnapshot(row({ groups: [], attributes: {} }), 99)).toStrictEqual({
      ok: true,
      snapshot: { id: 'a1', username: 'alice', email: 'alice@example.com', ...NO_NAMES, active: true, groups: [], attributes: {}, version: 7 },
    });
  });

  it('takes the clock as the version only when the row has none; version 0 is a version', () => {
    expect(toSnapshot(row({ version: undefined }), 1234)).toStrictEqual({ ok: true, snapshot: { id: 'a1', username: 'alice', email: 'alice@example.com', ...NO_NAMES, active: true, version: 1234 } });
    expect(toSnapshot(row({ version: 0 }), 1234)).toStrictEqual({ ok: true, snapshot: { id: 'a1', username: 'alice', email: 'alice@example.com', ...NO_NAMES, active: true, version: 0 } });
  });

  it('reads the clock when no time is given', () => {
    const before = Date.now();
    const result = toSnapshot(row({ version: undefined }));
    const after = Date.now();
    if (!result.ok) throw new Error(result.reason);
    expect(result.snapshot.version).toBeGreaterThanOrEqual(before);
    expect(result.snapshot.version).toBeLessThanOrEqual(after);
  });

  it('reports every problem of a bad row by field, and builds no snapshot', () => {
    const user = row({ username: '', email: 'not-an-address', attributes: { '': 'x' } });
    expect(toSnapshot(user, 99)).toStrictEqual({
      ok: false,
      reason: 'invalid application data: username: must not be empty; email: must be an e-mail address; attributes: a key must not be empty',
    });
  });

  it('refuses a single bad field with its path and message only', () => {
    expect(toSnapshot(row({ groups: ['ok', ''] }), 99)).toStrictEqual({ ok: false, reason: 'invalid application data: groups.1: must not be empty' });
  });

  it('refuses a negative or fractional row version instead of pushing it', () => {
    expect(toSnapshot(row({ version: -1 }), 99)).toMatchObject({ ok: false, reason: expect.stringMatching(/^invalid application data: version: /) });
    expect(toSnapshot(row({ version: 1.5 }), 99)).toMatchObject({ ok: false, reason: expect.stringMatching(/^invalid application data: version: /) });
  });

  it('does not pass fields the push has no place for (roles, photo) into the snapshot', () => {
    const result = toSnapshot(row({ roles: ['admin'], photoHash: 'abc' }), 99);
    expect(result).toStrictEqual({ ok: true, snapshot: { id: 'a1', username: 'alice', email: 'alice@example.com', ...NO_NAMES, active: true, version: 7 } });
  });
});
