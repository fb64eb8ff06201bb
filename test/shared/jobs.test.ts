import { pushUserDataSchema, setPasswordDataSchema, userSnapshotSchema, parseJobData, JOB_SCHEMAS, QUEUES, TARGETS } from '../../shared/jobs.js';
import { Keyring, parseKey } from '../../shared/crypto.js';

const key = parseKey(Buffer.alloc(32, 7).toString('base64'));

describe('job contract', () => {
  it('accepts a minimal snapshot and defaults active to true', () => {
    const user = userSnapshotSchema.parse({ id: 'u1', username: 'alice', email: 'alice@example.com' });
    expect(user).toEqual({ id: 'u1', username: 'alice', email: 'alice@example.com', active: true });
  });

  it('refuses unknown fields from callers, while job payloads (written by idsync) strip them', () => {
    expect(userSnapshotSchema.safeParse({ id: 'u1', username: 'alice', email: 'alice@example.com', firstname: 'A' }).error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['firstname'] });
    const job = { schemaVersion: 1, enqueuedAt: 1, op: 'upsert', user: { id: 'u1', username: 'alice', email: 'alice@example.com', version: 1, addedLater: true } };
    expect(parseJobData('crowd', 'push-user', job)).toMatchObject({ user: { id: 'u1', version: 1 } });
    expect(parseJobData('crowd', 'pull-user', { schemaVersion: 1, enqueuedAt: 1, user: { id: 'u1', extra: 1 }, mode: 'pull' })).toMatchObject({ user: { id: 'u1' } });
  });

  it('names every bad field of a snapshot', () => {
    const result = userSnapshotSchema.safeParse({ id: '', username: 5, email: 'not-an-email', groups: [''], version: -1 });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('.')).sort();
    expect(paths).toEqual(['email', 'groups.0', 'id', 'username', 'version']);
  });

  it('requires a version on push payloads and tells upsert from delete', () => {
    const base = { schemaVersion: 1, enqueuedAt: Date.now() };
    expect(pushUserDataSchema.safeParse({ ...base, op: 'upsert', user: { id: 'u', username: 'a', email: 'a@b.co' } }).success).toBe(false);
    expect(pushUserDataSchema.parse({ ...base, op: 'delete', user: { id: 'u', version: 3 } }).op).toBe('delete');
    expect(pushUserDataSchema.safeParse({ ...base, op: 'rename', user: { id: 'u', version: 3 } }).success).toBe(false);
  });

  it('rejects payloads of another schema version', () => {
    expect(() => parseJobData('crowd', 'push-user', { schemaVersion: 2, enqueuedAt: 1, op: 'delete', user: { id: 'u', version: 1 } })).toThrow();
  });

  it('accepts only encrypted envelopes for passwords', () => {
    const envelope = new Keyring(key).encrypt('pw', 'aad');
    const base = { schemaVersion: 1, enqueuedAt: 1, user: { id: 'u' }, expiresAt: 2 };
    expect(setPasswordDataSchema.safeParse({ ...base, password: envelope }).success).toBe(true);
    expect(setPasswordDataSchema.safeParse({ ...base, password: 'plain' }).success).toBe(false);
  });

  it('has a schema for every job on every queue, and one queue per target', () => {
    for (const t of TARGETS) expect(QUEUES[t]).toBe(t);
    expect(Object.keys(JOB_SCHEMAS.crowd).sort()).toEqual(Object.keys(JOB_SCHEMAS.entra).sort());
    expect(() => parseJobData('crowd', 'no-such-job', {})).toThrow(/unknown job name/);
  });
});
