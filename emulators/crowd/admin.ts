// Control endpoint outside the Crowd context path, for tests, the benchmark and operators:
//   GET    {adminUrl}/          connection info
//   GET    {adminUrl}/faults    current knobs          POST {adminUrl}/faults  merge knobs (JSON)
//   DELETE {adminUrl}/faults    knobs back to defaults
//   POST   {adminUrl}/seed      {"users":[...],"groups":[...]} upsert
//   POST   {adminUrl}/reset     data, knobs and counters back to the initial state
//   GET    {adminUrl}/stats     counters               DELETE {adminUrl}/stats  zero counters
//   POST   {adminUrl}/event-tokens/expire   every outstanding /event token → 410 EVENT_TOKEN_EXPIRED
// Unauthenticated and never subject to faults or latency.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { CrowdFaults } from './faults.js';
import type { SeedGroup, SeedUser } from './seed.js';

export interface AdminActions {
  info(): unknown;
  faults(): Readonly<CrowdFaults>;
  setFaults(patch: Partial<CrowdFaults>): void;
  clearFaults(): void;
  seed(users: SeedUser[], groups: SeedGroup[]): void;
  reset(): void;
  stats(): unknown;
  clearStats(): void;
  /** The application password Crowd now expects (an administrator changed or revoked it). */
  setApplicationPassword(password: string): void;
  /** Every outstanding `/event` token answers 410 EVENT_TOKEN_EXPIRED from now on. */
  expireEventTokens(): void;
}

const rate = z.number().min(0).max(1);
const count = z.number().int().min(0);
const ms = z.number().min(0);

const faultsSchema = z
  .object({
    latencyMs: ms,
    latencyJitterMs: ms,
    serverErrorRate: rate,
    serverErrorNext: count,
    serverErrorStatus: z.number().int().min(500).max(599),
    serverErrorStatuses: z.array(z.number().int().min(500).max(599)).nullable(),
    throttleRate: rate,
    throttleNext: count,
    throttleRetryAfterSeconds: count,
    sendRetryAfter: z.boolean(),
    rateLimitPerSecond: z.number().min(0),
    rateLimitBurst: count,
    html403Rate: rate,
    html403Next: count,
    resetRate: rate,
    resetNext: count,
    stallRate: rate,
    stallNext: count,
    stallMs: ms,
    malformedRate: rate,
    malformedNext: count,
    malformedKind: z.enum(['html200', 'html500', 'truncated']),
    failAfterApply: z.boolean(),
    onlyMethods: z.array(z.string()).nullable(),
    onlyRoutes: z.array(z.string()).nullable(),
    seed: z.number().int(),
    renameConflictAs500: z.boolean(),
    singularListKeys: z.boolean(),
    passwordMinLength: count,
    allowPasswordlessCreate: z.boolean(),
    incrementalSync: z.boolean(),
  })
  .partial()
  .strict();

const date = z.union([z.number(), z.string()]);
const attrs = z.record(z.string(), z.array(z.string()));

const seedSchema = z
  .object({
    users: z
      .array(
        z
          .object({
            name: z.string(),
            firstName: z.string(),
            lastName: z.string(),
            displayName: z.string(),
            email: z.string(),
            active: z.boolean(),
            password: z.string(),
            attributes: attrs,
            externalId: z.string(),
            createdDate: date,
            updatedDate: date,
            groups: z.array(z.string()),
          })
          .partial()
          .required({ name: true })
          .strict(),
      )
      .default([]),
    groups: z
      .array(
        z
          .object({
            name: z.string(),
            description: z.string(),
            type: z.enum(['GROUP', 'LEGACY_ROLE']),
            active: z.boolean(),
            attributes: attrs,
            users: z.array(z.string()),
            childGroups: z.array(z.string()),
            createdDate: date,
            updatedDate: date,
          })
          .partial()
          .required({ name: true })
          .strict(),
      )
      .default([]),
  })
  .strict();

/** Validates a knob patch (shared by the HTTP endpoint and `setFaults`). */
export function parseFaults(input: unknown): Partial<CrowdFaults> {
  const r = faultsSchema.safeParse(input);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  return r.data as Partial<CrowdFaults>;
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = value === undefined ? '' : JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  return text === '' ? {} : JSON.parse(text);
}

export function makeAdminHandler(actions: AdminActions) {
  return (req: IncomingMessage, res: ServerResponse, subpath: string, body: Buffer): void => {
    const route = `${req.method ?? 'GET'} ${subpath}`;
    try {
      switch (route) {
        case 'GET /':
          return json(res, 200, actions.info());
        case 'GET /faults':
          return json(res, 200, actions.faults());
        case 'POST /faults':
        case 'PUT /faults':
          actions.setFaults(parseFaults(parseJson(body)));
          return json(res, 200, actions.faults());
        case 'DELETE /faults':
          actions.clearFaults();
          return json(res, 200, actions.faults());
        case 'POST /seed': {
          const r = seedSchema.safeParse(parseJson(body));
          if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
          actions.seed(r.data.users as SeedUser[], r.data.groups as SeedGroup[]);
          return json(res, 200, actions.stats());
        }
        case 'POST /reset':
          actions.reset();
          return json(res, 204, undefined);
        case 'GET /stats':
          return json(res, 200, actions.stats());
        case 'DELETE /stats':
          actions.clearStats();
          return json(res, 200, actions.stats());
        case 'POST /event-tokens/expire':
          actions.expireEventTokens();
          return json(res, 204, undefined);
        case 'PUT /application/password': {
          const r = z.object({ password: z.string().min(1) }).strict().safeParse(parseJson(body));
          if (!r.success) throw new Error('password: a non-empty string is required');
          actions.setApplicationPassword(r.data.password);
          return json(res, 204, undefined);
        }
        default:
          return json(res, 404, { error: `No admin route ${route}` });
      }
    } catch (e) {
      return json(res, 400, { error: e instanceof Error ? e.message : String(e) });
    }
  };
}
