import type { Command } from 'commander';
import type { Env } from '../shared/config.js';
import { TARGETS, type Target } from '../shared/jobs.js';
import { formatTrace } from '../operators/trace-format.js';
import { traceUser } from '../operators/trace.js';
import { processIO, withRedis, type CommandIO } from './audit.js';

/**
 * `idsync trace <userId>`: a thin layer over operators/trace.ts. Exit codes: 0 traced (whatever
 * the diagnosis; `--json` carries `diagnosis[].ok` for scripts), 1 failed (reason on stderr).
 */

export interface TraceCommandOptions {
  json?: boolean;
}

export function traceCommand(userId: string, o: TraceCommandOptions, env: Env = process.env, io: CommandIO = processIO()): Promise<number> {
  return withRedis(env, io, async ({ redis, prefix, targets }) => {
    // With no target configured here (the workers may run elsewhere), diagnose every target.
    const chosen = (targets.length ? targets : TARGETS) as readonly Target[];
    const trace = await traceUser({ redis, prefix }, userId, { targets: chosen });
    io.stdout.write(o.json ? `${JSON.stringify(trace)}\n` : formatTrace(trace));
    return 0;
  });
}

/** Adds `trace <userId>`; its action sets the exit code. */
export function registerTraceCommand(program: Command): Command {
  return program
    .command('trace')
    .description("everything idsync knows about one application user, in time order, ending with why it is (not) on each target")
    .argument('<userId>', 'the application user id')
    .option('--json', 'one JSON object')
    .action(async (userId: string, o: TraceCommandOptions) => void (process.exitCode = await traceCommand(userId, o)));
}
