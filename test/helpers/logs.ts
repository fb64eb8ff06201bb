import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../shared/logger.js';

/** A logger whose every line is kept, for "the secret is nowhere" checks. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}
