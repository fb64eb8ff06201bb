// The error taxonomy: names, messages, causes, and guards that accept only lookalikes carrying the exact name.
import {
  ConfigurationError,
  errorKind,
  InvalidEnvironmentError,
  isConfigurationError,
  isPermanentError,
  isRedisUnavailableError,
  isThrottledError,
  isTransientError,
  isValidationError,
  PermanentError,
  RedisUnavailableError,
  ThrottledError,
  TransientError,
  ValidationError,
} from '../../shared/errors.js';

describe('SyncError subclasses', () => {
  it('carry their class name, kind, code and status', () => {
    const err = new PermanentError('bad data', { code: 'INVALID_USER', status: 400 });
    expect(err).toBeInstanceOf(PermanentError);
    expect([err.name, err.kind, err.message, err.code, err.status]).toEqual(['PermanentError', 'permanent', 'bad data', 'INVALID_USER', 400]);
    expect([new TransientError('t').name, new ConfigurationError('c').name]).toEqual(['TransientError', 'ConfigurationError']);
    expect(new ThrottledError('slow', { retryAfterMs: 1.2 }).retryAfterMs).toBe(2);
  });

  it('keep a cause only when one was given', () => {
    const cause = new Error('socket hang up');
    expect(new TransientError('t', { cause }).cause).toBe(cause);
    expect('cause' in new TransientError('t')).toBe(false);
    expect('cause' in new TransientError('t', { code: 'X' })).toBe(false);
  });
});

describe('errorKind', () => {
  it('maps each taxonomy name and treats anything else as transient', () => {
    expect([new TransientError('a'), new ThrottledError('b', { retryAfterMs: 1 }), new PermanentError('c'), new ConfigurationError('d')].map(errorKind))
      .toEqual(['transient', 'throttled', 'permanent', 'configuration']);
    expect(errorKind({ name: 'PermanentError' })).toBe('permanent');
    expect([null, undefined, 'PermanentError', 42, new Error('x'), {}].map(errorKind)).toEqual(Array(6).fill('transient'));
  });

  it('looks a name up only when it is a string', () => {
    // An array key would stringify to a taxonomy name if the type were not checked.
    expect(errorKind({ name: ['PermanentError'] })).toBe('transient');
  });

  it('never takes a name inherited from Object.prototype for a kind', () => {
    expect(['constructor', 'toString', '__proto__', 'hasOwnProperty'].map((name) => errorKind({ name }))).toEqual(Array(4).fill('transient'));
  });
});

describe('guards', () => {
  const guards = [
    [isTransientError, 'TransientError'],
    [isThrottledError, 'ThrottledError'],
    [isPermanentError, 'PermanentError'],
    [isConfigurationError, 'ConfigurationError'],
    [isValidationError, 'ValidationError'],
    [isRedisUnavailableError, 'RedisUnavailableError'],
  ] as const;

  it('accept any object with the exact name (duplicate module copies)', () => {
    for (const [guard, name] of guards) expect([name, guard({ name })]).toEqual([name, true]);
  });

  it('refuse null, primitives, other names and functions that merely share the name', () => {
    for (const [guard, name] of guards) {
      const fn = { [name]: function () {} }[name];
      expect([name, fn!.name, [null, undefined, name, 0, {}, { name: `${name}X` }, new Error('x'), fn].map((v) => guard(v))])
        .toEqual([name, name, Array(8).fill(false)]);
    }
    expect(isTransientError(TransientError)).toBe(false);
  });
});

describe('ValidationError', () => {
  it('names each bad field, (root) for an empty path, separated by "; "', () => {
    const err = new ValidationError([{ path: '', message: 'must be an object' }, { path: 'users.3.email', message: 'must be an email' }], 'batch');
    expect(err.name).toBe('ValidationError');
    expect(err.message).toBe('Invalid batch: (root): must be an object; users.3.email: must be an email');
    expect(new ValidationError([{ path: 'a', message: 'b' }]).message).toBe('Invalid input: a: b');
    expect(isValidationError(err)).toBe(true);
  });
});

describe('RedisUnavailableError', () => {
  it('has its name and a message that says Redis is unreachable', () => {
    const err = new RedisUnavailableError('connect ECONNREFUSED');
    expect([err.name, err.message]).toEqual(['RedisUnavailableError', 'Redis is unreachable: connect ECONNREFUSED']);
    expect(err).toBeInstanceOf(RedisUnavailableError);
    expect(isRedisUnavailableError(err)).toBe(true);
  });

  it('keeps the cause only when one was given', () => {
    const cause = new Error('Connection is closed');
    expect(new RedisUnavailableError('x', { cause }).cause).toBe(cause);
    expect('cause' in new RedisUnavailableError('x')).toBe(false);
    expect('cause' in new RedisUnavailableError('x', {})).toBe(false);
  });
});

describe('InvalidEnvironmentError', () => {
  it('lists each variable on its own indented line', () => {
    const err = new InvalidEnvironmentError([{ path: 'REDIS_URL', message: 'is required' }, { path: 'PORT', message: 'must be a port' }]);
    expect(err.name).toBe('InvalidEnvironmentError');
    expect(err.message).toBe('Invalid configuration:\n  REDIS_URL: is required\n  PORT: must be a port');
    expect(err.variables).toHaveLength(2);
  });
});
