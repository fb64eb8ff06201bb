// The optional-field contract on Entra: an omitted name is not PATCHed (Graph keeps its value);
// null or "" PATCHes null. displayName cannot be cleared in Graph (a required property), so a
// cleared one falls back to the default ("first last", else the username), as on create.
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, Graph, setup, startEmulator, type Setup } from './helpers.js';

const base = { id: 'u-1', username: 'alice', email: 'alice@example.com' };
const full = { ...base, firstName: 'Alice', lastName: 'Liddell', displayName: 'Ms Liddell' };
const upn = `alice@${DOMAIN}`;

describe('Entra worker: omitted and cleared optional fields', () => {
  let em: EntraEmulator;
  let graph: Graph;
  let s: Setup | undefined;
  beforeAll(async () => {
    em = await startEmulator();
    graph = new Graph(em);
  });
  afterEach(async () => {
    await s?.close();
    s = undefined;
    em.reset();
  });
  afterAll(() => em.close());

  const names = async () => {
    const u = (await graph.user(upn)) as Record<string, unknown>;
    return { givenName: u['givenName'] ?? null, surname: u['surname'] ?? null, displayName: u['displayName'] };
  };

  it('firstName: omitted leaves givenName alone; null clears it', async () => {
    s = await setup(em);
    await s.h.push(full);
    const { firstName: _f, ...withoutFirst } = full;
    await expect(s.h.push(withoutFirst)).resolves.toMatchObject({ operation: 'noop' });
    expect(await names()).toEqual({ givenName: 'Alice', surname: 'Liddell', displayName: 'Ms Liddell' });
    await expect(s.h.push({ ...full, firstName: null })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['firstName'] });
    expect(await names()).toEqual({ givenName: null, surname: 'Liddell', displayName: 'Ms Liddell' });
    await expect(s.h.push({ ...full, firstName: '' })).resolves.toMatchObject({ operation: 'noop' });
  });

  it('lastName: omitted leaves surname alone; null clears it', async () => {
    s = await setup(em);
    await s.h.push(full);
    const { lastName: _l, ...withoutLast } = full;
    await expect(s.h.push(withoutLast)).resolves.toMatchObject({ operation: 'noop' });
    expect(await names()).toEqual({ givenName: 'Alice', surname: 'Liddell', displayName: 'Ms Liddell' });
    await expect(s.h.push({ ...full, lastName: '' })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['lastName'] });
    expect(await names()).toEqual({ givenName: 'Alice', surname: null, displayName: 'Ms Liddell' });
  });

  it('displayName: omitted is not PATCHed, even when the names change; null falls back to the default', async () => {
    s = await setup(em);
    await s.h.push(full);
    const { displayName: _d, ...withoutDisplay } = full;
    await expect(s.h.push(withoutDisplay)).resolves.toMatchObject({ operation: 'noop' });
    await expect(s.h.push({ ...withoutDisplay, firstName: 'Alicia' })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['firstName'] });
    expect(await names()).toEqual({ givenName: 'Alicia', surname: 'Liddell', displayName: 'Ms Liddell' });

    await expect(s.h.push({ ...full, firstName: 'Alicia', displayName: null })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['displayName'] });
    expect(await names()).toEqual({ givenName: 'Alicia', surname: 'Liddell', displayName: 'Alicia Liddell' });
    await expect(s.h.push({ ...base, firstName: null, lastName: null, displayName: '' })).resolves.toMatchObject({ operation: 'update' });
    expect(await names()).toEqual({ givenName: null, surname: null, displayName: 'alice' });
  });

  it('a new user without a displayName gets the default, since Graph requires one', async () => {
    s = await setup(em);
    await s.h.push({ ...base, firstName: 'Alice', lastName: 'Liddell' });
    expect(await names()).toEqual({ givenName: 'Alice', surname: 'Liddell', displayName: 'Alice Liddell' });
  });
});
