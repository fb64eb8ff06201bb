import { z } from 'zod';
import type { AppRegistrationInput, RegisteredApp } from './apps.js';
import type { EntraStats } from './core.js';
import type { EntraFaults } from './faults.js';
import type { SeedInput, SeedResult } from './seed.js';

/** What the admin routes drive; implemented by the emulator instance. */
export interface AdminTarget {
  info(): unknown;
  stats(): EntraStats;
  resetStats(): void;
  reset(): void;
  seed(input: SeedInput): SeedResult;
  faults(): EntraFaults;
  setFaults(f: Partial<EntraFaults>): void;
  registerApp(app: AppRegistrationInput): RegisteredApp;
  expireClientSecrets(clientId: string): void;
  expireDeltaTokens(): void;
  forceDeltaReset(): void;
  setDeltaRepeatEdits(changes: Record<string, string | null> | undefined): void;
  advanceClock(ms: number): void;
}

export interface AdminResponse {
  status: number;
  body: unknown;
}

const faultsSchema = z
  .object({
    errorRate: z.number().min(0).max(1),
    errorStatuses: z.array(z.number().int().min(400).max(599)),
    failNext: z.number().int().min(0),
    failNextStatus: z.number().int().min(400).max(599),
    failNextMode: z.enum(['before', 'after']),
    failNextMethods: z.array(z.enum(['GET', 'POST', 'PATCH', 'PUT', 'DELETE'])).nullable(),
    faultRetryAfterSeconds: z.number().min(0).nullable(),
    throttleRate: z.number().min(0).max(1),
    latencyMs: z.number().min(0),
    latencyJitterMs: z.number().min(0),
    eventualConsistencyMs: z.number().min(0),
    deltaDuplicates: z.boolean(),
    deltaPageSize: z.number().int().min(1).max(999),
    deltaTokenTtlSeconds: z.number().min(0),
    tokenFailNext: z.number().int().min(0),
    throttling: z.boolean(),
    tenantSize: z.enum(['auto', 'S', 'M', 'L']),
    passwordComplexity: z.boolean(),
    malformedRate: z.number().min(0).max(1),
    malformedNext: z.number().int().min(0),
    malformedKind: z.enum(['html200', 'truncated']),
    stallRate: z.number().min(0).max(1),
    stallMs: z.number().min(0),
    resetRate: z.number().min(0).max(1),
  })
  .partial()
  .strict();

const appSchema = z
  .object({
    clientId: z.string().optional(),
    clientSecret: z.string().optional(),
    certificatePem: z.string().optional(),
    roles: z.array(z.string()),
    passwordAdministrator: z.boolean().optional(),
    displayName: z.string().optional(),
  })
  .strict();

const seedSchema = z.object({
  users: z
    .array(
      z.looseObject({
        userPrincipalName: z.string(),
        photo: z.object({ contentType: z.string(), data: z.string() }).optional(),
      }),
    )
    .optional(),
  groups: z
    .array(
      z.object({
        id: z.string().optional(),
        displayName: z.string(),
        mailNickname: z.string().optional(),
        description: z.string().optional(),
        securityEnabled: z.boolean().optional(),
        mailEnabled: z.boolean().optional(),
        groupTypes: z.array(z.string()).optional(),
        members: z.array(z.string()).optional(),
      }),
    )
    .optional(),
  generateUsers: z
    .object({ count: z.number().int().min(0).max(1_000_000), prefix: z.string().optional(), domain: z.string().optional(), startIndex: z.number().int().optional() })
    .optional(),
});

const repeatEditsSchema = z.object({ changes: z.record(z.string(), z.string().nullable()).nullable() }).strict();

const clockSchema = z.object({ ms: z.number().optional(), seconds: z.number().optional() }).strict();

/**
 * Admin routes live outside /v1.0 and need no token (loopback tooling):
 * GET /_admin, GET /_admin/stats, POST /_admin/stats/reset, POST /_admin/reset,
 * POST /_admin/seed, GET|POST /_admin/faults, POST /_admin/apps, POST /_admin/apps/expire-secrets,
 * POST /_admin/delta/expire, POST /_admin/delta/reset, POST /_admin/delta/repeat-edits,
 * POST /_admin/clock/advance.
 */
export function handleAdmin(target: AdminTarget, method: string, path: string, body: Buffer): AdminResponse {
  const route = `${method} ${path.replace(/\/+$/, '') || '/_admin'}`;
  let input: unknown = undefined;
  if (body.length) {
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      return { status: 400, body: { error: 'invalid JSON body' } };
    }
  }
  const parse = <T>(schema: z.ZodType<T>): T => {
    const r = schema.safeParse(input ?? {});
    if (!r.success) throw new AdminInputError(z.prettifyError(r.error));
    return r.data;
  };
  try {
    switch (route) {
      case 'GET /_admin':
        return { status: 200, body: target.info() };
      case 'GET /_admin/stats':
        return { status: 200, body: target.stats() };
      case 'POST /_admin/stats/reset':
        target.resetStats();
        return { status: 200, body: target.stats() };
      case 'POST /_admin/reset':
        target.reset();
        return { status: 200, body: { ok: true } };
      case 'POST /_admin/seed':
        return { status: 200, body: target.seed(parse(seedSchema) as SeedInput) };
      case 'GET /_admin/faults':
        return { status: 200, body: target.faults() };
      case 'POST /_admin/faults':
        target.setFaults(parse(faultsSchema) as Partial<EntraFaults>);
        return { status: 200, body: target.faults() };
      case 'POST /_admin/apps':
        return { status: 201, body: target.registerApp(parse(appSchema)) };
      case 'POST /_admin/delta/expire':
        target.expireDeltaTokens();
        return { status: 200, body: { ok: true } };
      case 'POST /_admin/delta/reset':
        target.forceDeltaReset();
        return { status: 200, body: { ok: true } };
      case 'POST /_admin/delta/repeat-edits':
        target.setDeltaRepeatEdits(parse(repeatEditsSchema).changes ?? undefined);
        return { status: 200, body: { ok: true } };
      case 'POST /_admin/clock/advance': {
        const c = parse(clockSchema);
        target.advanceClock((c.ms ?? 0) + (c.seconds ?? 0) * 1000);
        return { status: 200, body: { ok: true } };
      }
      case 'POST /_admin/apps/expire-secrets': {
        target.expireClientSecrets(parse(z.object({ clientId: z.string() }).strict()).clientId);
        return { status: 200, body: { ok: true } };
      }
      default:
        return { status: 404, body: { error: `no admin route ${route}` } };
    }
  } catch (err) {
    if (err instanceof AdminInputError) return { status: 400, body: { error: err.message } };
    return { status: 409, body: { error: err instanceof Error ? err.message : String(err) } };
  }
}

class AdminInputError extends Error {}
