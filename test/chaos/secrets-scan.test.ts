// After a run with password changes on both targets, no secret is anywhere idsync writes:
// every Redis key and value, the AOF on disk, the worker's trace-level logs, the audit stream.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { GRAPH_SCOPE } from '../../workers/entra/index.js';
import { collect } from '../helpers/collect.js';
import { dumpPrefix } from '../helpers/redis.js';
import { CrowdRest } from '../workers/crowd/helpers.js';
import { hasRedisServer } from './support/private-redis.js';
import { chaosSize, chaosTimeoutMs } from './support/scale.js';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.js';
import { APP_PASSWORD, chaosUsers, drained, failedJobs, startWorld, type ChaosWorld } from './support/world.js';

const USERS = chaosSize(40, 400);
const run = hasRedisServer ? describe : describe.skip;

/** An access token as Entra issues it: a signed JWT (header and payload are base64url JSON). */
const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}/g;

/** Each secret as it could be written: plain, URL-encoded (a token request body), base64 (Basic auth). */
function forms(secret: string): string[] {
  return [...new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')])];
}

/** What of `secrets` (or any JWT) `text` holds, named but never echoed. */
function leaks(text: string, secrets: Record<string, string>): string[] {
  const found = Object.entries(secrets).filter(([, s]) => forms(s).some((f) => text.includes(f))).map(([name]) => name);
  const tokens = text.match(JWT) ?? [];
  return tokens.length ? [...found, `${tokens.length} bearer token(s)`] : found;
}

/** Every file of the AOF directory (Redis 7 keeps a base and incremental files in appendonlydir/). */
function aofText(dir: string): string {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(dir);
  return files.map((f) => readFileSync(f, 'latin1')).join('\n');
}

run('chaos: secrets scan', () => {
  let world: ChaosWorld | undefined;
  let worker: WorkerProcess | undefined;
  afterEach(async () => {
    await worker?.kill9();
    await world?.close();
    worker = world = undefined;
  });

  it(`finds no password, client secret, application password or token after a run (${USERS} users)`, async () => {
    world = await startWorld();
    const w = world;
    worker = await startWorkerProcess(['crowd', 'entra'], { ...w.workerEnv, IDSYNC_LOG_LEVEL: 'trace' });
    const users = chaosUsers(USERS);
    const passwords = Object.fromEntries(users.map((u, i) => [`password of ${u.username}`, `Pw-${i}-q7%Zx+Lm/${Math.random().toString(36).slice(2)}`]));
    const secrets: Record<string, string> = {
      ...passwords,
      'Crowd application password': APP_PASSWORD,
      'Entra client secret': w.entra.info.clientSecret,
    };
    // The scanner itself finds each kind of secret, and a real token of this emulator.
    const token = (await new ClientSecretCredential(w.entra.info.tenantId, w.entra.info.clientId, w.entra.info.clientSecret, { authorityHost: w.entra.info.authorityHost, disableInstanceDiscovery: true }).getToken(GRAPH_SCOPE)).token;
    expect(leaks(`x ${token} ${encodeURIComponent(APP_PASSWORD)} ${Buffer.from(Object.values(passwords)[0]!).toString('base64')}`, secrets))
      .toEqual(['password of chaos0', 'Crowd application password', '1 bearer token(s)']);

    await w.client.userChangedMany(users);
    for (const u of users) await w.client.passwordChanged({ id: u.id, username: u.username }, passwords[`password of ${u.username}`]!);
    await drained(w, chaosTimeoutMs(60_000, 600_000));
    expect(await failedJobs(w)).toEqual({ crowd: 0, entra: 0 });
    // The passwords were really set (so they travelled through every place scanned below).
    const rest = new CrowdRest(w.crowd);
    for (const u of users.slice(0, 5)) expect(await rest.authenticate(u.username, passwords[`password of ${u.username}`]!)).toBe(200);
    expect((await w.audit.query({ operation: 'password', status: 'succeeded', limit: 10_000 })).length).toBe(2 * USERS);
    await worker.stop();

    // Private Redis: every key is idsync's, and each has a prefix followed by a colon.
    const redisText = await dumpPrefix(w.conn, '*');
    const auditText = JSON.stringify(await collect(w.audit.listEntries({ limit: Number.MAX_SAFE_INTEGER })));
    const logText = worker.lines.join('\n');
    expect(redisText.length).toBeGreaterThan(0);
    expect(logText).toMatch(/"operation":"password".*"msg":"job applied"/); // the password jobs' own lines were captured
    expect({
      redis: leaks(redisText, secrets),
      aof: leaks(aofText(w.redis.dir), secrets),
      logs: leaks(logText, secrets),
      audit: leaks(auditText, secrets),
    }).toEqual({ redis: [], aof: [], logs: [], audit: [] });
  }, chaosTimeoutMs(60_000, 600_000));
});
