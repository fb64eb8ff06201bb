import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import { auditExportCommand } from '../../cli/audit.js';
import { CSV_COLUMNS, exportAudit, type ExportFormat } from '../../operators/audit-export.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { captureIO, entry, seedAudit } from './audit-seed.js';

// A full collection on demand, so the measurement is of what the export keeps, not of garbage.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** RFC 4180, for checking the export: quoted fields may hold commas, quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  const field = /(?:"((?:[^"]|"")*)"|([^",\r\n]*))(,|\r\n)/y;
  while (field.lastIndex < text.length) {
    const at = field.lastIndex;
    const m = field.exec(text);
    if (!m) throw new Error(`malformed CSV at offset ${at}`);
    row.push(m[1] === undefined ? m[2]! : m[1].replace(/""/g, '"'));
    if (m[3] === '\r\n') {
      rows.push(row);
      row = [];
    }
  }
  if (row.length) throw new Error('the last row is not terminated');
  return rows;
}

const TRICKY = 'Crowd said: "no", then, later,\nINVALID_EMAIL\r\n"quoted"';

describe('audit export', () => {
  let redis: Redis;
  let prefix: string;
  let audit: AuditLog;
  let dir: string;

  beforeEach(async () => {
    redis = workerRedis();
    prefix = uniquePrefix('export');
    audit = new AuditLog(redis, prefix);
    dir = await mkdtemp(join(tmpdir(), 'idsync-export-'));
  });

  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('quotes commas, quotes and line breaks in CSV; JSON keeps them exactly', async () => {
    await audit.append(entry({ subject: 'a,b', status: 'failed', error: TRICKY, jobId: '7', changedAttributes: ['email', 'active'] }));
    await audit.append(entry({ subject: 'plain' }));
    const csv = captureIO();
    await exportAudit(audit, { format: 'csv', output: csv.stdout });
    const [header, first, second] = parseCsv(csv.out());
    expect(header).toEqual([...CSV_COLUMNS]);
    expect(first).toEqual([expect.stringMatching(/^\d+-\d+$/), expect.stringMatching(/^\d{4}-.*Z$/), 'crowd', 'create', 'user', 'a,b', 'failed', '1', '12', TRICKY, '7', 'email,active']);
    expect(second?.[5]).toBe('plain');

    const json = captureIO();
    await exportAudit(audit, { format: 'json', output: json.stdout });
    expect(JSON.parse(json.out())).toMatchObject([{ subject: 'a,b', error: TRICKY, changedAttributes: ['email', 'active'] }, { subject: 'plain' }]);

    const empty = captureIO();
    await exportAudit(audit, { format: 'json', output: empty.stdout, query: { subject: 'nobody' } });
    expect(JSON.parse(empty.out())).toEqual([]);
  });

  it('idsync audit export --output: filters, renames into place, exit 1 on a bad format or an unwritable path', async () => {
    await seedAudit(redis, audit.key, 3000, (i) => entry({ subject: `u${i % 3}`, status: i % 2 ? 'failed' : 'succeeded' }));
    const env = { REDIS_URL, IDSYNC_PREFIX: prefix };
    const file = join(dir, 'failed.csv');
    const io = captureIO();
    expect(await auditExportCommand({ format: 'csv', output: file, user: 'u1', status: 'failed' }, env, io)).toBe(0);
    const rows = parseCsv(await readFile(file, 'utf8'));
    expect(rows).toHaveLength(1 + 500);
    expect(new Set(rows.slice(1).map((r) => `${r[5]}:${r[6]}`))).toEqual(new Set(['u1:failed']));
    expect(io.err()).toMatch(/^exported 500 entries \(3000 scanned\) to .*failed\.csv/);
    expect(await readdir(dir)).toEqual(['failed.csv']);

    const limited = captureIO();
    expect(await auditExportCommand({ format: 'json', limit: '2' }, env, limited)).toBe(0);
    expect(JSON.parse(limited.out())).toHaveLength(2);

    const bad = captureIO();
    expect(await auditExportCommand({ format: 'xml' }, env, bad)).toBe(1);
    expect(bad.err()).toMatch(/--format expects csv or json/);
    const nowhere = captureIO();
    expect(await auditExportCommand({ format: 'csv', output: join(dir, 'missing', 'x.csv') }, env, nowhere)).toBe(1);
    expect(nowhere.err()).toMatch(/ENOENT/);
  });
});

describe('audit export of 100,000 entries', () => {
  const N = 100_000;
  // Long error texts (about 60 MB of output) so an export that kept its rows could not pass.
  const pad = 'x'.repeat(400);
  let redis: Redis;
  let prefix: string;
  let audit: AuditLog;
  let dir: string;
  let seeded: number;

  // Both formats read the same entries: seeding them once halves the suite's time.
  beforeAll(async () => {
    redis = workerRedis();
    prefix = uniquePrefix('export-large');
    audit = new AuditLog(redis, prefix);
    dir = await mkdtemp(join(tmpdir(), 'idsync-export-'));
    const seeding = Date.now();
    await seedAudit(redis, audit.key, N, (i) => entry({ subject: `u${i}`, jobId: String(i), ...(i % 1000 === 0 ? { status: 'failed', error: `${TRICKY} ${pad}` } : { error: `ok ${i} ${pad}` }) }));
    seeded = Date.now() - seeding;
  }, 60_000);

  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['csv', 'json'] as ExportFormat[])('exports 100,000 entries as %s in bounded memory, every row parsing back', async (format) => {
    const file = join(dir, `audit.${format}`);
    const output = createWriteStream(file);
    gc();
    const before = process.memoryUsage().heapUsed;
    let peak = 0;
    let pages = 0;
    const started = Date.now();
    const result = await exportAudit(audit, {
      format, output,
      onProgress: () => {
        if (++pages % 10 !== 0) return;
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - before);
      },
    });
    output.end();
    await finished(output);
    const ms = Date.now() - started;
    const size = (await stat(file)).size;
    process.stdout.write(`audit export ${format}: ${N} entries, ${(size / 1e6).toFixed(1)} MB in ${ms} ms (seeded once in ${seeded} ms); retained heap growth at most ${(peak / 1e6).toFixed(1)} MB\n`);
    expect(result).toMatchObject({ rows: N, scanned: N });
    expect(size).toBeGreaterThan(45e6);
    expect(peak).toBeLessThan(50e6);

    const parsing = Date.now();
    const text = await readFile(file, 'utf8');
    if (format === 'csv') {
      const rows = parseCsv(text);
      expect(rows).toHaveLength(N + 1);
      expect(rows[1]![9]).toBe(`${TRICKY} ${pad}`);
      expect(rows[N]![5]).toBe(`u${N - 1}`);
    } else {
      const rows = JSON.parse(text) as { subject: string; error: string }[];
      expect(rows).toHaveLength(N);
      expect(rows[0]!.error).toBe(`${TRICKY} ${pad}`);
      expect(rows[N - 1]!.subject).toBe(`u${N - 1}`);
    }
    process.stdout.write(`parsed back in ${Date.now() - parsing} ms\n`);
  }, 60_000);
});
