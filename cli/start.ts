import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { crowdEnv, startCrowdEmulator } from '../emulators/crowd/index.js';
import { ensureCertificateAuthority, entraEnv, startEntraEmulator } from '../emulators/entra/index.js';
import { loadConfig, type Env } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { runWorkers } from './worker.js';

/** Where the zero-config run keeps the Entra emulator's certificate authority. */
export const EMULATOR_STATE_DIR = '.idsync/entra';

/**
 * `idsync start`: with target settings, runs their workers. With none, runs the whole
 * system against the built-in Crowd and Entra emulators, so a fresh checkout does
 * something real with no configuration.
 */
export async function start(env: Env = process.env): Promise<void> {
  const config = loadConfig(env);
  if (config.targets.length > 0) return runWorkers([], env);

  // Node trusts extra CAs only from NODE_EXTRA_CA_CERTS at process start, and both
  // @azure/identity and the Graph client need to trust the emulator's CA, so the
  // process restarts itself once with the variable set.
  const { caFile } = await ensureCertificateAuthority(EMULATOR_STATE_DIR);
  if (resolve(env.NODE_EXTRA_CA_CERTS ?? '') !== resolve(caFile)) return reexecTrusting(caFile);

  const logger = createLogger(config.log);
  const crowd = await startCrowdEmulator();
  const entra = await startEntraEmulator({ stateDir: EMULATOR_STATE_DIR });
  logger.info({ crowd: crowd.info.baseUrl, graph: entra.info.graphBaseUrl, authority: entra.info.authorityHost }, 'no targets configured: running against the built-in emulators');
  await runWorkers([], {
    ...env,
    ...crowdEnv(crowd.info),
    ...entraEnv(entra.info),
    // An ephemeral key: password jobs from this run are readable only by this run.
    IDSYNC_SECRET_KEY: env.IDSYNC_SECRET_KEY || randomBytes(32).toString('base64'),
  });
  logger.info(
    { crowdAdmin: crowd.adminUrl, entraAdmin: entra.adminUrl, entraCaFile: entra.info.caFile },
    "try it: createSyncClient({ targets: ['crowd', 'entra'] }).userChanged({ id: '1', username: 'alice', email: 'alice@example.com' })",
  );
}

function reexecTrusting(caFile: string): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: resolve(caFile) },
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
  return new Promise(() => child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0))));
}
