import { PermanentError, TransientError } from '../../shared/errors.js';
import { traceCommand } from '../../cli/trace.js';
import { traceUser, type UserTrace } from '../../operators/trace.js';
import { PlanStore, emptyCounts, newPlanId } from '../../workers/sync/plan-store.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL } from '../helpers/redis.js';
import { captureIO } from './audit-seed.js';

const user = (id: string, version = 1) => ({ id, username: `user-${id}`, email: `${id}@example.com`, version });
const PASSWORD = 'Tr4ce-Never-Shows-9x!';

describe('idsync trace', () => {
  let h: Harness;
  let connector: FakeConnector;
  const trace = (id: string): Promise<UserTrace> => traceUser({ redis: h.redis, prefix: h.prefix }, id, { targets: ['entra'] });

  beforeAll(async () => {
    connector = new FakeConnector('entra');
    h = await startHarness({ connector });
    // u1: a transient failure, then applied on the retry. u2: refused for good.
    connector.then(() => { throw new TransientError('503 from Graph'); });
    await h.push(user('u1'));
    connector.then(() => { throw new PermanentError('Graph refused: Property "mail", invalid,\nsee details'); });
    await expect(h.push(user('u2'))).rejects.toThrow(/Graph refused/);
  });

  afterAll(() => h.close());

  it('shows the link, the job with its attempts, and the audit entries in time order for a user pushed after a failed attempt', async () => {
    const t = await trace('u1');
    expect(t.links).toEqual([expect.objectContaining({ target: 'entra', linked: true, remoteId: 'remote-u1', remoteName: 'user-u1', version: 1, writtenHash: false, readHash: false })]);
    expect(t.jobs).toEqual([expect.objectContaining({ queue: 'entra', name: 'push-user', state: 'completed', attemptsMade: 2, data: expect.objectContaining({ op: 'upsert', version: 1, username: 'user-u1' }) })]);
    expect(t.jobs[0]!.result).toMatchObject({ outcome: 'applied', operation: 'create' });
    expect(t.jobs[0]).toMatchObject({ earlierError: '503 from Graph' });
    expect(t.jobs[0]!.failedReason).toBeUndefined();
    expect(t.audit.map((e) => [e.status, e.attempt, e.error])).toEqual([['retrying', 1, '503 from Graph'], ['succeeded', 2, undefined]]);
    expect(t.audit.every((e) => e.jobId === t.jobs[0]!.id)).toBe(true);

    const times = t.timeline.map((e) => e.time);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const texts = t.timeline.map((e) => `${e.source} ${e.text}`);
    const at = (pattern: RegExp) => texts.findIndex((s) => pattern.test(s));
    // A failed attempt is audited as `upsert`: the connector had not said what it would do.
    expect(at(/^job push-user job \S+ enqueued/)).toBe(0);
    expect(at(/^audit upsert retrying \(attempt 1, \d+ ms, job \S+\) — 503 from Graph$/)).toBeGreaterThan(0);
    expect(at(/^audit upsert retrying/)).toBeLessThan(at(/^audit create succeeded \(attempt 2/));
    expect(at(/^audit create succeeded/)).toBeLessThan(at(/^job push-user job \S+ completed after 2 of 5 attempts$/));
    expect(t.diagnosis).toEqual([{ target: 'entra', ok: true, text: expect.stringMatching(/^in step: linked as user-u1, version 1 applied; last create succeeded at /) }]);
  });

  it('diagnoses a failed job with its reason, in JSON and as the last line of the text', async () => {
    const t = await trace('u2');
    expect(t.links[0]).toMatchObject({ linked: false });
    expect(t.jobs[0]).toMatchObject({ state: 'failed', attemptsMade: 1, failedReason: 'Graph refused: Property "mail", invalid,\nsee details' });
    expect(t.diagnosis[0]).toEqual({ target: 'entra', ok: false, text: 'last entra job failed: Graph refused: Property "mail", invalid,\\nsee details' });

    const io = captureIO();
    expect(await traceCommand('u2', {}, { REDIS_URL, IDSYNC_PREFIX: h.prefix }, io)).toBe(0);
    const lines = io.out().trimEnd().split('\n');
    expect(lines[0]).toBe('user u2');
    expect(io.out()).toMatch(/\nlinks\n {2}crowd {2}not linked\n {2}entra {2}not linked\n/);
    expect(io.out()).toMatch(/\n {2}\S+Z {2}audit {2}entra {2}upsert failed \(attempt 1, \d+ ms, job \S+\) — Graph refused/);
    // With no target configured in the environment, every target is diagnosed.
    expect(lines.at(-1)).toBe('diagnosis: crowd: no link to crowd and no push job: the user was never pushed to crowd; entra: last entra job failed: Graph refused: Property "mail", invalid,\\nsee details');
  });

  it('says a user was never pushed, and names a plan conflict once a plan lists one', async () => {
    expect((await trace('u3')).summary).toBe('entra: no link to entra and no push job: the user was never pushed to entra');

    const plans = new PlanStore(h.redis, h.prefix);
    const id = newPlanId('entra');
    const now = Date.now();
    await plans.create({ id, target: 'entra', status: 'applied', dryRun: false, createdAt: now, updatedAt: now, counts: { ...emptyCounts(), conflict: 1, create: 1 }, linked: 0, removals: 0, threshold: { absolute: 100, percent: 10 } });
    await plans.appendEntries(id, [
      { action: 'create', appUserId: 'u30', username: 'user-u30' },
      { action: 'conflict', appUserId: 'u3', remoteName: 'u3@contoso.com', reason: 'two remote users match by mail' },
    ]);
    const t = await trace('u3');
    expect(t.plans).toEqual([expect.objectContaining({ planId: id, action: 'conflict', remoteName: 'u3@contoso.com', reason: 'two remote users match by mail' })]);
    expect(t.timeline).toEqual([expect.objectContaining({ source: 'plan', text: `plan ${id} (applied): conflict u3@contoso.com — two remote users match by mail` })]);
    expect(t.diagnosis[0]).toMatchObject({ ok: false, text: `conflict in plan ${id}, not created: two remote users match by mail` });
  });

  it('shows a waiting password job as [encrypted]: neither the password nor its envelope appears', async () => {
    await h.worker.queue.pause();
    const [enqueued] = await h.client.passwordChanged({ id: 'u1' }, PASSWORD);
    const raw = JSON.parse((await h.redis.hget(`${h.prefix}:entra:${enqueued!.jobId}`, 'data'))!) as { password: Record<string, string> };

    const io = captureIO();
    expect(await traceCommand('u1', { json: true }, { REDIS_URL, IDSYNC_PREFIX: h.prefix }, io)).toBe(0);
    const json = io.out();
    const t = JSON.parse(json) as UserTrace;
    expect(t.jobs.find((j) => j.name === 'set-password')).toMatchObject({ id: enqueued!.jobId, state: 'waiting', data: { password: '[encrypted]' }, via: ['deduplication'] });
    expect(t.diagnosis.find((d) => d.target === 'entra')).toMatchObject({ ok: true, text: `set-password job ${enqueued!.jobId} is waiting, not applied yet` });
    expect(json).not.toContain(PASSWORD);
    for (const field of ['iv', 'tag', 'ct']) expect(json).not.toContain(raw.password[field]!);

    const text = captureIO();
    await traceCommand('u1', {}, { REDIS_URL, IDSYNC_PREFIX: h.prefix }, text);
    expect(text.out()).toContain('password [encrypted]');
    for (const field of ['iv', 'tag', 'ct']) expect(text.out()).not.toContain(raw.password[field]!);
  });
});
