import { z } from 'zod';

/**
 * Text fields of caller input. Lengths are UTF-16 code units (JavaScript's `length`), the
 * unit Crowd (Java) and Graph count in: zod's own `max` counts code points, which let a
 * 200-emoji username (400 units) through to fail remotely.
 *
 * Single-line fields (ids, usernames, names, e-mail, group names) refuse characters that
 * are invisible or change how text is read, so a name cannot look like another one:
 * C0/C1 controls (NUL, TAB, CR, LF, DEL, …), bidi overrides, isolates and marks, and
 * zero-width characters. Every field refuses unpaired surrogates, which have no UTF-8
 * form and reach a remote as U+FFFD (or a 400). Messages name the kind, never the value.
 */

// Matching control characters is the point of these two.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Multi-line text (attribute values) may keep TAB, LF and CR.
// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const ZERO_WIDTH = /[\u200b-\u200d\u2060\ufeff]/;
// Deliberately without the `u` flag: it matches code units, so a lone half of a pair is seen.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// Every character one of the checks below looks at (surrogates too, paired or not): a value
// without any, which is nearly every value, is clean after one scan instead of four.
// eslint-disable-next-line no-control-regex
const SUSPECT = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ud800-\udfff\ufeff]/;

/** What is wrong with a single-line value, or undefined when nothing is. */
export function singleLineProblem(value: string): string | undefined {
  if (!SUSPECT.test(value)) return undefined;
  if (CONTROL.test(value)) return 'must not contain control characters (NUL, TAB, CR, LF, DEL, C1)';
  if (BIDI.test(value)) return 'must not contain bidirectional formatting characters';
  if (ZERO_WIDTH.test(value)) return 'must not contain zero-width characters';
  return anyTextProblem(value);
}

/** What is wrong with free text (line breaks and tabs allowed), or undefined. */
export function freeTextProblem(value: string): string | undefined {
  if (!SUSPECT.test(value)) return undefined;
  if (CONTROL_EXCEPT_LINES.test(value)) return 'must not contain control characters other than TAB, CR and LF';
  return anyTextProblem(value);
}

/** True when `value` holds half a surrogate pair: not valid Unicode, and lost in UTF-8. */
export const hasLoneSurrogate = (value: string): boolean => LONE_SURROGATE.test(value);

function anyTextProblem(value: string): string | undefined {
  if (hasLoneSurrogate(value)) return 'must not contain unpaired surrogates (not valid Unicode)';
  return undefined;
}

const lengthMessage = (max: number) => `must be at most ${max} characters (UTF-16 code units)`;

/**
 * A string checked as sent (characters, then length after trimming). `min` 1 refuses empty
 * and blank values; `lines: true` allows TAB, CR and LF.
 */
export function checkedText(options: { max: number; min?: number; trim?: boolean; lines?: boolean }) {
  const { max, min = 0, trim = true, lines = false } = options;
  const problem = lines ? freeTextProblem : singleLineProblem;
  // The character check runs before trimming: a trailing LF is refused, not silently cut.
  const base = z.string().check((ctx) => {
    const message = problem(ctx.value);
    if (message) ctx.issues.push({ code: 'custom', message, input: ctx.value, continue: false });
  });
  return (trim ? base.trim() : base).check((ctx) => {
    if (min > 0 && ctx.value.length < min) ctx.issues.push({ code: 'custom', message: min === 1 ? 'must not be empty' : `must be at least ${min} characters`, input: ctx.value });
    else if (ctx.value.length > max) ctx.issues.push({ code: 'custom', message: lengthMessage(max), input: ctx.value });
  });
}

/** A required single-line field: trimmed, 1 to `max` UTF-16 units. */
export const requiredText = (max: number) => checkedText({ max, min: 1 });

/** UTF-8 bytes of a value as JSON: what a job or request body occupies. */
export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');

/** `65536` → `"64 KiB"`, `70000` → `"70,000 bytes"`. */
export const formatBytes = (n: number): string => (n % 1024 === 0 ? `${n / 1024} KiB` : `${n.toLocaleString('en-US')} bytes`);
