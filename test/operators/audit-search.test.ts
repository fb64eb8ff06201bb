import { Command } from 'commander';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import { auditSearchCommand, registerAuditCommands } from '../../cli/audit.js';
import { registerTraceCommand } from '../../cli/trace.js';
import { AuditInputError, formatAuditEntry, parseAuditFilters, searchAudit } from '../../operators/audit-query.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { captureIO, entry, seedAudit } from './audit-seed.js';

const T0 = Date.parse('2024-05-01T08:00:00Z');

describe('audit search', () => {
  let redis: Redis;
  let prefix: string;
  let audit: AuditLog;

  beforeEach(async () => {
    redis = workerRedis();
    prefix = uniquePrefix('audit');
    audit = new AuditLog(redis, prefix);
    // One entry a minute from T0, with pinned stream ids so time ranges are exact.
    const rows = [
      entry({ subject: 'u1', operation: 'create', status: 'succeeded' }),
      entry({ subject: 'u1', operation: 'update', status: 'retrying', error: '503 from Crowd' }),
      entry({ subject: 'u1', operation: 'update', status: 'succeeded', changedAttributes: ['email'] }),
      entry({ subject: 'u2', operation: 'create', status: 'failed', target: 'entra', error: 'Graph refused:\nline two' }),
      entry({ subject: 'u2', operation: 'password', status: 'skipped', target: 'entra' }),
      entry({ subject: 'u3', operation: 'delete', status: 'succeeded' }),
    ];
    await seedAudit(redis, audit.key, rows.length, (i) => ({ ...rows[i]!, time: T0 + i * 60_000, id: `${T0 + i * 60_000}-0` }));
  });

  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const subjectsOps = (entries: { subject: string; operation: string }[]) => entries.map((e) => `${e.subject}:${e.operation}`);

  it('filters by operation (one or several), newest first', async () => {
    expect(subjectsOps(await searchAudit(audit, parseAuditFilters({ operation: 'update' })))).toEqual(['u1:update', 'u1:update']);
    expect(subjectsOps(await searchAudit(audit, parseAuditFilters({ operation: 'create,delete' })))).toEqual(['u3:delete', 'u2:create', 'u1:create']);
    // Through AuditLog directly too: the filter is part of AuditQuery.
    expect((await audit.query({ operation: 'password' })).map((e) => e.subject)).toEqual(['u2']);
  });

  it('filters by status, user and target, and combines them', async () => {
    expect(subjectsOps(await searchAudit(audit, parseAuditFilters({ status: 'failed,retrying' })))).toEqual(['u2:create', 'u1:update']);
    expect(subjectsOps(await searchAudit(audit, parseAuditFilters({ user: 'u1', status: 'succeeded' })))).toEqual(['u1:update', 'u1:create']);
    expect(subjectsOps(await searchAudit(audit, parseAuditFilters({ target: 'entra', operation: 'create' })))).toEqual(['u2:create']);
  });

  it('takes an inclusive time range and a limit', async () => {
    const range = parseAuditFilters({ since: '2024-05-01T08:01:00Z', until: '2024-05-01T08:03:00Z' });
    expect(subjectsOps(await searchAudit(audit, range))).toEqual(['u2:create', 'u1:update', 'u1:update']);
    expect(subjectsOps(await searchAudit(audit, { ...range, limit: 1 }))).toEqual(['u2:create']);
    expect(await searchAudit(audit, parseAuditFilters({ until: '2024-04-30' }))).toEqual([]);
    expect(subjectsOps(await searchAudit(audit, parseAuditFilters({ since: '2024-05-01T08:05:00.000Z' })))).toEqual(['u3:delete']);
  });

  it('refuses bad input with a message naming the option', () => {
    expect(() => parseAuditFilters({ status: 'done' })).toThrow(/unknown status "done"/);
    expect(() => parseAuditFilters({ since: 'yesterday' })).toThrow(/--since expects an ISO 8601 time/);
    expect(() => parseAuditFilters({ since: '2024-05-02', until: '2024-05-01' })).toThrow(AuditInputError);
    expect(() => parseAuditFilters({ limit: '0' })).toThrow(/--limit/);
  });

  it('prints one line per entry, a newline in an error shown as \\n', async () => {
    const [failed] = await searchAudit(audit, parseAuditFilters({ status: 'failed' }));
    expect(formatAuditEntry(failed!)).toBe('2024-05-01T08:03:00.000Z  entra   failed       create user u2  attempt 1  12 ms  — Graph refused:\\nline two');
  });

  it('idsync audit search: JSON array, text lines, exit 1 with the reason on bad input', async () => {
    const env = { REDIS_URL, IDSYNC_PREFIX: prefix };
    const json = captureIO();
    expect(await auditSearchCommand({ user: 'u2', json: true }, env, json)).toBe(0);
    expect(JSON.parse(json.out())).toMatchObject([{ subject: 'u2', operation: 'password', status: 'skipped' }, { subject: 'u2', operation: 'create', error: 'Graph refused:\nline two' }]);

    const text = captureIO();
    expect(await auditSearchCommand({ operation: 'delete' }, env, text)).toBe(0);
    expect(text.out()).toMatch(/^2024-05-01T08:05:00.000Z {2}crowd .* delete user u3 /);
    expect(text.out().trim().split('\n')).toHaveLength(1);

    const bad = captureIO();
    expect(await auditSearchCommand({ status: 'nope' }, env, bad)).toBe(1);
    expect(bad.err()).toMatch(/^idsync: unknown status "nope"/);
  });

  it('registers audit tail / search / export and trace with their options', () => {
    const program = new Command('idsync');
    registerAuditCommands(program);
    registerTraceCommand(program);
    const audit = program.commands.find((c) => c.name() === 'audit')!;
    const flags = (c: Command) => c.options.map((o) => o.long);
    const sub = (name: string) => audit.commands.find((c) => c.name() === name)!;
    expect(flags(sub('tail'))).toEqual(['--user', '--target', '--status', '--operation', '--follow', '--lines', '--json']);
    expect(sub('tail').options.find((o) => o.long === '--follow')!.short).toBe('-f');
    expect(flags(sub('search'))).toEqual(['--user', '--target', '--status', '--operation', '--since', '--until', '--limit', '--json']);
    expect(flags(sub('export'))).toEqual(['--user', '--target', '--status', '--operation', '--since', '--until', '--limit', '--format', '--output']);
    expect(flags(program.commands.find((c) => c.name() === 'trace')!)).toEqual(['--json']);
  });
});
