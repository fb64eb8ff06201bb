import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';

/**
 * The single place caller input is checked. Issues name each bad field by path;
 * values are never echoed, so a password or e-mail cannot leak through an error.
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, subject: string, pathPrefix: (string | number)[] = []): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(toIssues(result.error, pathPrefix), subject);
}

export function toIssues(error: z.ZodError, pathPrefix: (string | number)[] = []): ValidationIssue[] {
  return flatten(error.issues, pathPrefix);
}

function flatten(issues: readonly z.core.$ZodIssue[], pathPrefix: PropertyKey[]): ValidationIssue[] {
  return issues.flatMap((i): ValidationIssue[] => {
    const path = [...pathPrefix, ...i.path];
    // One issue per unknown field, at the field's own path, so a typo is named where it sits
    // (a field name is not a value: nothing the caller sent leaks through it).
    if (i.code === 'unrecognized_keys') return i.keys.map((key) => ({ path: join([...path, key]), message: 'unknown field' }));
    // A bad record key is named by its record, not by itself: the key may hold a control
    // character that would garble the message, or be the very text that was refused.
    if (i.code === 'invalid_key') return i.issues.map((inner) => ({ path: join(path.slice(0, -1)), message: `a key ${inner.message}` }));
    // A union (a string or a list of strings): when one branch had the right type, it says
    // what is wrong; zod's own message would be a bare "Invalid input".
    if (i.code === 'invalid_union') {
      const typed = i.errors.filter((branch) => !branch.every((b) => b.code === 'invalid_type' || (b.code === 'invalid_value' && b.path.length === 0)));
      if (typed.length === 1) return flatten(typed[0]!, path);
    }
    return [{ path: join(path), message: i.message }];
  });
}

const join = (path: readonly PropertyKey[]) => path.map(String).join('.');
