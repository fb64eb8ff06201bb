// The optional-field contract on Crowd: an omitted name keeps Crowd's value; null or "" clears
// it, and Crowd refills it by its own rule (the display name follows the names, the last name
// is never blank, a blank first name is split off the display name).
import type { CrowdEmulator } from '../../../emulators/crowd/index.js';
import { CrowdRest, routeDelta, setup, startEmulator, type Setup } from './helpers.js';

const base = { id: 'u-1', username: 'alice', email: 'alice@example.com' };
const full = { ...base, firstName: 'Alice', lastName: 'Liddell', displayName: 'Ms Liddell' };

describe('Crowd worker: omitted and cleared optional fields', () => {
  let em: CrowdEmulator;
  let rest: CrowdRest;
  let s: Setup | undefined;
  beforeAll(async () => {
    em = await startEmulator();
    rest = new CrowdRest(em);
  });
  afterEach(async () => {
    await s?.close();
    s = undefined;
    em.reset();
  });
  afterAll(() => em.close());

  const names = async () => {
    const u = await rest.user('alice');
    return { first: u!['first-name'], last: u!['last-name'], display: u!['display-name'] };
  };

  it('firstName: omitted keeps Crowd\'s; null clears it (nothing to split off a one-word display name)', async () => {
    s = await setup(em);
    await s.h.push({ ...full, displayName: 'Liddell' });
    const { firstName: _f, ...withoutFirst } = { ...full, displayName: 'Liddell' };
    await expect(s.h.push(withoutFirst)).resolves.toMatchObject({ operation: 'noop' });
    expect(await names()).toEqual({ first: 'Alice', last: 'Liddell', display: 'Liddell' });

    await expect(s.h.push({ ...full, displayName: 'Liddell', firstName: null })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['firstName'] });
    expect(await names()).toEqual({ first: '', last: 'Liddell', display: 'Liddell' });
    // Idempotent: Crowd now holds what its rule makes of the clear.
    const before = em.stats().byRoute;
    await expect(s.h.push({ ...full, displayName: 'Liddell', firstName: '' })).resolves.toMatchObject({ operation: 'noop' });
    expect(routeDelta(em, before)).toEqual({ 'GET user': 1 });
  });

  it('firstName: null with a two-word display name gets the display name\'s first word, as Crowd does', async () => {
    s = await setup(em);
    await s.h.push(full);
    await expect(s.h.push({ ...full, firstName: null })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['firstName'] });
    expect(await names()).toEqual({ first: 'Ms', last: 'Liddell', display: 'Ms Liddell' });
    await expect(s.h.push({ ...full, firstName: null })).resolves.toMatchObject({ operation: 'noop' });
  });

  it('lastName: omitted keeps Crowd\'s; null cannot leave it blank, Crowd splits it off the display name', async () => {
    s = await setup(em);
    await s.h.push(full);
    const { lastName: _l, ...withoutLast } = full;
    await expect(s.h.push({ ...withoutLast, firstName: 'Alicia' })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['firstName'] });
    expect(await names()).toEqual({ first: 'Alicia', last: 'Liddell', display: 'Ms Liddell' });

    await expect(s.h.push({ ...full, displayName: 'Alice Hargreaves', lastName: null })).resolves.toMatchObject({ operation: 'update' });
    expect(await names()).toEqual({ first: 'Alice', last: 'Hargreaves', display: 'Alice Hargreaves' });
    await expect(s.h.push({ ...full, displayName: 'Alice Hargreaves', lastName: null })).resolves.toMatchObject({ operation: 'noop' });
  });

  it('displayName: omitted keeps Crowd\'s even when the names change; null makes it follow the names', async () => {
    s = await setup(em);
    await s.h.push(full);
    const { displayName: _d, ...withoutDisplay } = full;
    await expect(s.h.push({ ...withoutDisplay, firstName: 'Alicia' })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['firstName'] });
    expect(await names()).toEqual({ first: 'Alicia', last: 'Liddell', display: 'Ms Liddell' });

    await expect(s.h.push({ ...full, firstName: 'Alicia', displayName: null })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['displayName'] });
    expect(await names()).toEqual({ first: 'Alicia', last: 'Liddell', display: 'Alicia Liddell' });
    await expect(s.h.push({ ...full, firstName: 'Alicia', displayName: '' })).resolves.toMatchObject({ operation: 'noop' });
  });

  it('a new user without a display name gets Crowd\'s derived one', async () => {
    s = await setup(em);
    await s.h.push({ ...base, firstName: 'Alice', lastName: 'Liddell' });
    expect(await names()).toEqual({ first: 'Alice', last: 'Liddell', display: 'Alice Liddell' });
  });
});
