import type { Writable } from 'node:stream';
import type { AuditLog, AuditQuery, StoredAuditEntry } from '../shared/audit.js';

/**
 * `idsync audit export`: the matching entries, oldest first, streamed a page (XRANGE) at a
 * time into `output`, waiting for `drain` whenever the stream asks for it. Only one page and its
 * rendered text are held at once, so a million-entry log exports in constant memory.
 *
 * Formats:
 * - `csv`: RFC 4180: a header row, CRLF line ends, a field quoted when it holds a comma, a quote,
 *   CR or LF, with quotes doubled. `time` is ISO 8601; `changedAttributes` comma-joined.
 * - `json`: one JSON array, one entry per line (`[`, entries separated by `,`, `]`): valid JSON
 *   for `jq` and `JSON.parse`, and still splittable by line for tools that stream.
 */

export type ExportFormat = 'csv' | 'json';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'json'];

export const CSV_COLUMNS = ['id', 'time', 'target', 'operation', 'resource', 'subject', 'status', 'attempt', 'durationMs', 'error', 'jobId', 'changedAttributes'] as const;

export interface ExportProgress {
  /** Stream entries read so far, matching or not. */
  scanned: number;
  /** The stream's length when the export started: an upper bound for `scanned`. */
  total: number;
  /** Rows written so far. */
  written: number;
}

export interface ExportOptions {
  format: ExportFormat;
  output: Writable;
  /** Filters and time range; `limit` caps the rows written (default: all). */
  query?: AuditQuery;
  /** After every page. */
  onProgress?: (p: ExportProgress) => void;
  /** Entries per XRANGE. @defaultValue 1000 */
  pageSize?: number;
}

export interface ExportResult {
  rows: number;
  scanned: number;
  durationMs: number;
}

/** Writes the export; does not end `output` (the caller owns it: stdout must stay open). */
export async function exportAudit(audit: AuditLog, options: ExportOptions): Promise<ExportResult> {
  const started = Date.now();
  const { limit = Infinity, ...query } = options.query ?? {};
  const total = await audit.length();
  const render = options.format === 'csv' ? csvRow : (e: StoredAuditEntry, i: number) => `${i ? ',\n' : ''}${JSON.stringify(e)}`;
  let rows = 0;
  let scanned = 0;
  await write(options.output, options.format === 'csv' ? csvLine(CSV_COLUMNS) : '[\n');
  for await (const page of audit.pages(query, { pageSize: options.pageSize ?? 1000 })) {
    scanned += page.scanned;
    let chunk = '';
    for (const entry of page.entries) {
      if (rows >= limit) break;
      chunk += render(entry, rows++);
    }
    if (chunk) await write(options.output, chunk);
    options.onProgress?.({ scanned, total, written: rows });
    if (rows >= limit) break;
  }
  if (options.format === 'json') await write(options.output, rows ? '\n]\n' : ']\n');
  return { rows, scanned, durationMs: Date.now() - started };
}

/** Resolves once the stream can take more; rejects when it failed (a full disk, a closed pipe). */
async function write(output: Writable, chunk: string): Promise<void> {
  if (output.destroyed || output.writableEnded) throw new Error('the export output was closed');
  if (output.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const finish = (err?: Error) => {
      output.off('drain', onDrain).off('error', finish).off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => finish();
    // A stream destroyed without an error (the reader of a pipe went away) never drains.
    const onClose = () => finish(new Error('the export output was closed'));
    output.on('drain', onDrain).on('error', finish).on('close', onClose);
  });
}

export function csvRow(e: StoredAuditEntry): string {
  return csvLine([
    e.id, new Date(e.time).toISOString(), e.target, e.operation, e.resource, e.subject, e.status, String(e.attempt),
    String(e.durationMs), e.error ?? '', e.jobId ?? '', e.changedAttributes?.join(',') ?? '',
  ]);
}

function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
