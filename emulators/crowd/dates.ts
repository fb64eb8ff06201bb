// Date literals accepted by Crowd searches. The server's JVM time zone applies when a value
// has no offset; the emulator behaves as a server running in UTC.
import { illegalArgument } from './errors.js';

// CQL (reference §6.2): 2010-12-08T16:11:21.181+1100, 2010-12-08T16:11:21, 2010-12-08T16,
// 2010-12-08, 2010-12, 2010. An offset is only meaningful with a time part.
const CQL_DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?([+-]\d{2}:?\d{2})?)?)?)?$/;

function offsetMinutes(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const sign = raw.startsWith('-') ? -1 : 1;
  const digits = raw.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
}

function build(parts: (string | undefined)[], msFraction: (s: string) => number, offset: string | undefined, raw: string): number {
  const [y, mo, d, h, mi, s, frac] = parts;
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  const hour = h === undefined ? 0 : Number(h);
  const minute = mi === undefined ? 0 : Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    throw illegalArgument(`Unable to parse date: ${raw}`);
  }
  const utc = Date.UTC(Number(y), month - 1, day, hour, minute, second, frac === undefined ? 0 : msFraction(frac));
  if (new Date(utc).getUTCDate() !== day) throw illegalArgument(`Unable to parse date: ${raw}`);
  return utc - offsetMinutes(offset) * 60_000;
}

export function parseCqlDate(raw: string): number {
  const m = CQL_DATE.exec(raw.trim());
  if (!m) throw illegalArgument(`Unable to parse date: ${raw}`);
  return build(m.slice(1, 8), (f) => Math.round(Number(`0.${f}`) * 1000), m[8], raw);
}

// POST restriction bodies: SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss.SSSZ"). Java reads the
// SSS field as an integer count of milliseconds, so ".5" means 5 ms, not 500.
const RESTRICTION_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{1,3})([+-]\d{4})$/;

export function parseRestrictionDate(raw: string): number {
  const m = RESTRICTION_DATE.exec(raw);
  if (!m) throw illegalArgument(`Error parsing time: ${raw}`);
  return build(m.slice(1, 8), (f) => Number(f), m[8], raw);
}
