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
  return error.issues.flatMap((i) => {
    const path = [...pathPrefix, ...i.path];
    // One issue per unknown field, at the field's own path, so a typo is named where it sits
    // (a field name is not a value: nothing the caller sent leaks through it).
    if (i.code === 'unrecognized_keys') return i.keys.map((key) => ({ path: [...path, key].map(String).join('.'), message: 'unknown field' }));
    return [{ path: path.map(String).join('.'), message: i.message }];
  });
}
