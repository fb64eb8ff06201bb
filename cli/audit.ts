import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { AuditLog } from '../shared/audit.js';
import { loadConfig, type Env } from '../shared/config.js';
import { createRedis, whenReady } from '../shared/redis.js';
import { EXPORT_FORMATS, exportAudit, type ExportFormat, type ExportProgress } from '../operators/audit-export.js';
import { AuditInputError, formatAuditEntry, parseAuditFilters, searchAudit, type AuditFilterInput } from '../operators/audit-query.js';
import { tailAudit } from '../operators/audit-tail.js';

/**
 * `idsync audit tail|search|export`: a thin layer over operators/audit-*.ts. Exit codes: 0 done
 * (also when nothing matched), 1 failed (bad input, Redis unreachable, output not writable),
 * the reason on stderr. Output goes to `io`, so tests run the commands in process.
 */

export interface CommandIO {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean };
}

export const processIO = (): CommandIO => ({ stdout: process.stdout, stderr: process.stderr });

export interface AuditSearchOptions extends AuditFilterInput {
  json?: boolean;
}

export interface AuditTailOptions extends Omit<AuditFilterInput, 'since' | 'until' | 'limit'> {
  follow?: boolean;
  json?: boolean;
  /** How many of the latest entries (default 20). */
  lines?: string;
  /** Ends `--follow`; the command wires Ctrl-C to it. */
  signal?: AbortSignal;
}

export interface AuditExportOptions extends AuditFilterInput {
  format: string;
  output?: string;
}

/** Runs `fn` on a fresh connection to the configured Redis; failures become exit 1 with the reason on stderr. */
export async function withRedis(env: Env, io: CommandIO, fn: (ctx: { redis: Redis; prefix: string; targets: readonly string[] }) => Promise<number>): Promise<number> {
  let redis: Redis | undefined;
  try {
    const config = loadConfig(env);
    redis = createRedis(config.redisUrl, 'producer');
    redis.on('error', () => undefined);
    await whenReady(redis, { timeoutMs: 5000, failOnError: true }).catch((err: Error) => {
      throw new Error(`${err.message} (REDIS_URL ${config.redisUrl.replace(/\/\/[^@]*@/, '//')})`);
    });
    return await fn({ redis, prefix: config.prefix, targets: config.targets });
  } catch (err) {
    io.stderr.write(`idsync: ${(err as Error).message}\n`);
    return 1;
  } finally {
    redis?.disconnect();
  }
}

export function auditSearchCommand(o: AuditSearchOptions, env: Env = process.env, io: CommandIO = processIO()): Promise<number> {
  return withRedis(env, io, async ({ redis, prefix }) => {
    const entries = await searchAudit(new AuditLog(redis, prefix), parseAuditFilters(o));
    // Bounded by --limit, so one JSON array; `tail --json` streams one object per line instead.
    io.stdout.write(o.json ? `${JSON.stringify(entries)}\n` : entries.map((e) => `${formatAuditEntry(e)}\n`).join(''));
    return 0;
  });
}

export function auditTailCommand(o: AuditTailOptions, env: Env = process.env, io: CommandIO = processIO()): Promise<number> {
  return withRedis(env, io, async ({ redis, prefix }) => {
    const { subject, target, status, operation } = parseAuditFilters(o);
    const filters = { subject, target, status, operation };
    const count = o.lines === undefined ? 20 : Number(o.lines);
    if (!Number.isInteger(count) || count < 0) throw new AuditInputError('--lines expects a whole number');
    for await (const e of tailAudit(new AuditLog(redis, prefix), redis, { count, follow: o.follow, filters, ...(o.signal && { signal: o.signal }) })) {
      io.stdout.write(o.json ? `${JSON.stringify(e)}\n` : `${formatAuditEntry(e)}\n`);
    }
    return 0;
  });
}

export function auditExportCommand(o: AuditExportOptions, env: Env = process.env, io: CommandIO = processIO()): Promise<number> {
  return withRedis(env, io, async ({ redis, prefix }) => {
    if (!(EXPORT_FORMATS as readonly string[]).includes(o.format)) throw new AuditInputError(`--format expects ${EXPORT_FORMATS.join(' or ')}`);
    const query = parseAuditFilters(o, { defaultLimit: Infinity });
    const bar = o.output && io.stderr.isTTY ? exportBar(io.stderr) : undefined;
    const audit = new AuditLog(redis, prefix);
    const options = { format: o.format as ExportFormat, query, ...(bar && { onProgress: bar.update }) };
    if (!o.output) {
      // The reader of a pipe going away (`| head`) is how such a pipeline ends, not a failure.
      let closed: Error | undefined;
      const onError = (err: Error) => void (closed = err);
      io.stdout.on('error', onError);
      try {
        await exportAudit(audit, { ...options, output: io.stdout });
      } catch (err) {
        if (closed || io.stdout.destroyed) return 0;
        throw err;
      } finally {
        io.stdout.off('error', onError);
      }
      return 0;
    }
    // Written beside the target and renamed at the end: a failed export leaves no half file behind.
    const partial = `${o.output}.partial`;
    const file = createWriteStream(partial);
    try {
      await once(file, 'open');
      const result = await exportAudit(audit, { ...options, output: file });
      file.end();
      await finished(file);
      await rename(partial, o.output);
      bar?.stop();
      io.stderr.write(`exported ${result.rows} entries (${result.scanned} scanned) to ${o.output} in ${(result.durationMs / 1000).toFixed(1)} s\n`);
      return 0;
    } catch (err) {
      bar?.stop();
      file.destroy();
      await rm(partial, { force: true });
      throw err;
    }
  });
}

/** Entries scanned of the stream's length, and rows written, on stderr. */
function exportBar(stream: Writable): { update(p: ExportProgress): void; stop(): void } {
  const bar = new cliProgress.SingleBar(
    { format: 'export [{bar}] {value}/{total} entries scanned | {written} rows written | ETA {eta_formatted}', stream, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      if (!started) bar.start(Math.max(p.total, 1), 0, { written: 0 });
      started = true;
      // Entries appended during the export can take `scanned` past the length read at the start.
      bar.setTotal(Math.max(p.total, p.scanned, 1));
      bar.update(p.scanned, { written: p.written });
    },
    stop: () => started && bar.stop(),
  };
}

function filterOptions(cmd: Command, options: { time: boolean }): Command {
  cmd
    .option('--user <id>', 'entries about this application user (the subject)')
    .option('--target <target>', 'crowd, entra, or app')
    .option('--status <status>', 'succeeded, skipped, retrying, throttled, failed, quarantined (comma-separated for several)')
    .option('--operation <operation>', 'e.g. create, update, delete, password, pull (comma-separated for several)');
  if (options.time) {
    cmd
      .option('--since <iso>', 'entries at or after this ISO 8601 time')
      .option('--until <iso>', 'entries at or before this ISO 8601 time')
      .option('--limit <n>', 'at most this many entries');
  }
  return cmd;
}

/** Adds `audit tail`, `audit search` and `audit export`; each action sets the exit code. */
export function registerAuditCommands(program: Command): Command {
  const audit = program.command('audit').description('the audit log: every operation attempt (exit codes: 0 done, 1 failed)');
  filterOptions(audit.command('tail'), { time: false })
    .description('the latest entries, oldest of them first; with -f, then every new entry until Ctrl-C')
    .option('-f, --follow', 'keep printing entries as they are appended')
    .option('-n, --lines <n>', 'how many of the latest entries to print first (default 20)')
    .option('--json', 'one JSON object per line')
    .action(async (o: AuditTailOptions) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      try {
        process.exitCode = await auditTailCommand({ ...o, signal: stop.signal });
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
  filterOptions(audit.command('search'), { time: true })
    .description('matching entries, newest first (default limit 50)')
    .option('--json', 'one JSON array')
    .action(async (o: AuditSearchOptions) => void (process.exitCode = await auditSearchCommand(o)));
  filterOptions(audit.command('export'), { time: true })
    .description('every matching entry, oldest first, streamed as CSV or a JSON array (default limit: none)')
    .requiredOption('--format <format>', 'csv or json')
    .option('--output <file>', 'write to this file (with a progress bar on a terminal) instead of stdout')
    .action(async (o: AuditExportOptions) => void (process.exitCode = await auditExportCommand(o)));
  return audit;
}
