// Database failures → the error taxonomy, without a database: errors are built the way pg and
// PGlite raise them (their own DatabaseError classes, the fields the server fills in, PGlite's
// query and parameters attached). Each message is asserted in full, since operators read them,
// and none may carry a value: the server puts values in its messages and details.
import { TransactionAbortedError, protocol } from '@electric-sql/pglite';
import pg from 'pg';
import { ConfigurationError, PermanentError, ThrottledError, TransientError, ValidationError, errorKind, type SyncError } from '../../../shared/errors.js';
import { sqlError, type SqlCall } from '../../../workers/app/sql/errors.js';

type ServerFields = { detail?: string; table?: string; column?: unknown; constraint?: unknown; schema?: string };

/** An ErrorResponse as pg hands it over. */
function pgError(code: string, message: string, fields: ServerFields = {}): Error {
  const err = new pg.DatabaseError(message, message.length + 40, 'error');
  return Object.assign(err, { severity: 'ERROR', code, file: 'execMain.c', line: '2006', routine: 'ExecConstraints', ...fields });
}

/** The same as PGlite hands it over, with the failed query and its parameters attached. */
function pgliteError(code: string, message: string, fields: ServerFields = {}): Error {
  const err = new protocol.messages.DatabaseError(message, message.length + 40, 'error');
  return Object.assign(err, { severity: 'ERROR', code, ...fields, query: 'UPDATE "users" SET "mail" = $2 WHERE "id" = $1::text', params: ['42', 'alice@example.com'], queryOptions: {} });
}

/** A system error of node:net, as a pool reports a connection it could not make. */
const netError = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.5:5432`), { code, errno: -111, syscall: 'connect', address: '10.0.0.5', port: 5432 });

const COLUMNS: Record<string, string> = { mail: 'email', login: 'username', hidden: '' };
const fieldCalls: string[] = [];
const call: SqlCall = {
  what: 'update of user 42',
  table: 'app.users',
  fieldOf: (column) => {
    fieldCalls.push(column);
    return COLUMNS[column];
  },
};
const WHERE = 'update of user 42 on table "app.users"';
const CONFIG_HINT = 'check APP_USERS_TABLE, APP_USERS_COLUMNS and the grants of the database user';
const NOT_WRITTEN = ' and idsync does not write it (map it in APP_USERS_COLUMNS or give it a default)';

beforeEach(() => {
  fieldCalls.length = 0;
});

// Everything a runtime decision or an operator depends on, in one comparable shape.
const view = (err: SyncError) => ({
  kind: errorKind(err),
  name: err.name,
  message: err.message,
  code: err.code,
  status: err.status,
  nextRetryDelayMs: (err as { nextRetryDelayMs?: number }).nextRetryDelayMs,
  hasCause: 'cause' in err,
});
const NAMES = { transient: 'TransientError', permanent: 'PermanentError', configuration: 'ConfigurationError' } as const;
const expected = (kind: keyof typeof NAMES, message: string, code: string | undefined, hasCause = false) => ({
  kind,
  name: NAMES[kind],
  message,
  code,
  status: undefined,
  nextRetryDelayMs: undefined,
  hasCause,
});

describe('sqlError', () => {
  describe('errors that are already mapped', () => {
    it.each<[string, unknown]>([
      ['a TransientError', new TransientError('t', { code: 'X' })],
      ['a ThrottledError', new ThrottledError('slow', { retryAfterMs: 5 })],
      ['a PermanentError', new PermanentError('p')],
      ['a ConfigurationError', new ConfigurationError('c')],
      // Guards go by name, so a copy from another module instance passes too.
      ['a look-alike from another module copy', { name: 'PermanentError', message: 'p', code: '23505' }],
    ])('passes %s on untouched', (_, err) => {
      expect(sqlError(err, call)).toBe(err);
    });

    it('maps an error of another name', () => {
      const err = new ValidationError([{ path: 'email', message: 'bad' }]);
      expect(view(sqlError(err, call))).toStrictEqual(expected('transient', `Database call failed during ${WHERE}: Invalid input: email: bad`, undefined, true));
    });
  });

  describe('no connection', () => {
    it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'])('retries %s, keeping the cause', (code) => {
      const err = netError(code);
      const mapped = sqlError(err, call);
      expect(view(mapped)).toStrictEqual(expected('transient', `Could not reach the database for ${WHERE} (${code})`, code, true));
      expect(mapped.cause).toBe(err);
    });
  });

  describe('failures of the driver itself', () => {
    it.each<[string, unknown, string, string | undefined]>([
      ['a connection lost mid-query', new Error('Connection terminated unexpectedly'), 'Connection terminated unexpectedly', undefined],
      ['a pool timeout', new Error('timeout exceeded when trying to connect'), 'timeout exceeded when trying to connect', undefined],
      ['only the first line', new Error('Connection terminated\n    at Client._handleErrorEvent'), 'Connection terminated', undefined],
      ['a code that is no SQLSTATE', Object.assign(new Error('Client was closed'), { code: 'ERR_CLIENT_CLOSED' }), 'Client was closed', 'ERR_CLIENT_CLOSED'],
      ['a SQLSTATE in lower case', Object.assign(new Error('odd'), { code: '40p01' }), 'odd', '40p01'],
      ['a code of four characters', Object.assign(new Error('odd'), { code: '4000' }), 'odd', '4000'],
      ['a code with a prefix', Object.assign(new Error('odd'), { code: 'x40001' }), 'odd', 'x40001'],
      ['a code with a suffix', Object.assign(new Error('odd'), { code: '40001x' }), 'odd', '40001x'],
      ['a system call code of five letters', Object.assign(new Error('EPERM: operation not permitted, open'), { code: 'EPERM' }), 'EPERM: operation not permitted, open', 'EPERM'],
      ['EBUSY', Object.assign(new Error('EBUSY: resource busy or locked'), { code: 'EBUSY' }), 'EBUSY: resource busy or locked', 'EBUSY'],
      ['a code that is not a string', Object.assign(new Error('odd'), { code: 40001 }), 'odd', undefined],
      ['an empty code', Object.assign(new Error('odd'), { code: '' }), 'odd', undefined],
      ['a thrown string', 'boom', 'boom', undefined],
      ['a thrown number', 5, '5', undefined],
      ['an object that is no Error', { message: 'not used' }, '[object Object]', undefined],
    ])('retries %s, keeping the cause', (_, err, message, code) => {
      const mapped = sqlError(err, call);
      expect(view(mapped)).toStrictEqual(expected('transient', `Database call failed during ${WHERE}: ${message}`, code, true));
      expect(mapped.cause).toBe(err);
    });

    it('retries a thrown null or undefined', () => {
      expect(view(sqlError(null, call))).toStrictEqual(expected('transient', `Database call failed during ${WHERE}: null`, undefined, true));
      expect(view(sqlError(undefined, call))).toStrictEqual(expected('transient', `Database call failed during ${WHERE}: undefined`, undefined));
    });
  });

  describe.each([
    ['pg', pgError],
    ['PGlite', pgliteError],
  ])('server errors from %s', (_driver, make) => {
    const mapped = (code: string, message: string, fields: ServerFields = {}) => {
      const err = sqlError(make(code, message, fields), call);
      // Driver errors carry values (details, PGlite's parameters); none may travel on.
      expect(err.cause).toBeUndefined();
      expect(err.message).not.toContain('alice');
      return view(err);
    };

    it.each([
      ['40001', 'could not serialize access due to concurrent update'],
      ['40P01', 'deadlock detected'],
      ['55P03', 'could not obtain lock on row in relation "users"'],
      ['55006', 'database "app" is being accessed by other users'],
      ['57014', 'canceling statement due to statement timeout'],
      ['57P01', 'terminating connection due to administrator command'],
      ['57P02', 'terminating connection due to crash of another server process'],
      ['57P03', 'the database system is starting up'],
      ['08006', 'connection failure'],
      ['53300', 'sorry, too many clients already'],
      ['58030', 'could not write to file "base/16384/2619": No space left on device'],
    ])('retries %s later, quoting the server', (code, message) => {
      expect(mapped(code, message)).toStrictEqual(expected('transient', `The database could not complete ${WHERE} for now: ${message} (SQLSTATE ${code})`, code));
    });

    it.each([
      ['42P01', 'relation "users" does not exist'],
      ['42703', 'column "mail" does not exist'],
      ['42501', 'permission denied for table users'],
      ['42883', 'function sha256(text) does not exist'],
      ['3D000', 'database "app" does not exist'],
      ['3F000', 'schema "app" does not exist'],
      ['28P01', 'password authentication failed for user "idsync"'],
      ['28000', 'no pg_hba.conf entry for host "10.0.0.9"'],
    ])('takes %s as a configuration problem', (code, message) => {
      expect(mapped(code, message)).toStrictEqual(expected('configuration', `The database refused ${WHERE}: ${message} (SQLSTATE ${code}); ${CONFIG_HINT}`, code));
    });

    it.each([
      ['22001', 'a value is too long for its column'],
      ['22003', 'a number is out of range for its column'],
      ['22007', 'a value is not a valid date or time'],
      ['22008', 'a date or time is out of range'],
      ['22021', 'a value holds bytes that are not valid in the database encoding'],
      ['22P02', "a value does not parse as its column's type"],
      ['22P05', 'a value holds a character the database encoding cannot store'],
      ['22012', 'a value is not valid for its column'],
    ])('refuses bad data %s without quoting the server', (code, reason) => {
      expect(mapped(code, 'invalid input syntax for type uuid: "alice"')).toStrictEqual(expected('permanent', `The database refused ${WHERE}: ${reason} (SQLSTATE ${code})`, code));
    });

    it.each(['P0001', 'P0004'])('refuses what a trigger rejected (%s) without quoting it', (code) => {
      expect(mapped(code, 'user alice is locked')).toStrictEqual(expected('permanent', `The database refused ${WHERE}: a trigger or rule rejected it (SQLSTATE ${code})`, code));
    });

    it('refuses an assignment the server will not make, quoting it', () => {
      const message = 'column "roles" is of type citext[] but expression is of type text[]';
      expect(mapped('42804', message)).toStrictEqual(expected('permanent', `The database refused ${WHERE}: ${message} (SQLSTATE 42804)`, '42804'));
    });

    it.each(['XX000', '0A000', '25P02', 'HV000'])('retries anything else (%s) without quoting the server', (code) => {
      expect(mapped(code, 'internal error for alice')).toStrictEqual(expected('transient', `The database failed ${WHERE} (SQLSTATE ${code})`, code));
    });

    it('quotes the first line of the server only', () => {
      expect(mapped('40P01', 'deadlock detected\nProcess 1 waits for ShareLock')).toStrictEqual(
        expected('transient', `The database could not complete ${WHERE} for now: deadlock detected (SQLSTATE 40P01)`, '40P01'),
      );
    });

    describe('constraints', () => {
      const refused = (code: string, fields: ServerFields) => mapped(code, 'violates a constraint for alice', { detail: 'Failing row contains (42, alice).', table: 'users', ...fields });
      const want = (code: string, reason: string) => expected('permanent', `The database refused ${WHERE}: ${reason}`, code);

      it('names the field of a mapped NOT NULL column', () => {
        expect(refused('23502', { column: 'mail' })).toStrictEqual(want('23502', 'column "mail" (field email) must not be null'));
        expect(fieldCalls).toStrictEqual(['mail']);
      });

      it('explains a NOT NULL column idsync does not write', () => {
        expect(refused('23502', { column: 'created_by' })).toStrictEqual(want('23502', `column "created_by" must not be null${NOT_WRITTEN}`));
        expect(refused('23502', { column: 'hidden' })).toStrictEqual(want('23502', `column "hidden" must not be null${NOT_WRITTEN}`));
        expect(refused('23502', {})).toStrictEqual(want('23502', `a constraint must not be null${NOT_WRITTEN}`));
      });

      it('names the column, else the constraint', () => {
        expect(refused('23505', { column: 'login', constraint: 'users_login_key' })).toStrictEqual(
          want('23505', 'the value for column "login" (field username) is already taken by another row'),
        );
        expect(refused('23505', { constraint: 'users_login_key' })).toStrictEqual(want('23505', 'the value for constraint "users_login_key" is already taken by another row'));
        expect(refused('23505', { column: 7, constraint: 'users_login_key' })).toStrictEqual(want('23505', 'the value for constraint "users_login_key" is already taken by another row'));
        expect(refused('23505', { constraint: 7 })).toStrictEqual(want('23505', 'the value for a constraint is already taken by another row'));
        expect(fieldCalls).toStrictEqual(['login']);
      });

      it.each<[string, ServerFields, string]>([
        ['23503', { constraint: 'users_org_fkey' }, 'constraint "users_org_fkey" refers to a row that does not exist'],
        ['23503', { column: 'org' }, 'column "org" refers to a row that does not exist'],
        ['23514', { constraint: 'users_email_check' }, 'the row violates check constraint "users_email_check"'],
        ['23514', {}, 'the row violates check a constraint'],
        ['23P01', { constraint: 'no_overlap' }, 'constraint "no_overlap" was violated (SQLSTATE 23P01)'],
        ['23000', {}, 'a constraint was violated (SQLSTATE 23000)'],
        ['23001', { column: 'mail' }, 'column "mail" (field email) was violated (SQLSTATE 23001)'],
      ])('words %s', (code, fields, reason) => {
        expect(refused(code, fields)).toStrictEqual(want(code, reason));
      });
    });
  });

  it('words a NOT NULL column without a column map as not written', () => {
    const err = sqlError(pgError('23502', 'null value in column "mail"', { column: 'mail' }), { what: 'creation of a user', table: 'users' });
    expect(view(err)).toStrictEqual(expected('permanent', `The database refused creation of a user on table "users": column "mail" must not be null${NOT_WRITTEN}`, '23502'));
  });

  it('quotes nothing when the server message is not a string', () => {
    expect(view(sqlError({ code: '40001', message: 5 }, call))).toStrictEqual(expected('transient', `The database could not complete ${WHERE} for now:  (SQLSTATE 40001)`, '40001'));
    expect(view(sqlError({ code: '42804' }, call))).toStrictEqual(expected('permanent', `The database refused ${WHERE}:  (SQLSTATE 42804)`, '42804'));
  });

  it('maps the error of a transaction PGlite rolled back', () => {
    expect(view(sqlError(new TransactionAbortedError(), call))).toStrictEqual(expected('transient', `The database failed ${WHERE} (SQLSTATE 25P02)`, '25P02'));
  });
});
