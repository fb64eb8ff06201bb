import { AUDIT_STATUSES, type AuditLog, type AuditQuery, type AuditStatus, type StoredAuditEntry } from '../shared/audit.js';

/**
 * The audit filters an operator types (`--user`, `--status failed,retrying`, `--since 2024-05-01`)
 * turned into an `AuditQuery`, and one readable line per entry. Shared by search, tail and export.
 */

export interface AuditFilterInput {
  user?: string;
  target?: string;
  /** One status or several, comma-separated. */
  status?: string;
  /** One operation or several, comma-separated. */
  operation?: string;
  /** ISO 8601 instant (or a date, read as UTC midnight). */
  since?: string;
  until?: string;
  limit?: string;
}

/** Bad operator input: the command prints the message and exits 1. */
export class AuditInputError extends Error {
  override readonly name = 'AuditInputError';
}

export interface ParseFiltersOptions {
  /** Used when `limit` is absent; `Infinity` = no limit. @defaultValue 50 */
  defaultLimit?: number;
}

export function parseAuditFilters(input: AuditFilterInput, options: ParseFiltersOptions = {}): AuditQuery {
  const query: AuditQuery = { limit: options.defaultLimit ?? 50 };
  if (input.user !== undefined) query.subject = input.user;
  if (input.target !== undefined) query.target = input.target;
  if (input.status !== undefined) query.status = list(input.status).map(checkStatus);
  if (input.operation !== undefined) query.operation = list(input.operation);
  if (input.since !== undefined) query.since = instant('--since', input.since);
  if (input.until !== undefined) query.until = instant('--until', input.until);
  if (query.since !== undefined && query.until !== undefined && query.since > query.until) {
    throw new AuditInputError('--since is after --until');
  }
  if (input.limit !== undefined) {
    const n = Number(input.limit);
    if (!Number.isInteger(n) || n < 1) throw new AuditInputError('--limit expects a whole number of at least 1');
    query.limit = n;
  }
  return query;
}

/** Newest first, at most `query.limit` entries. */
export async function searchAudit(audit: AuditLog, query: AuditQuery): Promise<StoredAuditEntry[]> {
  return audit.query(query);
}

/** One line per entry; newlines in error texts are shown as `\n` so a line stays one entry. */
export function formatAuditEntry(e: StoredAuditEntry): string {
  const parts = [
    new Date(e.time).toISOString(), e.target.padEnd(6), e.status.padEnd(11), `${e.operation} ${e.resource} ${e.subject}`,
    `attempt ${e.attempt}`, `${e.durationMs} ms`,
  ];
  if (e.jobId !== undefined) parts.push(`job ${e.jobId}`);
  if (e.changedAttributes?.length) parts.push(`changed ${e.changedAttributes.join(',')}`);
  if (e.error !== undefined) parts.push(`— ${oneLine(e.error)}`);
  return parts.join('  ');
}

export const oneLine = (text: string): string => text.replace(/\r?\n/g, '\\n');

const list = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);

function checkStatus(s: string): AuditStatus {
  if (!(AUDIT_STATUSES as readonly string[]).includes(s)) throw new AuditInputError(`unknown status "${s}"; expected one of ${AUDIT_STATUSES.join(', ')}`);
  return s as AuditStatus;
}

function instant(flag: string, text: string): number {
  // Date.parse alone accepts "1" or "May 5"; ask for something that starts like ISO 8601.
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new AuditInputError(`${flag} expects an ISO 8601 time such as 2024-05-01T08:00:00Z, got "${text}"`);
  return ms;
}
