import fc from 'fast-check';
import { createSyncClient, ValidationError, type SyncClient } from '../../producers/index.js';
import { TEST_KEY } from '../helpers/harness.js';
import { REDIS_URL, deletePrefix, dumpPrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { FORBIDDEN_CHARS, invalidSnapshot, safeText, validSnapshot, type Defect } from './support/fuzz-inputs.js';
import { chaosSize, chaosTimeoutMs } from './support/scale.js';

/**
 * Fuzzing the client library: every invalid input to every public call rejects with a
 * ValidationError naming the bad field (never another error, never a value), and nothing
 * reaches Redis; every valid generated snapshot is accepted. The shared Redis under a
 * prefix of the test's own.
 */

const RUNS = chaosSize(1000, 10_000);
const TIMEOUT_MS = chaosTimeoutMs(60_000, 600_000);
const MARK = 'Mk9-secret-mark';

/** The rejection of `call`, which must be a ValidationError; its text must not hold `MARK`. */
async function rejection(call: () => Promise<unknown>): Promise<ValidationError> {
  let err: unknown;
  try {
    await call();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof ValidationError)) throw new Error(`expected a ValidationError, got ${err === undefined ? 'success' : String((err as Error)?.stack ?? err)}`);
  if (err.issues.length === 0) throw new Error('a ValidationError without issues');
  if (`${err.message}${JSON.stringify(err.issues)}`.includes(MARK)) throw new Error(`the error echoes the value: ${err.message}`);
  return err;
}

/** The defective value, when it is text long enough that finding it in a message means it was echoed. */
const echoable = (d: Defect): string | undefined => {
  const v = d.snapshot[d.field];
  return typeof v === 'string' && v.trim().length >= 6 ? v : undefined;
};

describe('fuzzing the client library', () => {
  const redis = workerRedis();
  let prefix: string;
  let client: SyncClient;
  beforeEach(() => {
    prefix = uniquePrefix('fuzz-client');
    client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd', 'entra'], secretKey: TEST_KEY, coalesceWindowMs: 0 });
  });
  afterEach(async () => {
    await client.close();
    await deletePrefix(redis, prefix);
  });
  afterAll(() => redis.quit());

  it(`rejects ${RUNS} snapshots with one planted defect, naming the field, through every call that takes one; nothing is enqueued`, async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(invalidSnapshot, fc.nat(3), fc.array(validSnapshot, { maxLength: 3 }), async (defect, via, others) => {
        const d = defect;
        seen.set(d.kind, (seen.get(d.kind) ?? 0) + 1);
        const user = d.snapshot as never;
        const err = await rejection(() =>
          via === 0 ? client.userChanged(user) : via === 1 ? client.userChangedMany([...others, user] as never) : client.userChangedMany([user]));
        const at = via === 1 ? others.length : 0;
        const expected = via === 0 ? d.field : ['users', at, d.field].filter((p) => p !== '').join('.');
        if (!err.issues.some((i) => i.path === expected)) throw new Error(`${d.kind}: expected an issue at "${expected}", got ${JSON.stringify(err.issues)}`);
        const value = echoable(d);
        if (value && `${err.message}${JSON.stringify(err.issues)}`.includes(value)) throw new Error(`${d.kind}: the error echoes the value`);
      }),
      { numRuns: RUNS },
    );
    expect(await dumpPrefix(redis, prefix)).toBe('');
    // Every kind of defect was tried.
    expect(seen.size).toBeGreaterThanOrEqual(12);
  }, TIMEOUT_MS);

  it(`rejects ${RUNS} bad references, passwords, scopes and options with a ValidationError; nothing is enqueued`, async () => {
    const badId = fc.oneof(
      fc.tuple(fc.constantFrom(...FORBIDDEN_CHARS), safeText(40)).map(([ch, s]) => `${MARK}${s}${ch}`),
      fc.constant('\u{1f600}'.repeat(129)),
      fc.constantFrom('', '  '),
      fc.oneof(fc.integer(), fc.constant(null), fc.object({ maxDepth: 1 })),
    );
    const badTimeout = fc.oneof(fc.string(), fc.integer({ max: 0 }), fc.double({ noInteger: true }), fc.integer({ min: 3_600_001 }), fc.constant(null), fc.object({ maxDepth: 0 }));
    const badPassword = fc.oneof(fc.constant(''), fc.constant(`${MARK}\ud800`), fc.constant('x'.repeat(1025)), fc.integer(), fc.constant(null));
    const calls = fc.oneof(
      badId.map((id) => ['userDeleted', () => client.userDeleted({ id } as never)] as const),
      badId.map((username) => ['userDeleted', () => client.userDeleted({ id: 'u-1', username } as never)] as const),
      badId.map((id) => ['passwordChanged', () => client.passwordChanged({ id } as never, 'pw-ok-1')] as const),
      badPassword.map((pw) => ['passwordChanged', () => client.passwordChanged({ id: 'u-1' }, pw as never)] as const),
      badId.map((id) => ['pull', () => client.pull({ id } as never)] as const),
      fc.anything().map((targets) => ['pull', () => client.pull({ id: 'u-1' }, { targets: Array.isArray(targets) || targets === undefined ? ['ldap'] : targets } as never)] as const),
      badId.map((id) => ['refresh', () => client.refresh({ id } as never, { target: 'crowd' })] as const),
      badTimeout.map((timeoutMs) => ['refresh', () => client.refresh({ id: 'u-1' }, { target: 'crowd', timeoutMs } as never)] as const),
      fc.anything().map((target) => ['refresh', () => client.refresh({ id: 'u-1' }, { target } as never)] as const),
      badId.map((id) => ['provision', () => client.provision({ ids: [id] } as never)] as const),
      fc.anything().map((scope) => ['provision', () => client.provision((scope === 'all' ? {} : scope) as never)] as const),
      fc.anything().map((direction) => ['provision', () => client.provision('all', { direction: direction === 'to-target' || direction === 'from-target' || direction === undefined ? 'up' : direction } as never)] as const),
      fc.anything().map((users) => ['userChangedMany', () => client.userChangedMany((Array.isArray(users) ? [...users, 1] : users) as never)] as const),
      fc.anything().map((handler) => ['onPulledChange', () => client.onPulledChange((typeof handler === 'function' ? 1 : handler) as never)] as const),
      fc.oneof(fc.string(), fc.integer({ max: 0 }), fc.double({ noInteger: true })).map((concurrency) => ['onPulledChange', () => client.onPulledChange(async () => undefined, { concurrency } as never)] as const),
    );
    const byCall = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(calls, async ([name, call]) => {
        byCall.set(name, (byCall.get(name) ?? 0) + 1);
        await rejection(call);
      }),
      { numRuns: RUNS },
    );
    expect(await dumpPrefix(redis, prefix)).toBe('');
    expect([...byCall.keys()].sort()).toEqual(['onPulledChange', 'passwordChanged', 'provision', 'pull', 'refresh', 'userChangedMany', 'userDeleted']);
  }, TIMEOUT_MS);

  it(`rejects ${RUNS} arbitrary values given as a snapshot with a ValidationError, never another error`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true }), async (value) => {
        await rejection(() => client.userChanged(value as never));
        await rejection(() => client.userDeleted(value as never));
      }),
      { numRuns: RUNS },
    );
    expect(await dumpPrefix(redis, prefix)).toBe('');
  }, TIMEOUT_MS);

  it(`accepts ${RUNS} valid snapshots within both targets' limits`, async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(validSnapshot, async (user) => {
        const enqueued = await client.userChanged(user);
        if (enqueued.length !== 2) throw new Error(`expected one job per target, got ${enqueued.length}`);
        accepted++;
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBe(RUNS);
  }, TIMEOUT_MS);
});
