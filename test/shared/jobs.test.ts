import { pushUserDataSchema, setPasswordDataSchema, userSnapshotSchema, parseJobData, passwordSchema, toUserRef, JOB_SCHEMAS, LIMITS, QUEUES, TARGETS } from '../../shared/jobs.js';
import { jsonBytes } from '../../shared/text.js';
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

describe('job contract limits and messages', () => {
  const base = { id: 'u1', username: 'alice', email: 'alice@example.com', active: true };
  const messages = (result: { error?: { issues: Array<{ message: string }> } | undefined }) => result.error?.issues.map((i) => i.message) ?? [];
  const attributes = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`a${i}`, 'v']));

  it('accepts exactly the attribute limit and names the count one over', () => {
    expect(userSnapshotSchema.safeParse({ ...base, attributes: attributes(LIMITS.attributes) }).success).toBe(true);
    expect(messages(userSnapshotSchema.safeParse({ ...base, attributes: attributes(LIMITS.attributes + 1) }))).toEqual([`has ${LIMITS.attributes + 1} attributes; at most ${LIMITS.attributes}`]);
  });

  it('accepts a snapshot of exactly the byte limit and refuses one byte more', () => {
    // Long attribute values make up the bulk; the last one is sized to land on the limit.
    const sized = (extra: number) => {
      const values = Array.from({ length: 15 }, () => 'x'.repeat(LIMITS.attributeValue));
      const user = { ...base, attributes: { big: values, last: '' } };
      const missing = LIMITS.snapshotBytes - jsonBytes(user) + extra;
      return { ...user, attributes: { big: values, last: 'y'.repeat(missing) } };
    };
    expect(jsonBytes(sized(0))).toBe(LIMITS.snapshotBytes);
    expect(userSnapshotSchema.safeParse(sized(0)).success).toBe(true);
    expect(messages(userSnapshotSchema.safeParse(sized(1)))).toEqual(['the snapshot is 65,537 bytes as JSON; the limit is 64 KiB']);
  });

  it('names the password problem: length at 0, 1, 1024 and 1025 units, and unpaired surrogates', () => {
    const lengthMessage = 'must be a string of 1 to 1024 characters';
    expect(messages(passwordSchema.safeParse(''))).toEqual([lengthMessage]);
    expect(passwordSchema.safeParse('a').success).toBe(true);
    expect(passwordSchema.safeParse('😀'.repeat(512)).success).toBe(true);
    expect(messages(passwordSchema.safeParse('😀'.repeat(512) + 'a'))).toEqual([lengthMessage]);
    expect(messages(passwordSchema.safeParse('ab\ud800'))).toEqual(['must not contain unpaired surrogates (not valid Unicode)']);
  });

  it('keeps only the reference, without an undefined username', () => {
    expect(toUserRef({ id: 'u1' })).toStrictEqual({ id: 'u1' });
    expect(Object.keys(toUserRef({ id: 'u1', username: undefined }))).toEqual(['id']);
    expect(toUserRef({ id: 'u1', username: 'alice' })).toStrictEqual({ id: 'u1', username: 'alice' });
  });
});
