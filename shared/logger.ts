import { pino, type Logger, type LoggerOptions } from 'pino';
import { redactText, redactValue } from './redact.js';

export type { Logger } from 'pino';

export interface LoggerSettings {
  level?: string;
  /** `json` for machines (default); `pretty` for a terminal. */
  format?: 'json' | 'pretty';
  /** Where lines go; defaults to stdout. Tests pass a stream to inspect output. */
  destination?: NodeJS.WritableStream;
}

/**
 * pino, with secrets redacted wherever they sit: every log object is walked, keys
 * that name a secret are replaced, and strings (messages, error texts, URLs) are
 * scrubbed of bearer tokens, JWTs and credentials. Scoped child loggers
 * (`logger.child({ target, jobId, userId })`) inherit the same redaction.
 */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { service: 'idsync' },
    formatters: {
      log: (object) => redactValue(object) as Record<string, unknown>,
      bindings: (bindings) => redactValue(bindings) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>);
      },
    },
    serializers: { err: (err: Error) => redactValue(err) },
  };
  if (settings.format === 'pretty' && !settings.destination) {
    return redactChildBindings(pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } }));
  }
  return redactChildBindings(settings.destination ? pino(options, settings.destination) : pino(options));
}

type ChildMethod = (this: Logger, bindings: object, options?: object) => Logger;

// pino serialises a child's bindings once, without the `log` formatter; scrub them on the way in.
// pino's own `child` is kept and called on each logger: a child inherits its parent's `child`
// property (pino makes it with Object.create), which is bound to the parent and would make every
// grandchild a sibling, dropping the middle logger's bindings.
function redactChildBindings(logger: Logger, pinoChild = logger.child as unknown as ChildMethod): Logger {
  logger.child = ((bindings: object, options?: object) =>
    redactChildBindings(pinoChild.call(logger, redactValue(bindings) as object, options), pinoChild)) as unknown as Logger['child'];
  return logger;
}

/** A logger that discards everything (tests, embedded use). */
export const silentLogger: Logger = pino({ level: 'silent' });
