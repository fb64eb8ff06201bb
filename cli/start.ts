import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Queue } from 'bullmq';
import { crowdEnv, startCrowdEmulator } from '../emulators/crowd/index.js';
import { DEFAULT_DOMAIN, ensureCertificateAuthority, entraEnv, startEntraEmulator } from '../emulators/entra/index.js';
import { loadConfig, type Env } from '../shared/config.js';
import { JOB_NAMES, QUEUES, SCHEMA_VERSION, type Target } from '../shared/jobs.js';
import { createLogger } from '../shared/logger.js';
import { createRedis, whenReady } from '../shared/redis.js';
import { ensureKeyFile, SECRET_KEY_FILE } from '../producers/client-key-file.js';
import { startScheduler } from '../producers/scheduler/index.js';
import { openDirectory } from '../workers/app/open.js';
import type { UserDirectory } from '../workers/app/directory.js';
import { startHttpServer } from '../server/index.js';
import { chooseRedis } from './private-redis.js';
import { INGEST_TOKEN_FILE, ensureTokenFile } from './token-file.js';
import { runWorkers } from './worker.js';

/** The dashboard's login token of the zero-config run (IDSYNC_ADMIN_TOKEN), made once, never printed. */
export const ADMIN_TOKEN_FILE = '.idsync/admin.token';

/** Where the zero-config run keeps the Entra emulator's certificate authority. */
export const EMULATOR_STATE_DIR = '.idsync/entra';

/** The embedded application store's sample users, created once when it is empty. */
export const SAMPLE_USERS = [
  { username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Archer' },
  { username: 'bob', email: 'bob@example.com', firstName: 'Bob', lastName: 'Baker' },
  { username: 'carol', email: 'carol@example.com', firstName: 'Carol', lastName: 'Cook' },
] as const;

/** An Entra user the application does not have: the first full sync imports it. */
export const ENTRA_ONLY_USER = { userPrincipalName: `erin@${DEFAULT_DOMAIN}`, displayName: 'Erin Entra', givenName: 'Erin', surname: 'Entra', mail: 'erin@example.com' };

/** A group in both emulators, so the README's client example (`groups: ['staff']`) works as written. */
export const DEMO_GROUP = 'staff';

/**
 * `idsync start`: every worker and processor, the scheduler, for the configured targets. With
 * none, the whole system against the built-in Crowd and Entra emulators and an embedded
 * application store with sample users, which a first full sync pushes to both emulators
 * (and which imports the emulator's Entra-only user), so a fresh checkout does something
 * real with no configuration.
 */
export async function start(env: Env = process.env): Promise<void> {
  const config = loadConfig(env);
  if (config.targets.length > 0) {
    const logger = createLogger(config.log);
    const redis = await chooseRedis(env, logger);
    // The dashboard needs a login token; without one configured, one is made once in a file.
    const adminToken = env.IDSYNC_ADMIN_TOKEN || ensureTokenFile(ADMIN_TOKEN_FILE);
    if (!env.IDSYNC_ADMIN_TOKEN) logger.info({ adminTokenFile: resolve(ADMIN_TOKEN_FILE) }, 'dashboard login token kept in a file (set IDSYNC_ADMIN_TOKEN to choose one)');
    return runAll({ ...env, REDIS_URL: redis.url, IDSYNC_ADMIN_TOKEN: adminToken }, false, redis.stop);
  }

  // Node trusts extra CAs only from NODE_EXTRA_CA_CERTS at process start, and both
  // @azure/identity and the Graph client need to trust the emulator's CA, so the
  // process restarts itself once with the variable set.
  const { caFile } = await ensureCertificateAuthority(EMULATOR_STATE_DIR);
  if (resolve(env.NODE_EXTRA_CA_CERTS ?? '') !== resolve(caFile)) return reexecTrusting(caFile);

  const logger = createLogger(config.log);
  const redis = await chooseRedis(env, logger);
  // Like a Crowd with crowd.email.change.by.external.apps=true: the README's example changes e-mails.
  const crowd = await startCrowdEmulator({ allowEmailChange: true });
  crowd.seed([], [{ name: DEMO_GROUP }]);
  const entra = await startEntraEmulator({ stateDir: EMULATOR_STATE_DIR });
  entra.seed({ users: [ENTRA_ONLY_USER], groups: [{ displayName: DEMO_GROUP }] });
  // A key kept in a file, created once: password jobs survive a restart, and the client
  // library (and the user's shell) can read the same key. Its value is never logged.
  const key = env.IDSYNC_SECRET_KEY || ensureKeyFile(SECRET_KEY_FILE);
  // Likewise the ingest API's bearer token, so `curl` works against npm start from the README.
  const ingestToken = env.IDSYNC_INGEST_TOKEN || ensureTokenFile(INGEST_TOKEN_FILE);
  // And the dashboard's login token: the login page asks for the file's content.
  const adminToken = env.IDSYNC_ADMIN_TOKEN || ensureTokenFile(ADMIN_TOKEN_FILE);
  const { tenantId, clientId, clientSecret } = entra.info;
  // One line with what a client needs. The emulators' logins are their public defaults; the key is not printed.
  logger.info({
    redis: redis.url,
    crowd: crowd.info.baseUrl,
    crowdApp: `${crowd.info.applicationName} / ${crowd.info.applicationPassword}`,
    graph: entra.info.graphBaseUrl,
    authority: entra.info.authorityHost,
    entraApp: `tenant ${tenantId}, client ${clientId} / ${clientSecret}`,
    groups: [DEMO_GROUP],
    ...(env.IDSYNC_SECRET_KEY ? { keyFrom: 'IDSYNC_SECRET_KEY' } : { keyFile: resolve(SECRET_KEY_FILE), keyHint: `export IDSYNC_SECRET_KEY=$(cat ${SECRET_KEY_FILE})` }),
    ...(!env.IDSYNC_INGEST_TOKEN && { ingestTokenFile: resolve(INGEST_TOKEN_FILE) }),
    ...(!env.IDSYNC_ADMIN_TOKEN && { adminTokenFile: resolve(ADMIN_TOKEN_FILE) }),
  }, 'no targets configured: running against the built-in emulators');
  await runAll({
    ...env,
    REDIS_URL: redis.url,
    ...crowdEnv(crowd.info),
    ...entraEnv(entra.info),
    IDSYNC_SECRET_KEY: key,
    IDSYNC_INGEST_TOKEN: ingestToken,
    IDSYNC_ADMIN_TOKEN: adminToken,
  }, true, redis.stop);
  logger.info(
    { crowdAdmin: crowd.adminUrl, entraAdmin: entra.adminUrl, entraCaFile: entra.info.caFile, appStore: config.app.kind === 'embedded' ? config.app.dataDir : config.app.kind },
    `try it: createSyncClient({ redisUrl: '${redis.url}', targets: ['crowd', 'entra'] }).userChanged({ id: '1', username: 'alice', email: 'alice@example.com', groups: ['${DEMO_GROUP}'] }), or npx idsync sync plan entra`,
  );
}

async function runAll(env: Env, demo: boolean, stopRedis: () => Promise<void>): Promise<void> {
  const config = loadConfig(env);
  const logger = createLogger(config.log);
  const directory = await openDirectory(config.app);
  if (demo) await addSampleUsers(directory);
  const workers = await runWorkers([], env, { directory, signals: false });
  const redis = createRedis(config.redisUrl, 'producer');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'scheduler redis error'));
  await whenReady(redis);
  const scheduler = await startScheduler({ connection: redis, prefix: config.prefix, targets: config.targets, sync: config.sync, logger, attempts: config.jobs.attempts, backoffMs: config.jobs.backoffMs });
  logger.info({ next: scheduler.nextSlots().map((s) => ({ name: s.name, at: s.at.toISOString() })) }, 'scheduler running');
  const http = await startHttpServer({ config, logger, ...(env.IDSYNC_SECRET_KEY && { secretKey: env.IDSYNC_SECRET_KEY }) });
  logger.info(
    { http: http.url, ...(config.http.adminToken && { dashboard: `${http.url}/` }), ...(demo && { curl: `curl -X PUT ${http.url}/api/v1/users/42 -H "Authorization: Bearer $(cat ${INGEST_TOKEN_FILE})" -H 'content-type: application/json' -d '{"username":"dana","email":"dana@example.com"}'` }) },
    'HTTP ingest API listening (docs/ingest-api.md)',
  );
  if (demo) await initialSync(redis, config.prefix, config.targets, logger);
  const stop = async () => {
    await http.close();
    await scheduler.close();
    redis.disconnect();
    await workers.close();
    // Last: the workers drained into it.
    await stopRedis();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void stop().then(() => process.exit(0), () => process.exit(1)));
}

async function addSampleUsers(directory: UserDirectory): Promise<void> {
  for await (const page of directory.list({ pageSize: 1 })) if (page.length) return;
  for (const u of SAMPLE_USERS) await directory.apply({ values: { ...u, active: true }, source: 'crowd' });
}

async function initialSync(redis: ReturnType<typeof createRedis>, prefix: string, targets: readonly Target[], logger: ReturnType<typeof createLogger>): Promise<void> {
  const queue = new Queue(QUEUES.sync, { connection: redis, prefix });
  for (const target of targets) {
    await queue.add(JOB_NAMES.fullSync, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), targets: [target], mode: 'apply' }, { jobId: `initial-full-sync-${target}-${Date.now()}`, removeOnComplete: { age: 86_400 } });
  }
  await queue.close();
  logger.info({ targets }, 'a full sync of each target enqueued: the sample users go to the emulators, the Entra-only user comes into the application store');
}

function reexecTrusting(caFile: string): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: resolve(caFile) },
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
  return new Promise(() => child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0))));
}
