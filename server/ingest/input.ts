import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../../shared/errors.js';
import { TARGETS, passwordSchema, provisionScopeSchema, userIdSchema, usernameSchema, userSnapshotSchema, type Target, type UserRef, type UserSnapshot } from '../../shared/jobs.js';
import { toIssues } from '../../shared/validation.js';
import { parseProvision } from '../../producers/provision.js';

/**
 * Request bodies → client library calls. The same schemas as the client, checked here in
 * full before anything touches Redis (an Idempotency-Key is only reserved for a request
 * that will be enqueued). Every issue of a request is reported at once, by path, never
 * with the value.
 */


class Issues {
  readonly list: ValidationIssue[] = [];
  add(path: string, message: string) {
    this.list.push({ path, message });
  }
  /** The parsed value, or undefined with its issues noted. */
  parse<S extends z.ZodType>(schema: S, input: unknown, prefix: (string | number)[] = []): z.output<S> | undefined {
    const r = schema.safeParse(input);
    if (r.success) return r.data;
    this.list.push(...toIssues(r.error, prefix));
    return undefined;
  }
  throwIfAny(subject: string) {
    if (this.list.length) throw new ValidationError(this.list, subject);
  }
}

/** The body as an object (an absent body counts as `{}` where it is optional); undefined = not one. */
function objectBody(issues: Issues, body: unknown, required: boolean): Record<string, unknown> | undefined {
  if (body === undefined && !required) return {};
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  issues.add('', 'the body must be a JSON object');
  return undefined;
}

/** The id comes from the path; a body that names an id must name the same one. */
function checkBodyId(issues: Issues, pathId: string, body: Record<string, unknown>): void {
  if (body.id !== undefined && body.id !== pathId) issues.add('id', 'must equal the id in the path');
}

// The body may repeat the id (checked against the path); anything else unknown is named.
const bodyId = { id: z.unknown().optional() };
const targetsSchema = z.array(z.enum(TARGETS)).min(1, 'name at least one target');

function targets(issues: Issues, value: unknown, configured: readonly Target[]): Target[] | undefined {
  if (value === undefined) return undefined;
  const chosen = issues.parse(targetsSchema, value, ['targets']);
  const unknown = chosen?.filter((t) => !configured.includes(t)) ?? [];
  if (unknown.length) issues.add('targets', `not configured on this server: ${unknown.join(', ')}`);
  return chosen;
}

/** `PUT /users/{id}`: the snapshot, its id from the path. */
export function userSnapshotInput(pathId: string, body: unknown): UserSnapshot {
  const issues = new Issues();
  const obj = objectBody(issues, body, true);
  let user: UserSnapshot | undefined;
  if (obj) {
    checkBodyId(issues, pathId, obj);
    user = issues.parse(userSnapshotSchema, { ...obj, id: pathId });
  }
  issues.throwIfAny('user');
  return user!;
}

const deleteSchema = z.strictObject({ ...bodyId, username: usernameSchema.optional(), version: z.number().int().nonnegative().optional() });

/** `DELETE /users/{id}`: optional `{ username, version }`. */
export function userDeletedInput(pathId: string, body: unknown): UserRef & { version?: number } {
  const issues = new Issues();
  const obj = objectBody(issues, body, false);
  const parsed = obj && (checkBodyId(issues, pathId, obj), issues.parse(deleteSchema, obj));
  const id = issues.parse(userIdSchema, pathId, ['id']);
  issues.throwIfAny('user');
  const { username, version } = parsed!;
  return { id: id!, ...(username !== undefined && { username }), ...(version !== undefined && { version }) };
}

const passwordBodySchema = z.strictObject({ ...bodyId, password: passwordSchema, username: usernameSchema.optional() });

/** `POST /users/{id}/password`: `{ password, username? }`. */
export function passwordInput(pathId: string, body: unknown): { user: UserRef; password: string } {
  const issues = new Issues();
  const obj = objectBody(issues, body, true);
  const parsed = obj && (checkBodyId(issues, pathId, obj), issues.parse(passwordBodySchema, obj));
  const id = issues.parse(userIdSchema, pathId, ['id']);
  issues.throwIfAny('password change');
  const { password, username } = parsed!;
  return { user: { id: id!, ...(username !== undefined && { username }) }, password };
}

const pullSchema = z.strictObject({ ...bodyId, username: usernameSchema.optional(), targets: z.unknown().optional() });

/** `POST /users/{id}/pull`: optional `{ username, targets }`. */
export function pullInput(pathId: string, body: unknown, configured: readonly Target[]): { user: UserRef; targets: Target[] | undefined } {
  const issues = new Issues();
  const obj = objectBody(issues, body, false);
  const parsed = obj && (checkBodyId(issues, pathId, obj), issues.parse(pullSchema, obj));
  const chosen = targets(issues, obj?.targets, configured);
  const id = issues.parse(userIdSchema, pathId, ['id']);
  issues.throwIfAny('pull');
  const username = parsed!.username;
  return { user: { id: id!, ...(username !== undefined && { username }) }, targets: chosen };
}

// The scope's own schemas (shared with the client), applied field by field: as a union they
// would report "Invalid input" at the root instead of naming the bad entry.
const [, idsScope, remoteIdsScope] = provisionScopeSchema.options;
const provisionSchema = z.strictObject({
  ids: idsScope.shape.ids.optional(),
  remoteIds: remoteIdsScope.shape.remoteIds.optional(),
  all: z.literal(true, 'must be true').optional(),
  targets: z.unknown().optional(),
  direction: z.enum(['to-target', 'from-target']).default('to-target'),
});

export type ProvisionInput = {
  scope: 'all' | { ids: string[] } | { remoteIds: string[] };
  direction: 'to-target' | 'from-target';
  targets: Target[] | undefined;
};

/** `POST /provision`: exactly one of `ids`, `remoteIds`, `all: true`; optional `targets`, `direction`. */
export function provisionInput(body: unknown, configured: readonly Target[]): ProvisionInput {
  const issues = new Issues();
  const obj = objectBody(issues, body, true);
  const parsed = obj && issues.parse(provisionSchema, obj);
  const chosen = targets(issues, obj?.targets, configured);
  if (obj) {
    const given = (['ids', 'remoteIds', 'all'] as const).filter((k) => obj[k] !== undefined);
    if (given.length !== 1) issues.add(given[1] ?? '', 'give exactly one of ids, remoteIds or all: true');
  }
  issues.throwIfAny('provision');
  const { ids, remoteIds, direction } = parsed!;
  const scope = ids ? { ids } : remoteIds ? { remoteIds } : 'all';
  // The client's own check of scope and direction together (remoteIds only when importing).
  parseProvision(scope, { direction });
  return { scope, direction, targets: chosen };
}
