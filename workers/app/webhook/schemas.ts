import { z } from 'zod';
import type { AppApplyResult, AppUser } from '../directory.js';

/**
 * What a receiver answers, checked before anything reaches a caller. Lenient only where
 * PHP and friends differ from JavaScript without meaning anything else: numeric ids and
 * versions, and `null` for an optional field the application has no value for.
 */

// Drupal's uids, for one, are integers: an id is a string on the wire but a number is taken as one.
const id = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);
const optionalText = z.string().nullish().transform((v) => v ?? undefined);
const names = z.array(z.string()).nullish().transform((v) => v ?? undefined);

export const appUserSchema = z
  .object({
    id,
    username: z.string().min(1),
    email: z.string(),
    firstName: optionalText,
    lastName: optionalText,
    displayName: optionalText,
    active: z.boolean(),
    groups: names,
    roles: names,
    attributes: z.record(z.string(), z.union([z.string(), z.array(z.string())])).nullish().transform((v) => v ?? undefined),
    photoHash: optionalText,
    version: z.number().int().nonnegative().nullish().transform((v) => v ?? undefined),
  })
  .transform((u): AppUser => {
    // Absent optional fields stay absent (not `key: undefined`), so callers can compare users as JSON.
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(u)) if (v !== undefined) out[k] = v;
    return out as unknown as AppUser;
  });

export const userPageSchema = z.object({
  users: z.array(appUserSchema),
  // Required and explicit: a receiver that forgets it must not end a listing early.
  nextCursor: z.string().min(1).nullable(),
});

export const applyResultSchema = z.object({
  id,
  created: z.boolean(),
  changed: z.array(z.string()),
}) satisfies z.ZodType<AppApplyResult>;

/** A receiver's refusal; both fields optional because a proxy's error page has neither. */
export const errorBodySchema = z.object({
  error: z.string().optional(),
  code: z.string().optional(),
});

/** Where the first problem is, never the offending value (it may be personal data). */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.') || '(root)';
  // zod 4's built-in messages name the expected type or bound, never the value received.
  return `${path}: ${issue.message}`;
}
