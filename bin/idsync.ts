#!/usr/bin/env node
import { Command } from 'commander';
import { InvalidEnvironmentError } from '../shared/errors.js';
import { runWorkers } from '../cli/worker.js';
import { emulateCrowd, emulateEntra } from '../cli/emulate.js';
import { start } from '../cli/start.js';

const program = new Command('idsync').description('Keeps application users in step with Atlassian Crowd and Microsoft Entra ID.');

program
  .command('start')
  .description('run the whole system for the configured targets (none configured: against the built-in emulators)')
  .action(() => start());

program
  .command('worker')
  .description('run the workers of the given targets (default: every configured target)')
  .argument('[targets...]', 'crowd, entra')
  .action((targets: string[]) => runWorkers(targets));

const emulate = program.command('emulate').description('run an emulator of a remote system (for tests, demos and benchmarks)');
emulate
  .command('crowd')
  .description('Atlassian Crowd 5.x usermanagement/1, in memory')
  .option('--port <n>', 'port to listen on (default: a free port)')
  .option('--app-name <name>', 'application name (default: idsync)')
  .option('--app-password <password>', 'application password (default: idsync-secret)')
  .action(emulateCrowd);
emulate
  .command('entra')
  .description('Microsoft Graph v1.0 + Entra v2.0 token endpoint over HTTPS, in memory')
  .option('--port <n>', 'port to listen on (default: a free port)')
  .option('--state-dir <dir>', 'where the CA and signing key live (default: .idsync/entra)')
  .action(emulateEntra);

program.parseAsync().catch((err: unknown) => {
  // Start-up errors are configuration problems an operator fixes: no stack trace.
  console.error(err instanceof InvalidEnvironmentError ? err.message : `idsync: ${(err as Error).message}`);
  process.exit(1);
});
