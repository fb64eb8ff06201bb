import { ConfigurationError, PermanentError, TransientError, type SyncError } from '../../../shared/errors.js';

/**
 * Database failures → the one error taxonomy (shared/errors.ts). A driver error is never
 * passed on as `cause` and data errors never quote the server's message: PostgreSQL puts the
 * offending value in messages and details (`Key (lower(username))=(alice) already exists`),
 * and PGlite's errors carry the query parameters. Messages name the operation, the table,
 * and the column or constraint, never a value.
 */

export interface SqlCall {
  /** What was being done, e.g. `update of user 42`. */
  what: string;
  /** The table as configured. */
  table: string;
  /** Column name → idsync field, to name both in a message. */
  fieldOf?: (column: string) => string | undefined;
}

const SYNC_ERRORS = new Set(['TransientError', 'ThrottledError', 'PermanentError', 'ConfigurationError']);

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

// SQLSTATEs that a later attempt can get past: the server is busy, restarting, or chose
// this transaction as the victim of a conflict.
const TRANSIENT_STATES = new Set(['40001', '40P01', '55P03', '55006', '57014', '57P01', '57P02', '57P03']);
const TRANSIENT_CLASSES = new Set(['08', '53', '58']);

// Only a change of configuration or grants fixes these: quarantine and probe.
const CONFIGURATION_STATES = new Set(['42P01', '42703', '42501', '42883', '3D000', '3F000']);

const DATA_REASONS: Record<string, string> = {
  '22001': 'a value is too long for its column',
  '22003': 'a number is out of range for its column',
  '22007': 'a value is not a valid date or time',
  '22008': 'a date or time is out of range',
  '22021': 'a value holds bytes that are not valid in the database encoding',
  '22P02': "a value does not parse as its column's type",
  '22P05': 'a value holds a character the database encoding cannot store',
};

interface DriverError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  column?: unknown;
  constraint?: unknown;
}

export function sqlError(err: unknown, call: SqlCall): SyncError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as DriverError;
  if (typeof e.name === 'string' && SYNC_ERRORS.has(e.name)) return err as SyncError;
  const code = typeof e.code === 'string' ? e.code : '';
  const where = `${call.what} on table "${call.table}"`;

  if (NETWORK_CODES.has(code)) return new TransientError(`Could not reach the database for ${where} (${code})`, { code, cause: err });
  // A system call's code (EPERM, EBUSY) has a SQLSTATE's shape but no SQLSTATE class
  // starts with E: it comes from the host, like the network codes above.
  if (!/^[0-9A-Z]{5}$/.test(code) || /^E[A-Z]{4}$/.test(code)) {
    // Not from the server: the driver lost or could not get a connection (pool timeout,
    // "Connection terminated unexpectedly"), or the host refused a system call. Those
    // messages hold no data.
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return new TransientError(`Database call failed during ${where}: ${message}`, { ...(code && { code }), cause: err });
  }

  const serverMessage = typeof e.message === 'string' ? e.message.split('\n')[0] : '';
  const cls = code.slice(0, 2);
  if (TRANSIENT_STATES.has(code) || TRANSIENT_CLASSES.has(cls)) {
    return new TransientError(`The database could not complete ${where} for now: ${serverMessage} (SQLSTATE ${code})`, { code });
  }
  if (CONFIGURATION_STATES.has(code) || cls === '28') {
    // Messages of this kind name objects (`column "mail" does not exist`), not data.
    return new ConfigurationError(`The database refused ${where}: ${serverMessage} (SQLSTATE ${code}); check APP_USERS_TABLE, APP_USERS_COLUMNS and the grants of the database user`, { code });
  }
  if (cls === '23') return new PermanentError(`The database refused ${where}: ${constraintReason(code, e, call)}`, { code });
  if (cls === '22') return new PermanentError(`The database refused ${where}: ${DATA_REASONS[code] ?? 'a value is not valid for its column'} (SQLSTATE ${code})`, { code });
  if (cls === 'P0') {
    // A trigger of the application refused the row; its message is the application's and may quote the row.
    return new PermanentError(`The database refused ${where}: a trigger or rule rejected it (SQLSTATE ${code})`, { code });
  }
  if (cls === '42') {
    // A column type idsync accepted but the server will not assign to (e.g. citext[] from text[]).
    return new PermanentError(`The database refused ${where}: ${serverMessage} (SQLSTATE ${code})`, { code });
  }
  return new TransientError(`The database failed ${where} (SQLSTATE ${code})`, { code });
}

function constraintReason(code: string, e: DriverError, call: SqlCall): string {
  const column = typeof e.column === 'string' ? e.column : undefined;
  const constraint = typeof e.constraint === 'string' ? e.constraint : undefined;
  const field = column === undefined ? undefined : call.fieldOf?.(column);
  const target = column !== undefined
    ? `column "${column}"${field ? ` (field ${field})` : ''}`
    : constraint !== undefined
      ? `constraint "${constraint}"`
      : 'a constraint';
  switch (code) {
    case '23502':
      return `${target} must not be null${field ? '' : ' and idsync does not write it (map it in APP_USERS_COLUMNS or give it a default)'}`;
    case '23505':
      return `the value for ${target} is already taken by another row`;
    case '23503':
      return `${target} refers to a row that does not exist`;
    case '23514':
      return `the row violates check ${target}`;
    default:
      return `${target} was violated (SQLSTATE ${code})`;
  }
}
