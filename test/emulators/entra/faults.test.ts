// The malformed-reply knob: what a proxy's sign-in page or a cut connection does to Graph's
// replies, deterministic through `malformedNext` and settable through the admin endpoint.
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, GRAPH_SCOPE, newUser, secretCredential, startTestEmulator } from './helpers.js';

let emu: EntraEmulator;
let token: string;

beforeAll(async () => {
  emu = await startTestEmulator();
  token = (await secretCredential(emu).getToken(GRAPH_SCOPE))!.token;
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

/** The reply as sent, body unparsed: a garbled body must reach the client as it is. */
async function send(method: string, path: string, body?: unknown): Promise<{ status: number; type: string; text: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${emu.info.graphBaseUrl}v1.0${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

const parses = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

describe('malformed replies', () => {
  test('is settable through the admin endpoint, and refused when out of range', async () => {
    const post = (body: unknown) => fetch(`${emu.adminUrl}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const ok = await post({ malformedNext: 1, malformedKind: 'html200', malformedRate: 0.5 });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ malformedNext: 1, malformedKind: 'html200', malformedRate: 0.5 });
    expect((await post({ malformedKind: 'xml' })).status).toBe(400);
    expect((await post({ malformedRate: 2 })).status).toBe(400);
    expect((await post({ malformedNext: -1 })).status).toBe(400);
  });

  test('html200: a sign-in page with a 200, and the request never reaches Graph', async () => {
    emu.setFaults({ malformedNext: 1, malformedKind: 'html200' });
    const page = await send('POST', '/users', newUser('pat'));
    expect(page).toMatchObject({ status: 200, type: expect.stringMatching(/^text\/html/) });
    expect(page.text).toMatch(/<title>Sign in to your account<\/title>/);
    expect(emu.stats()).toMatchObject({ users: 0, malformed: 1 });
    expect((await send('GET', '/users')).status).toBe(200);
  });

  test('truncated: the request is applied, its JSON cut in half; a 204 becomes a 200 with the start of an entity', async () => {
    emu.setFaults({ malformedNext: 1, malformedKind: 'truncated' });
    const created = await send('POST', '/users', newUser('pat'));
    expect(created.status).toBe(201);
    expect(created.type).toMatch(/json/);
    expect(parses(created.text)).toBe(false);
    expect(emu.stats().users).toBe(1);

    const id = (JSON.parse((await send('GET', `/users/pat@${DOMAIN}`)).text) as { id: string }).id;
    emu.setFaults({ malformedNext: 1 });
    const patched = await send('PATCH', `/users/${id}`, { jobTitle: 'Pilot' });
    expect(patched.status).toBe(200);
    expect(parses(patched.text)).toBe(false);
    expect(JSON.parse((await send('GET', `/users/${id}?$select=jobTitle`)).text)).toMatchObject({ jobTitle: 'Pilot' });
    expect(emu.stats().malformed).toBe(2);
  });

  test('a $batch reply is garbled whole and counts once; its items are Graph\'s own JSON', async () => {
    emu.setFaults({ malformedNext: 1, malformedKind: 'truncated' });
    const requests = ['a', 'b', 'c'].map((name, i) => ({ id: String(i + 1), method: 'POST', url: '/users', headers: { 'Content-Type': 'application/json' }, body: newUser(name) }));
    const cut = await send('POST', '/$batch', { requests });
    expect(cut.status).toBe(200);
    expect(parses(cut.text)).toBe(false);
    expect(emu.stats()).toMatchObject({ users: 3, malformed: 1, batchItems: 3 });
    expect(emu.faults.malformedNext).toBe(0);

    const whole = await send('POST', '/$batch', { requests: [{ id: '1', method: 'GET', url: '/users?$top=1' }] });
    expect(JSON.parse(whole.text)).toMatchObject({ responses: [{ id: '1', status: 200, body: { value: [expect.any(Object)] } }] });
  });
});
