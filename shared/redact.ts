/**
 * Secret scrubbing shared by the logger, the audit log and error messages. Keys are
 * matched by name wherever they sit in an object; free text is scrubbed of the
 * shapes secrets take on the wire (Authorization headers, bearer tokens, JWTs,
 * `password=...` pairs, URL credentials).
 */

export const REDACTED = '[Redacted]';

const SECRET_KEY = /pass(word|wd)?$|^pwd$|secret|token|authori[sz]ation|api[-_]?key|cookie|assertion|credential|private[-_]?key|^ct$|^iv$|^tag$/i;

const TEXT_PATTERNS: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  [/((?:pass(?:word|wd)?|secret|token|client_secret|client_assertion|access_token)["']?\s*[:=]\s*["']?)[^"'&\s,}]+/gi, `$1${REDACTED}`],
  [/(\w+:\/\/[^:/\s@]+:)[^@\s/]+@/g, `$1${REDACTED}@`],
];

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of TEXT_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A deep copy with secret-named keys replaced and strings scrubbed. Cycles are cut. */
export function redactValue(value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, seen));
  if (value instanceof Error) {
    return { type: value.name, message: redactText(value.message), stack: value.stack && redactText(value.stack) };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redactValue(v, seen);
  }
  return out;
}
