import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../shared/config.js';
import type { UserSnapshot } from '../../shared/jobs.js';
import { silentLogger } from '../../shared/logger.js';
import { crowdEnv } from '../../emulators/crowd/index.js';
import { entraEnv, type EntraEmulator } from '../../emulators/entra/index.js';
import { createCrowdConnector } from '../../workers/crowd/index.js';
import { createEntraConnector } from '../../workers/entra/index.js';
import type { ConnectorContext, TargetConnector } from '../../workers/runtime/connector.js';
import { startEmulator as startEntra } from '../workers/entra/helpers.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { fuzzReply, ScriptedRemote, type FuzzReply } from './support/fuzz-remote.js';
import { chaosSize, chaosTimeoutMs } from './support/scale.js';

/**
 * Fuzzing the connectors' reply parsing: every Crowd or Graph request is answered by a stand-in
 * with an arbitrary reply (random JSON, look-alike bodies with wrong types, cut-off JSON, HTML
 * login pages, binary noise, any status). Each call ends in success or in one of the taxonomy's
 * errors with a readable message, never a TypeError, a SyntaxError or a crash. Entra's tokens
 * come from the emulator (only Graph is replaced).
 */

const RUNS = chaosSize(1000, 10_000);
const TIMEOUT_MS = chaosTimeoutMs(90_000, 900_000);
const TAXONOMY = new Set(['TransientError', 'PermanentError', 'ConfigurationError', 'ThrottledError']);
// No waiting inside a call: a retry or a Retry-After would only slow the fuzzing down.
const NO_RETRY = { resendRetries: 0, refusedRetries: 0, maxRetryAfterMs: 0 };

type Op = 'upsert' | 'upsert-linked' | 'delete' | 'password' | 'get' | 'probe';
const OPS: Op[] = ['upsert', 'upsert-linked', 'delete', 'password', 'get', 'probe'];

const user = (n: number): UserSnapshot & { version: number } => ({
  id: `fz-${n}`, username: `fuzz${n}`, email: `fuzz${n}@example.com`, firstName: 'Fu', lastName: 'Zz', active: true, groups: ['staff'], attributes: { dept: 'x' }, version: n + 1,
});

function context(op: Op): ConnectorContext {
  const link = op === 'upsert-linked' ? { remoteId: 'remote-1', remoteName: 'fuzz0' } : undefined;
  return { link: link as never, logger: silentLogger, abortSignal: new AbortController().signal, jobId: 'fuzz', attempt: op === 'upsert-linked' ? 2 : 1 };
}

async function run(connector: TargetConnector, op: Op, n: number): Promise<unknown> {
  const u = user(n);
  switch (op) {
    case 'upsert':
    case 'upsert-linked':
      return connector.upsertUser(u, context(op));
    case 'delete':
      return connector.deleteUser({ id: u.id, username: u.username }, context(op));
    case 'password':
      return connector.setPassword({ id: u.id, username: u.username }, 'Fuzz-Pw-123!', context(op));
    case 'get':
      return connector.getUser({ id: u.id, username: u.username }, context(op));
    case 'probe':
      return connector.probe({});
  }
}

/** What a call ended with: 'ok', or the error's class when it is the taxonomy's; throws otherwise. */
async function outcome(connector: TargetConnector, op: Op, n: number, script: FuzzReply[]): Promise<string> {
  try {
    await run(connector, op, n);
    return 'ok';
  } catch (err) {
    const e = err as Error;
    const where = `${op} with ${JSON.stringify(script).slice(0, 600)}`;
    if (!TAXONOMY.has(e?.name)) throw new Error(`${where}: ended with ${e?.name}: ${e?.message}\n${e?.stack}`);
    if (typeof e.message !== 'string' || e.message.trim().length < 10 || /\[object Object\]|undefined$/.test(e.message)) {
      throw new Error(`${where}: unreadable message ${JSON.stringify(e.message)}`);
    }
    return e.name;
  }
}

/** One connector and its stand-in remote; calls in a lane run one at a time (lanes could run side by side). */
interface Lane {
  connector: TargetConnector;
  remote: ScriptedRemote;
}

const LANES = 1;

async function fuzz(target: 'crowd' | 'entra', lanes: Lane[]): Promise<Map<string, number>> {
  const tally = new Map<string, number>();
  let n = 0;
  await Promise.all(lanes.map(({ connector, remote }) =>
    fc.assert(
      fc.asyncProperty(fc.constantFrom(...OPS), fc.array(fuzzReply(target), { minLength: 1, maxLength: 4 }), async (op, script) => {
        remote.play(script);
        const end = await outcome(connector, op, n++, script);
        tally.set(end, (tally.get(end) ?? 0) + 1);
      }),
      { numRuns: RUNS / lanes.length },
    )));
  expect([...tally.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(RUNS);
  return tally;
}

async function closeLanes(lanes: Lane[]): Promise<void> {
  await Promise.all(lanes.map(async ({ connector, remote }) => {
    await connector.close?.();
    await remote.close();
  }));
}

describe('fuzzing remote reply bodies', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => { redis = workerRedis(); });
  beforeEach(() => { prefix = uniquePrefix('fuzz-remote'); });
  afterEach(() => deletePrefix(redis, prefix));
  afterAll(() => redis.quit());

  it(`Crowd: ${RUNS} calls answered with arbitrary replies end in success or a taxonomy error`, async () => {
    const lanes = await Promise.all(Array.from({ length: LANES }, async (): Promise<Lane> => {
      const remote = await ScriptedRemote.start(false);
      const config = { ...loadConfig(crowdEnv({ baseUrl: `${remote.url}crowd/`, applicationName: 'idsync', applicationPassword: 'fuzz-app-pw' } as never)).crowd!, timeoutMs: 2000 };
      return { remote, connector: await createCrowdConnector(config, { redis, prefix, retry: NO_RETRY }) };
    }));
    try {
      const tally = await fuzz('crowd', lanes);
      // Every kind of ending was reached, so the fuzzing went past the first parse.
      expect([...tally.keys()].sort()).toEqual(expect.arrayContaining(['ConfigurationError', 'PermanentError', 'ThrottledError', 'TransientError', 'ok']));
    } finally {
      await closeLanes(lanes);
    }
  }, TIMEOUT_MS);

  it(`Entra: ${RUNS} calls answered with arbitrary replies end in success or a taxonomy error`, async () => {
    const em: EntraEmulator = await startEntra();
    const lanes = await Promise.all(Array.from({ length: LANES }, async (_, i): Promise<Lane> => {
      const remote = await ScriptedRemote.start(true);
      const config = { ...loadConfig({ ...entraEnv(em.info), GRAPH_BASE_URL: remote.url }).entra!, timeoutMs: 2000, writesPerSecond: 100_000 };
      const connector = await createEntraConnector(config, {
        redis, prefix: `${prefix}-${i}`, retry: NO_RETRY, consistency: { attempts: 2, delayMs: 1 }, batch: { lingerMs: 0, throttleRetries: 0, maxRetryAfterMs: 0 },
      });
      return { remote, connector };
    }));
    try {
      const tally = await fuzz('entra', lanes);
      // A Graph write needs several replies to agree, so random ones rarely add up to success.
      expect([...tally.keys()].sort()).toEqual(expect.arrayContaining(['ConfigurationError', 'PermanentError', 'ThrottledError', 'TransientError']));
    } finally {
      await closeLanes(lanes);
      await em.close();
      for (let i = 0; i < LANES; i++) await deletePrefix(redis, `${prefix}-${i}`);
    }
  }, TIMEOUT_MS);
});
