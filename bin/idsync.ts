#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { InvalidEnvironmentError } from '../shared/errors.js';
import { registerOperatorCommands } from '../cli/operators.js';
import { registerAuditCommands } from '../cli/audit.js';
import { registerTraceCommand } from '../cli/trace.js';
import type { ProvisionCommandOptions } from '../cli/provision.js';
import type { SyncCommandOptions } from '../cli/sync.js';
import type { EmulateCrowdOptions, EmulateEntraOptions } from '../cli/emulate.js';

// Each command loads its own code when it runs: loading every command's (the workers, the
// server, the emulators, the Azure SDK) made each short operator command take seconds.
const worker = () => import('../cli/worker.js');
const syncCli = () => import('../cli/sync.js');
const emulators = () => import('../cli/emulate.js');

// The package's version, read next to the build (dist/bin → ../../package.json) or the source (bin → ../package.json).
const pkg = [new URL('../../package.json', import.meta.url), new URL('../package.json', import.meta.url)]
  .map((u) => { try { return JSON.parse(readFileSync(u, 'utf8')) as { name?: string; version?: string }; } catch { return undefined; } })
  .find((p) => p?.name === 'idsync');

const program = new Command('idsync')
  .description('Keeps application users in step with Atlassian Crowd and Microsoft Entra ID.')
  .version(pkg?.version ?? 'unknown');

program
  .command('start')
  .description('run the whole system for the configured targets (none configured: against the built-in emulators and an embedded application store)')
  .action(async () => (await import('../cli/start.js')).start());

program
  .command('worker')
  .description('run workers: the given targets and processors, or every configured target plus the sync and app processors')
  .argument('[names...]', 'crowd, entra, sync, app')
  .action(async (names: string[]) => void (await (await worker()).runWorkers(names)));

program
  .command('scheduler')
  .description('run the scheduler alone: nightly full syncs and incremental pulls, one enqueue per slot across replicas')
  .action(async () => (await import('../cli/scheduler.js')).runScheduler());

program
  .command('provision')
  .description('push application users to the targets, or with --from-target import remote users (exit 1 when some failed)')
  .argument('<targets...>', 'crowd, entra')
  .option('--all', 'every user')
  .option('--ids <ids>', 'comma-separated application user ids (with --from-target: re-pull these linked users)')
  .option('--remote-ids <ids>', 'comma-separated remote users (Crowd names or keys, Entra object ids or UPNs), with --from-target')
  .option('--from-target', 'import from the targets into the application')
  .option('--json', 'print the result as one JSON object')
  .action(async (targets: string[], o: ProvisionCommandOptions) => process.exit(await (await import('../cli/provision.js')).provisionCommand(targets, o)));

program
  .command('server')
  .description('run the HTTP ingest API on IDSYNC_HTTP_PORT (docs/ingest-api.md)')
  .action(async () => void (await (await import('../cli/server.js')).runServer()));

const sync = program.command('sync').description('full syncs: plan, run, show, approve, reject (exit codes: 0 done, 1 failed, 3 staged for approval)');
const exitWith = (run: Promise<number>) => run.then((code) => process.exit(code));
sync
  .command('plan')
  .description('compute and store a plan for the target; apply nothing')
  .argument('<target>', 'crowd or entra')
  .option('--json', 'print one JSON object')
  .action(async (target: string, o: SyncCommandOptions) => exitWith((await syncCli()).syncRun(target, 'plan', o)));
sync
  .command('run')
  .description('plan, then apply unless the plan is staged (or --dry-run)')
  .argument('<target>', 'crowd or entra')
  .option('--dry-run', 'plan only; the plan is never applied')
  .option('--json', 'print one JSON object')
  .action(async (target: string, o: SyncCommandOptions) => exitWith((await syncCli()).syncRun(target, 'apply', o)));
sync
  .command('show')
  .description('a plan with its per-user entries and diffs')
  .argument('<planId>')
  .option('--json', 'print one JSON object')
  .option('--limit <n>', 'entries to show (default 100)')
  .action(async (planId: string, o: SyncCommandOptions) => exitWith((await syncCli()).syncShow(planId, o)));
sync
  .command('approve')
  .description('approve a staged plan and apply it')
  .argument('<planId>')
  .option('--json', 'print one JSON object')
  .action(async (planId: string, o: SyncCommandOptions) => exitWith((await syncCli()).syncApprove(planId, o)));
sync
  .command('reject')
  .description('reject a staged plan; nothing of it is applied')
  .argument('<planId>')
  .option('--json', 'print one JSON object')
  .action(async (planId: string, o: SyncCommandOptions) => exitWith((await syncCli()).syncReject(planId, o)));

const emulate = program.command('emulate').description('run an emulator of a remote system (for tests, demos and benchmarks)');
emulate
  .command('crowd')
  .description('Atlassian Crowd 5.x usermanagement/1, in memory')
  .option('--port <n>', 'port to listen on (default: a free port)')
  .option('--app-name <name>', 'application name (default: idsync)')
  .option('--app-password <password>', 'application password (default: idsync-secret)')
  .action(async (o: EmulateCrowdOptions) => (await emulators()).emulateCrowd(o));
emulate
  .command('entra')
  .description('Microsoft Graph v1.0 + Entra v2.0 token endpoint over HTTPS, in memory')
  .option('--port <n>', 'port to listen on (default: a free port)')
  .option('--state-dir <dir>', 'where the CA and signing key live (default: .idsync/entra)')
  .action(async (o: EmulateEntraOptions) => (await emulators()).emulateEntra(o));

registerOperatorCommands(program);
registerAuditCommands(program);
registerTraceCommand(program);

program.parseAsync().catch((err: unknown) => {
  // Start-up errors are configuration problems an operator fixes: no stack trace.
  console.error(err instanceof InvalidEnvironmentError ? err.message : `idsync: ${(err as Error).message}`);
  process.exit(1);
});
