import fc from 'fast-check';
import { startTestServer, type Answer, type TestServer } from '../server/support.js';
import { FORBIDDEN_CHARS, invalidSnapshot, safeText, validSnapshot, type Defect } from './support/fuzz-inputs.js';
import { chaosSize, chaosTimeoutMs } from './support/scale.js';

/**
 * Fuzzing the HTTP ingest API against the real Fastify app and the shared Redis (under the
 * test server's prefix): a bad request is always a 4xx with a JSON body (400: the list of
 * problems, each by path, no value echoed), never a 5xx, and enqueues nothing; a valid
 * snapshot is a 202.
 */

const RUNS = chaosSize(1000, 10_000);
const TIMEOUT_MS = chaosTimeoutMs(90_000, 900_000);
/** Requests sent at once: a client's concurrency, and what keeps the short form quick. */
const BATCH = 10;
/** IDSYNC_INGEST_BODY_LIMIT's default. */
const BODY_LIMIT = 256 * 1024;

/** Runs a batch at once; the property holds when every check in it does. */
const all = (checks: Promise<unknown>[]): Promise<void> => Promise.all(checks).then(() => undefined);

const QUEUE_NAMES = ['crowd', 'entra', 'sync'] as const;
async function jobCount(t: TestServer): Promise<number> {
  return (await Promise.all(QUEUE_NAMES.map((q) => t.jobs(q)))).reduce((n, jobs) => n + jobs.length, 0);
}

/** A 4xx with a JSON `error`; a 400 validation answer lists its issues by path. */
function expectRefusal(res: Answer, context: string): void {
  if (res.status < 400 || res.status >= 500) throw new Error(`${context}: expected a 4xx, got ${res.status} ${res.text.slice(0, 300)}`);
  if (typeof res.json.error !== 'string') throw new Error(`${context}: a ${res.status} without an error code: ${res.text.slice(0, 300)}`);
  if (res.json.error === 'validation') {
    const issues = res.json.issues as { path: unknown; message: unknown }[];
    if (!Array.isArray(issues) || issues.length === 0 || issues.some((i) => typeof i.path !== 'string' || typeof i.message !== 'string')) {
      throw new Error(`${context}: a validation answer without a list of issues: ${res.text.slice(0, 300)}`);
    }
  }
}

const echoable = (d: Defect): string | undefined => {
  const v = d.snapshot[d.field];
  return typeof v === 'string' && v.trim().length >= 6 ? v : undefined;
};

/** Percent-encodes a path segment; undefined for text no URL can carry (lone surrogates). */
function segment(id: string): string | undefined {
  try {
    return encodeURIComponent(id);
  } catch {
    return undefined;
  }
}

const printable = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);

describe('fuzzing the HTTP ingest API', () => {
  let t: TestServer;
  beforeAll(async () => { t = await startTestServer(); });
  afterAll(() => t.close());

  it(`answers ${RUNS} snapshots with one planted defect with 400 naming the field, echoing no value, enqueuing nothing`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(invalidSnapshot, { minLength: BATCH, maxLength: BATCH }), (batch) => all(batch.map(async (d) => {
        const { id, ...body } = d.snapshot;
        // The id travels in the path; a defect in it is sent there (as far as a URL can carry it).
        const encoded = d.field === 'id' && typeof id === 'string' ? segment(id) : undefined;
        const path = d.field !== 'id' ? '42' : encoded || '42';
        if (d.field === 'id' && path === '42') return; // no URL can carry it: nothing to send
        const res = await t.request('PUT', `/api/v1/users/${path}`, { body });
        expectRefusal(res, d.kind);
        // Above the body limit the server stops reading: 413, before any field is looked at.
        if (res.status === 413 && Buffer.byteLength(JSON.stringify(body)) > BODY_LIMIT) return;
        if (res.status !== 400) throw new Error(`${d.kind}: expected 400, got ${res.status}`);
        if (!(res.json.issues as { path: string }[]).some((i) => i.path === d.field)) throw new Error(`${d.kind}: no issue at "${d.field}": ${res.text}`);
        const value = echoable(d);
        if (value && res.text.includes(JSON.stringify(value).slice(1, -1))) throw new Error(`${d.kind}: the answer echoes the value`);
      }))),
      { numRuns: RUNS / BATCH },
    );
    expect(await jobCount(t)).toBe(0);
  }, TIMEOUT_MS);

  it(`never answers ${RUNS} arbitrary bodies and headers with a 5xx, and enqueues only what it accepted`, async () => {
    const route = fc.constantFrom(
      ['PUT', '/api/v1/users/42'], ['DELETE', '/api/v1/users/42'], ['POST', '/api/v1/users/42/password'],
      ['POST', '/api/v1/users/42/pull'], ['POST', '/api/v1/provision'], ['PUT', '/api/v1/users/%E0%A4%A'], ['POST', '/api/v1/users/'],
    );
    const body = fc.oneof(
      fc.anything().map((v) => JSON.stringify(v) ?? 'null'),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)), // cut off
      fc.constant('<html><body>hello</body></html>'),
      fc.tuple(fc.constantFrom(...FORBIDDEN_CHARS), safeText(20)).map(([ch, s]) => JSON.stringify({ username: `${s}${ch}`, email: 'a@example.com', password: `${s}${ch}`, ids: [`${s}${ch}`] })),
      fc.dictionary(fc.constantFrom('username', 'email', 'password', 'ids', 'remoteIds', 'all', 'targets', 'direction', 'version', 'groups', 'attributes', 'id'), fc.anything()).map((o) => JSON.stringify(o)),
    );
    const headers = fc.record(
      {
        'content-type': fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/vnd.api+json', ''), printable),
        'idempotency-key': printable,
        'x-idsync-timestamp': printable,
        'x-idsync-signature': printable,
      },
      { requiredKeys: [] },
    );
    const accepted = new Set<string>();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(route, body, headers, fc.constantFrom('bearer', 'none')), { minLength: BATCH, maxLength: BATCH }), (batch) => all(batch.map(async ([[method, path], raw, extra, auth]) => {
        const res = await t.request(method, path, { body: method === 'DELETE' && raw.length > 100 ? '' : raw, headers: extra as Record<string, string>, auth });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 200 && res.status < 300) {
          for (const job of res.json.jobs as { target: string; jobId: string }[]) accepted.add(`${job.target}:${job.jobId}`);
          return;
        }
        expectRefusal(res, `${method} ${path}`);
      }))),
      { numRuns: RUNS / BATCH },
    );
    // Every job in Redis is one an accepted request answered with (repeats coalesce per user).
    const held = (await Promise.all(QUEUE_NAMES.map(async (q) => (await t.jobs(q)).map((j) => `${q}:${j.id}`)))).flat();
    expect(held.filter((id) => !accepted.has(id))).toEqual([]);
    // Mostly refusals of several kinds (400, 401, 404, 415, ...), as the inputs are mostly bad.
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThanOrEqual(3);
  }, TIMEOUT_MS);

  it(`accepts ${chaosSize(200, 2000)} valid snapshots with 202`, async () => {
    const before = await jobCount(t);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(validSnapshot, { minLength: BATCH, maxLength: BATCH }), (batch) => all(batch.map(async ({ id, ...body }) => {
        const res = await t.request('PUT', `/api/v1/users/${segment(id)!}`, { body });
        if (res.status !== 202) throw new Error(`expected 202, got ${res.status} ${res.text}`);
        n++;
      }))),
      { numRuns: chaosSize(200, 2000) / BATCH },
    );
    // Users may repeat (fast-check shrinks towards small values); each has one job per target at most.
    expect(await jobCount(t)).toBeGreaterThan(before);
    expect(n).toBe(chaosSize(200, 2000));
  }, TIMEOUT_MS);
});
