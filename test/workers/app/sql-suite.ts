import { createHash } from 'node:crypto';
import type { InvalidEnvironmentError } from '../../../shared/errors.js';
import type { AppChange, AppUserValues } from '../../../workers/app/directory.js';
import { openSqlDirectory, type EngineOptions, type SqlDirectory, type SqlEngine } from '../../../workers/app/sql/index.js';
import { collect } from '../../helpers/collect.js';

/**
 * One behavioural suite for the SQL directory, run against a PostgreSQL server and against
 * embedded PGlite. `raw` reaches the same database without the directory, to set up tables
 * and to look at what was stored.
 */
export interface SqlTestBed {
  raw: SqlEngine;
  /** What openSqlDirectory gets as its engine. */
  engine: EngineOptions | SqlEngine;
}

const change = (values: AppUserValues, id?: string): AppChange => ({ ...(id !== undefined && { id }), values, source: 'crowd' });

const photoOf = (text: string) => {
  const data = Buffer.from(text);
  return { data, contentType: 'image/png', hash: createHash('sha256').update(data).digest('hex') };
};

async function configError(p: Promise<unknown>): Promise<InvalidEnvironmentError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as InvalidEnvironmentError,
  );
  if (!err) throw new Error('expected openSqlDirectory to reject');
  expect(err.name).toBe('InvalidEnvironmentError');
  return err;
}

const messages = (err: InvalidEnvironmentError) => err.variables.map((v) => `${v.path}: ${v.message}`);

export function describeSqlDirectory(bed: () => SqlTestBed): void {
  const open = (options: { table?: string; columns?: Record<string, string> } = {}) => openSqlDirectory({ engine: bed().engine, ...options });

  describe('the default table', () => {
    let dir: SqlDirectory;
    beforeAll(async () => {
      dir = await open();
    });
    afterAll(() => dir.close());

    it('is created by an idempotent migration with the default column map', async () => {
      const again = await open();
      await again.close();
      const { rows } = await bed().raw.query<{ column_name: string }>(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'idsync_users' ORDER BY ordinal_position",
      );
      expect(rows.map((r) => r.column_name)).toEqual([
        'id', 'username', 'email', 'first_name', 'last_name', 'display_name', 'active', 'groups', 'roles',
        'attributes', 'photo', 'photo_hash', 'photo_content_type', 'version', 'created_at', 'updated_at',
      ]);
      const idx = await bed().raw.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'idsync_users_username_lower_key'");
      expect(idx.rows[0]?.indexdef).toMatch(/UNIQUE INDEX .*lower\(username\)/);
      expect(dir.kind).toBe(bed().raw.kind);
      expect(dir.columns).toMatchObject({ id: 'id', firstName: 'first_name', photoHash: 'photo_hash', version: 'version' });
    });

    it('creates a user with a UUID id and reports every field it set', async () => {
      const res = await dir.apply(change({ username: 'alice', email: 'alice@example.test', firstName: 'Alice', groups: ['b', 'a'], attributes: { dept: 'ops', tags: ['x', 'y'] } }));
      expect(res).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), created: true, changed: ['username', 'email', 'firstName', 'groups', 'attributes'] });
      const user = await dir.get(res.id);
      expect(user).toEqual({
        id: res.id, username: 'alice', email: 'alice@example.test', firstName: 'Alice', active: true,
        groups: ['b', 'a'], attributes: { dept: 'ops', tags: ['x', 'y'] }, version: expect.any(Number),
      });
      expect(Math.abs(user!.version! - Date.now())).toBeLessThan(60_000);
      expect(await dir.get('no-such-user')).toBeNull();
    });

    it('adopts by username, then by e-mail, case-insensitively, and writes nothing when nothing differs', async () => {
      const values = { username: 'bob', email: 'bob@example.test', lastName: 'Builder', groups: ['g1', 'g2'], attributes: { a: '1', b: '2' } };
      const created = await dir.apply(change(values));
      const before = await dir.get(created.id);
      const stamp = async () => (await bed().raw.query<{ t: string }>('SELECT updated_at::text AS t FROM idsync_users WHERE id = $1', [created.id])).rows[0]!.t;
      const touched = await stamp();

      // A retried import: same values, other order of groups and attribute keys.
      const again = await dir.apply(change({ ...values, groups: ['g2', 'g1'], attributes: { b: '2', a: '1' } }));
      expect(again).toEqual({ id: created.id, created: false, changed: [] });
      expect((await dir.get(created.id))!.version).toBe(before!.version);
      expect(await stamp()).toBe(touched);

      const byName = await dir.apply(change({ username: 'BOB', email: 'bob@example.test', firstName: 'Bobby' }));
      expect(byName).toEqual({ id: created.id, created: false, changed: ['username', 'firstName'] });
      const byEmail = await dir.apply(change({ username: 'robert', email: 'BOB@EXAMPLE.TEST' }));
      expect(byEmail).toEqual({ id: created.id, created: false, changed: ['username', 'email'] });
      const after = await dir.get(created.id);
      expect(after).toMatchObject({ username: 'robert', email: 'BOB@EXAMPLE.TEST', firstName: 'Bobby', lastName: 'Builder' });
      expect(after!.version!).toBeGreaterThan(before!.version!);
      expect(await stamp()).not.toBe(touched);
    });

    it('updates by id only the fields given, clears with null, and is idempotent', async () => {
      const { id } = await dir.apply(change({ username: 'carol', email: 'carol@example.test', firstName: 'Carol', displayName: 'C', groups: ['x'] }));
      const update = change({ firstName: null, active: false, groups: [], attributes: { k: 'v' } }, id);
      expect(await dir.apply(update)).toEqual({ id, created: false, changed: ['firstName', 'active', 'groups', 'attributes'] });
      const v1 = (await dir.get(id))!;
      expect(v1).toMatchObject({ username: 'carol', displayName: 'C', active: false, groups: [], attributes: { k: 'v' } });
      expect(v1.firstName).toBeUndefined();
      expect(await dir.apply(update)).toEqual({ id, created: false, changed: [] });
      expect((await dir.get(id))!.version).toBe(v1.version);
      expect(await dir.apply(change({ displayName: null, attributes: { k: 'v' } }, id))).toMatchObject({ changed: ['displayName'] });
    });

    it('refuses what it cannot do with a permanent error', async () => {
      await expect(dir.apply(change({ firstName: 'x' }, 'missing-id'))).rejects.toMatchObject({ name: 'PermanentError', code: 'not_found' });
      await expect(dir.apply(change({ email: 'nobody@example.test' }))).rejects.toMatchObject({ name: 'PermanentError', message: expect.stringMatching(/username/) });
      const { id } = await dir.apply(change({ username: 'dave', email: 'dave@example.test' }));
      await expect(dir.apply(change({ username: null as unknown as string }, id))).rejects.toMatchObject({ name: 'PermanentError' });
      const aborted = { abortSignal: AbortSignal.abort() };
      await expect(dir.get(id, aborted)).rejects.toMatchObject({ name: 'TransientError', code: 'ABORTED' });
      await expect(dir.list(aborted).next()).rejects.toMatchObject({ name: 'TransientError', code: 'ABORTED' });
    });

    it('maps a constraint violation to a permanent error naming the constraint, never the value', async () => {
      await dir.apply(change({ username: 'zebra-taken-value', email: 'z1@example.test' }));
      const { id } = await dir.apply(change({ username: 'other-user', email: 'z2@example.test' }));
      const err = await dir.apply(change({ username: 'ZEBRA-TAKEN-VALUE' }, id)).catch((e: Error) => e);
      expect(err).toMatchObject({ name: 'PermanentError', code: '23505' });
      expect((err as Error).message).toContain('idsync_users_username_lower_key');
      expect((err as Error).message.toLowerCase()).not.toContain('zebra');
    });

    it('lets two concurrent imports of one new user end on one row', async () => {
      const values = { username: 'erin', email: 'erin@example.test' };
      const results = await Promise.all([dir.apply(change(values)), dir.apply(change(values))]);
      expect(results[0]!.id).toBe(results[1]!.id);
      expect(results.filter((r) => r.created)).toHaveLength(1);
    });

    it('replaces roles, and stores and removes photos', async () => {
      const { id } = await dir.apply(change({ username: 'frank', email: 'frank@example.test' }));
      expect(await dir.setRoles(id, ['admin', 'dev'])).toBe(true);
      const withRoles = (await dir.get(id))!;
      expect(withRoles.roles).toEqual(['admin', 'dev']);
      expect(await dir.setRoles(id, ['dev', 'admin'])).toBe(true);
      expect((await dir.get(id))!.version).toBe(withRoles.version);
      expect(await dir.setRoles('missing-id', ['admin'])).toBe(false);

      const photo = photoOf('portrait bytes');
      expect(await dir.setPhoto(id, photo)).toBe(true);
      const stored = await bed().raw.query<{ photo: Uint8Array; photo_content_type: string }>('SELECT photo, photo_content_type FROM idsync_users WHERE id = $1', [id]);
      expect(Buffer.from(stored.rows[0]!.photo).equals(photo.data)).toBe(true);
      expect(stored.rows[0]!.photo_content_type).toBe('image/png');
      const withPhoto = (await dir.get(id))!;
      expect(withPhoto.photoHash).toBe(photo.hash);
      expect(await dir.setPhoto(id, photo)).toBe(true);
      expect((await dir.get(id))!.version).toBe(withPhoto.version);

      expect(await dir.setPhoto(id, null)).toBe(true);
      expect((await dir.get(id))!.photoHash).toBeUndefined();
      const removed = await bed().raw.query('SELECT photo, photo_hash, photo_content_type FROM idsync_users WHERE id = $1', [id]);
      expect(removed.rows[0]).toEqual({ photo: null, photo_hash: null, photo_content_type: null });
      expect(await dir.setPhoto('missing-id', photo)).toBe(false);
    });

    it('stores SQL in values verbatim', async () => {
      const nasty = "x'); DROP TABLE idsync_users; --";
      const { id } = await dir.apply(change({ username: nasty, email: "e'@example.test", firstName: '$1 $2 \\ "quoted"', groups: ['{a,b}', '"}'], attributes: { "k'": "v'); --" } }));
      expect(await dir.get(id)).toMatchObject({ username: nasty, email: "e'@example.test", firstName: '$1 $2 \\ "quoted"', groups: ['{a,b}', '"}'], attributes: { "k'": "v'); --" } });
      expect(await dir.apply(change({ username: nasty.toUpperCase(), email: "e'@example.test" }))).toMatchObject({ id, created: false });
    });

    it('lists 2,500 users in pages, each exactly once, in id order', async () => {
      await bed().raw.query(
        `INSERT INTO idsync_users (id, username, email)
         SELECT 'p-' || lpad(g::text, 5, '0'), 'paged' || g, 'paged' || g || '@example.test' FROM generate_series(1, 2500) g`,
      );
      const pages = await collect(dir.list({ pageSize: 1000 }));
      const expected = (await bed().raw.query<{ id: string }>('SELECT id FROM idsync_users ORDER BY id')).rows.map((r) => r.id);
      expect(pages.map((p) => p.length)).toEqual(pagesOf(expected.length, 1000));
      const ids = pages.flat().map((u) => u.id);
      expect(ids).toEqual(expected);
      const paged = ids.filter((i) => i.startsWith('p-'));
      expect(paged).toHaveLength(2500);
      expect(new Set(paged).size).toBe(2500);
      expect(paged).toEqual([...paged].sort());
    });
  });

  describe('a custom table and column map', () => {
    const columns = { id: 'uid', username: 'login', email: 'mail', firstName: 'given', lastName: 'family', displayName: 'display', active: 'enabled', version: 'updated_at' };
    let dir: SqlDirectory;
    beforeAll(async () => {
      await bed().raw.query(`CREATE TABLE app_accounts (
        uid text PRIMARY KEY, login text NOT NULL, mail text, given text, family text, display text,
        enabled boolean NOT NULL DEFAULT true, updated_at timestamptz, notes text)`);
      dir = await open({ table: 'app_accounts', columns });
    });
    afterAll(() => dir.close());

    it('reads and writes through the mapped columns, with a timestamp version in epoch milliseconds', async () => {
      const created = await dir.apply(change({ username: 'gina', email: 'gina@example.test', firstName: 'Gina', active: true, groups: ['ignored'] }));
      // groups is not mapped: the application does not keep it, so it is neither written nor reported.
      expect(created).toEqual({ id: expect.any(String), created: true, changed: ['username', 'email', 'firstName', 'active'] });
      const row = (await bed().raw.query('SELECT login, mail, given, enabled FROM app_accounts WHERE uid = $1', [created.id])).rows[0];
      expect(row).toEqual({ login: 'gina', mail: 'gina@example.test', given: 'Gina', enabled: true });
      const v1 = (await dir.get(created.id))!;
      expect(v1).toEqual({ id: created.id, username: 'gina', email: 'gina@example.test', firstName: 'Gina', active: true, version: expect.any(Number) });
      expect(Number.isInteger(v1.version)).toBe(true);
      expect(Math.abs(v1.version! - Date.now())).toBeLessThan(60_000);

      expect(await dir.apply(change({ username: 'GINA', email: 'gina@example.test', firstName: 'Gina' }))).toEqual({ id: created.id, created: false, changed: ['username'] });
      const v2 = (await dir.get(created.id))!;
      expect(v2.version!).toBeGreaterThan(v1.version!);
      expect(await dir.apply(change({ active: false, lastName: 'G' }, created.id))).toMatchObject({ changed: ['lastName', 'active'] });
      expect(await dir.apply(change({ active: false, lastName: 'G' }, created.id))).toMatchObject({ changed: [] });
      expect((await dir.get(created.id))!.active).toBe(false);
    });

    it('accepts roles and photos it has no column for only when the user exists', async () => {
      const { id } = await dir.apply(change({ username: 'hank', email: 'hank@example.test' }));
      const before = await dir.get(id);
      expect(await dir.setRoles(id, ['admin'])).toBe(true);
      expect(await dir.setPhoto(id, photoOf('p'))).toBe(true);
      expect(await dir.get(id)).toEqual(before);
      expect(await dir.setRoles('nobody', ['admin'])).toBe(false);
      expect(await dir.setPhoto('nobody', null)).toBe(false);
    });

    it('throws when a listing fails part-way, and maps a column gone at run time to a configuration error', async () => {
      await bed().raw.query('CREATE TABLE breaking (uid text PRIMARY KEY, login text, mail text)');
      await bed().raw.query("INSERT INTO breaking SELECT 'b' || g, 'l' || g, 'm' || g FROM generate_series(1, 5) g");
      const broken = await open({ table: 'breaking', columns: { id: 'uid', username: 'login', email: 'mail' } });
      try {
        const pages = broken.list({ pageSize: 2 });
        expect((await pages.next()).value).toHaveLength(2);
        await bed().raw.query('ALTER TABLE breaking RENAME COLUMN mail TO mail_old');
        await expect(pages.next()).rejects.toMatchObject({ name: 'ConfigurationError', code: '42703' });
        await bed().raw.query('DROP TABLE breaking');
        await expect(broken.get('b1')).rejects.toMatchObject({ name: 'ConfigurationError', code: '42P01' });
      } finally {
        await broken.close();
      }
    });
  });

  describe('a schema-qualified table with an integer identity id', () => {
    const columns = { id: 'person_id', username: 'login', email: 'mail', groups: 'tags', photo: 'picture', version: 'rev' };
    let dir: SqlDirectory;
    beforeAll(async () => {
      await bed().raw.query('CREATE SCHEMA crm');
      await bed().raw.query(`CREATE TABLE crm.people (
        person_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        login varchar(64) NOT NULL CONSTRAINT people_login_check CHECK (login <> 'forbidden-login'),
        mail varchar(200), tags varchar(100)[], picture bytea, rev bigint)`);
      dir = await open({ table: 'crm.people', columns });
    });
    afterAll(() => dir.close());

    it('lets the database number new users and reads them back by that number', async () => {
      const a = await dir.apply(change({ username: 'ivan', email: 'ivan@example.test', groups: ['t1'] }));
      expect(a).toEqual({ id: expect.stringMatching(/^\d+$/), created: true, changed: ['username', 'email', 'groups'] });
      expect(await dir.get(a.id)).toMatchObject({ id: a.id, username: 'ivan', groups: ['t1'], version: expect.any(Number) });
      expect(await dir.get('not-a-number')).toBeNull();
      expect(await dir.get('99999999999999999999')).toBeNull();
      expect(await dir.setRoles('abc', [])).toBe(false);
      await expect(dir.apply(change({ email: 'x@example.test' }, 'abc'))).rejects.toMatchObject({ code: 'not_found' });
    });

    it('pages in numeric id order', async () => {
      for (let i = 0; i < 11; i++) await dir.apply(change({ username: `num${i}`, email: `num${i}@example.test` }));
      const ids = (await collect(dir.list({ pageSize: 5 }))).flat().map((u) => Number(u.id));
      expect(ids.length).toBeGreaterThanOrEqual(12);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('keeps a photo without a hash column, hashing the stored bytes', async () => {
      const { id } = await dir.apply(change({ username: 'judy', email: 'judy@example.test' }));
      const photo = photoOf('judy photo');
      expect(await dir.setPhoto(id, photo)).toBe(true);
      const v1 = (await dir.get(id))!;
      expect(v1.photoHash).toBe(photo.hash);
      expect(await dir.setPhoto(id, photo)).toBe(true);
      expect((await dir.get(id))!.version).toBe(v1.version);
      expect(await dir.setPhoto(id, null)).toBe(true);
      expect((await dir.get(id))!.photoHash).toBeUndefined();
    });

    it('maps bad data and check constraints to permanent errors that do not echo the value', async () => {
      const tooLong = 'L'.repeat(65);
      const err1 = await dir.apply(change({ username: tooLong, email: 'long@example.test' })).catch((e: Error) => e);
      expect(err1).toMatchObject({ name: 'PermanentError', code: '22001' });
      expect((err1 as Error).message).not.toContain(tooLong);
      const err2 = await dir.apply(change({ username: 'forbidden-login', email: 'f@example.test' })).catch((e: Error) => e);
      expect(err2).toMatchObject({ name: 'PermanentError', code: '23514' });
      expect((err2 as Error).message).toContain('people_login_check');
      expect((err2 as Error).message).not.toContain('forbidden-login');
    });
  });

  describe('a table whose names need quoting', () => {
    const table = 'Odd "Users"; DROP TABLE idsync_users; --';
    const columns = { id: 'User ID', username: 'Login Name', email: 'e-mail', active: 'select' };
    it('quotes every identifier', async () => {
      await bed().raw.query(`CREATE TABLE "Odd ""Users""; DROP TABLE idsync_users; --" ("User ID" uuid PRIMARY KEY, "Login Name" text NOT NULL, "e-mail" text, "select" boolean)`);
      const dir = await open({ table, columns });
      try {
        const { id } = await dir.apply(change({ username: 'kim', email: 'kim@example.test', active: false }));
        expect(id).toMatch(/^[0-9a-f-]{36}$/);
        expect(await dir.get(id)).toEqual({ id, username: 'kim', email: 'kim@example.test', active: false });
        expect((await collect(dir.list())).flat().map((u) => u.id)).toEqual([id]);
        expect(await dir.get('not-a-uuid')).toBeNull();
        const stillThere = await bed().raw.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'idsync_users'");
        expect(stillThere.rows).toHaveLength(1);
      } finally {
        await dir.close();
      }
    });
  });

  describe('configuration checks at open', () => {
    beforeAll(async () => {
      await bed().raw.query('CREATE TABLE cfg_users (uid text PRIMARY KEY, login text, mail text, grp integer, on_off text, rev text, pic text)');
    });
    const base = { id: 'uid', username: 'login', email: 'mail' };

    it('names APP_USERS_COLUMNS and the field for an unknown field or a missing required one', async () => {
      const err = await configError(open({ table: 'cfg_users', columns: { ...base, nickname: 'login' } }));
      expect(messages(err)).toEqual([expect.stringMatching(/^APP_USERS_COLUMNS: unknown field "nickname"/)]);
      const missing = await configError(open({ table: 'cfg_users', columns: { id: 'uid', username: 'login' } }));
      expect(messages(missing)).toEqual([expect.stringMatching(/^APP_USERS_COLUMNS: .*"email" is required/)]);
    });

    it('names the field and the column that does not exist', async () => {
      const err = await configError(open({ table: 'cfg_users', columns: { ...base, email: 'mail_nope' } }));
      expect(messages(err)).toEqual([expect.stringMatching(/^APP_USERS_COLUMNS: field "email" maps to column "mail_nope", which table "cfg_users" does not have/)]);
    });

    it('names every column of the wrong type', async () => {
      const err = await configError(open({ table: 'cfg_users', columns: { ...base, groups: 'grp', active: 'on_off', version: 'rev', photo: 'pic' } }));
      expect(messages(err)).toEqual([
        expect.stringMatching(/^APP_USERS_COLUMNS: field "active" maps to column "on_off" of type text; expected boolean/),
        expect.stringMatching(/^APP_USERS_COLUMNS: field "groups" maps to column "grp" of type integer; expected an array of text/),
        expect.stringMatching(/^APP_USERS_COLUMNS: field "photo" maps to column "pic" of type text; expected bytea/),
        expect.stringMatching(/^APP_USERS_COLUMNS: field "version" maps to column "rev" of type text; expected an integer, a timestamp/),
      ]);
    });

    it('names APP_USERS_TABLE for a missing table, and asks for a map for a custom table', async () => {
      const err = await configError(open({ table: 'no_such_table', columns: base }));
      expect(messages(err)).toEqual([expect.stringMatching(/^APP_USERS_TABLE: table "no_such_table" does not exist/)]);
      const qualified = await configError(open({ table: 'no_schema.cfg_users', columns: base }));
      expect(messages(qualified)[0]).toMatch(/^APP_USERS_TABLE: /);
      const noMap = await configError(open({ table: 'cfg_users' }));
      expect(messages(noMap)).toEqual([expect.stringMatching(/^APP_USERS_COLUMNS: required when APP_USERS_TABLE is not idsync_users/)]);
    });

    it('refuses an integer id the database does not generate', async () => {
      await bed().raw.query('CREATE TABLE cfg_numbered (n integer PRIMARY KEY, login text, mail text)');
      const err = await configError(open({ table: 'cfg_numbered', columns: { id: 'n', username: 'login', email: 'mail' } }));
      expect(messages(err)).toEqual([expect.stringMatching(/^APP_USERS_COLUMNS: field "id" maps to integer column "n" without a default or identity/)]);
    });
  });
}

function pagesOf(total: number, size: number): number[] {
  const out: number[] = [];
  for (let left = total; left > 0; left -= size) out.push(Math.min(size, left));
  return out;
}
