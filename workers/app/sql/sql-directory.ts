import { randomUUID } from 'node:crypto';
import { PermanentError, TransientError } from '../../../shared/errors.js';
import type { AppApplyResult, AppChange, AppPhoto, AppUser, DirectoryCallOptions, ListAppUsersOptions, UserDirectory } from '../directory.js';
import { differing, mappedValues, sameValue, type Assignment } from './changes.js';
import type { ColumnMap, SqlField } from './columns.js';
import type { Queryable, SqlEngine } from './engine.js';
import { sqlError } from './errors.js';
import { quoteIdent } from './identifiers.js';
import { idFits, idPlaceholder, selectList, toAppUser } from './rows.js';
import { insertStatement, updateStatement, type WriteTarget } from './writes.js';

export interface SqlDirectoryOptions {
  engine: SqlEngine;
  /** The table as configured (APP_USERS_TABLE), for messages. */
  tableName: string;
  target: WriteTarget;
}

const MAX_PAGE_SIZE = 10_000;

/**
 * The application's users table as a UserDirectory. Writes read the row FOR UPDATE, compare,
 * and write only what differs, so concurrent jobs for one user serialise on the row and a
 * re-delivered job writes nothing.
 *
 * A field the column map leaves out is not kept by the application: changes to it are
 * ignored, `setRoles` without a `roles` column and `setPhoto` without a `photo` column store
 * nothing and only report whether the user exists.
 */
export class SqlDirectory implements UserDirectory {
  readonly kind: 'sql' | 'embedded';
  /** The table as configured and the resolved column map, for `idsync doctor`. */
  readonly table: string;
  readonly columns: Readonly<Partial<Record<SqlField, string>>>;
  readonly #engine: SqlEngine;
  readonly #target: WriteTarget;
  readonly #map: ColumnMap;
  readonly #select: string;
  readonly #fieldOf: Map<string, string>;

  constructor(options: SqlDirectoryOptions) {
    this.#engine = options.engine;
    this.kind = options.engine.kind;
    this.table = options.tableName;
    this.#target = options.target;
    this.#map = options.target.map;
    this.#select = selectList(this.#map);
    const mapped = Object.values(this.#map);
    this.columns = Object.freeze(Object.fromEntries(mapped.map((c) => [c.field, c.name])));
    this.#fieldOf = new Map(mapped.map((c) => [c.name, c.field]));
  }

  async *list(options: ListAppUsersOptions = {}): AsyncIterableIterator<AppUser[]> {
    const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(options.pageSize ?? 1000)));
    const id = this.#map.id;
    const idCol = quoteIdent(id.name);
    const from = `SELECT ${this.#select} FROM ${this.#target.table}`;
    // Keyset pagination: each page starts after the last id seen, so a page costs the same
    // at the end of a large table as at its start, and rows added or removed meanwhile
    // cannot shift later pages.
    let after: string | undefined;
    for (;;) {
      this.#checkAborted(options, 'listing users');
      const { rows } = await this.#call('listing users', () =>
        after === undefined
          ? this.#engine.query(`${from} WHERE ${idCol} IS NOT NULL ORDER BY ${idCol} LIMIT $1`, [pageSize])
          : this.#engine.query(`${from} WHERE ${idCol} > ${idPlaceholder(id, 1)} ORDER BY ${idCol} LIMIT $2`, [after, pageSize]),
      );
      if (rows.length === 0) return;
      const page = rows.map(toAppUser);
      yield page;
      if (rows.length < pageSize) return;
      after = page[page.length - 1]!.id;
    }
  }

  async get(id: string, options: DirectoryCallOptions = {}): Promise<AppUser | null> {
    this.#checkAborted(options, `read of user ${id}`);
    if (!idFits(this.#map.id.shape, id)) return null;
    const row = await this.#call(`read of user ${id}`, () => this.#byId(this.#engine, id, false));
    return row ? toAppUser(row) : null;
  }

  async apply(change: AppChange, options: DirectoryCallOptions = {}): Promise<AppApplyResult> {
    const what = change.id === undefined ? 'import of a user' : `update of user ${change.id}`;
    this.#checkAborted(options, what);
    const assignments = mappedValues(change.values, this.#map);
    try {
      return await this.#engine.transaction((tx) => this.#applyIn(tx, change.id, assignments));
    } catch (err) {
      // Two imports of one new user can both find nobody and both insert; the loser hits the
      // unique username and, tried again, adopts the row the other one created.
      if (change.id !== undefined || (err as { code?: unknown }).code !== '23505') throw this.#mapped(err, what);
    }
    return this.#call(what, () => this.#engine.transaction((tx) => this.#applyIn(tx, undefined, assignments)));
  }

  async setRoles(id: string, roles: readonly string[], options: DirectoryCallOptions = {}): Promise<boolean> {
    const what = `role update of user ${id}`;
    this.#checkAborted(options, what);
    if (!idFits(this.#map.id.shape, id)) return false;
    const column = this.#map.roles;
    return this.#call(what, () =>
      this.#engine.transaction(async (tx) => {
        const row = await this.#byId(tx, id, true);
        if (!row) return false;
        if (!column || sameValue(row.roles, roles)) return true;
        await this.#write(tx, id, [{ field: 'roles', column, value: [...roles] }]);
        return true;
      }),
    );
  }

  async setPhoto(id: string, photo: AppPhoto | null, options: DirectoryCallOptions = {}): Promise<boolean> {
    const what = `photo update of user ${id}`;
    this.#checkAborted(options, what);
    if (!idFits(this.#map.id.shape, id)) return false;
    return this.#call(what, () =>
      this.#engine.transaction(async (tx) => {
        const row = await this.#byId(tx, id, true, this.#photoState());
        if (!row) return false;
        const changes = this.#photoAssignments(row, photo);
        if (changes.length) await this.#write(tx, id, changes);
        return true;
      }),
    );
  }

  close(): Promise<void> {
    return this.#engine.close();
  }

  async #applyIn(tx: Queryable, id: string | undefined, assignments: Assignment[]): Promise<AppApplyResult> {
    let row: Record<string, unknown> | undefined;
    if (id !== undefined) {
      row = idFits(this.#map.id.shape, id) ? await this.#byId(tx, id, true) : undefined;
      if (!row) throw new PermanentError(`Application user ${id} does not exist in table "${this.table}"`, { code: 'not_found' });
    } else {
      // Adoption: an import retried after a lost reply must find the user it created.
      const byName = assignments.find((a) => a.field === 'username');
      const byEmail = assignments.find((a) => a.field === 'email');
      if (byName) row = await this.#byLowercase(tx, 'username', byName.value as string);
      if (!row && byEmail) row = await this.#byLowercase(tx, 'email', byEmail.value as string);
    }
    if (row) {
      const user = toAppUser(row);
      const changes = differing(user, assignments);
      if (changes.length) await this.#write(tx, user.id, changes);
      return { id: user.id, created: false, changed: changes.map((a) => a.field) };
    }
    if (!assignments.some((a) => a.field === 'username')) {
      throw new PermanentError('A new application user needs a username', { code: 'invalid_value' });
    }
    const values = assignments.filter((a) => a.value !== null);
    const shape = this.#map.id.shape;
    // Text and uuid ids are made here; integer ids come from the column's identity or default.
    const newId = shape === 'text' || shape === 'uuid' ? randomUUID() : undefined;
    const { text, params } = insertStatement(this.#target, newId, values);
    const { rows } = await tx.query<{ id: string }>(text, params);
    return { id: rows[0]!.id, created: true, changed: values.map((a) => a.field) };
  }

  async #write(tx: Queryable, id: string, assignments: readonly Assignment[]): Promise<void> {
    const { text, params } = updateStatement(this.#target, id, assignments);
    await tx.query(text, params);
  }

  async #byId(db: Queryable, id: string, lock: boolean, extra = ''): Promise<Record<string, unknown> | undefined> {
    const idColumn = this.#map.id;
    const { rows } = await db.query(
      `SELECT ${this.#select}${extra} FROM ${this.#target.table} WHERE ${quoteIdent(idColumn.name)} = ${idPlaceholder(idColumn, 1)}${lock ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return rows[0];
  }

  async #byLowercase(tx: Queryable, field: 'username' | 'email', value: string): Promise<Record<string, unknown> | undefined> {
    const c = quoteIdent(this.#map[field].name);
    // Several rows may share an e-mail; the lowest id is the stable choice.
    const { rows } = await tx.query(
      `SELECT ${this.#select} FROM ${this.#target.table} WHERE lower(${c}) = lower($1::text) ORDER BY ${quoteIdent(this.#map.id.name)} LIMIT 1 FOR UPDATE`,
      [value],
    );
    return rows[0];
  }

  #photoState(): string {
    const { photo, photoContentType } = this.#map;
    if (!photo) return '';
    return `, ${quoteIdent(photo.name)} IS NOT NULL AS "hasPhoto"${photoContentType ? `, ${quoteIdent(photoContentType.name)}::text AS "photoContentType"` : ''}`;
  }

  #photoAssignments(row: Record<string, unknown>, photo: AppPhoto | null): Assignment[] {
    const { photo: data, photoHash, photoContentType } = this.#map;
    if (!data) return [];
    const out: Assignment[] = [];
    if (photo === null) {
      if (row.hasPhoto) out.push({ field: 'photo', column: data, value: null });
      if (photoHash && row.photoHash !== null) out.push({ field: 'photoHash', column: photoHash, value: null });
      if (photoContentType && row.photoContentType !== null) out.push({ field: 'photoContentType', column: photoContentType, value: null });
      return out;
    }
    // The hash stands for the bytes: the same hash means the same photo, already stored.
    if (!row.hasPhoto || row.photoHash !== photo.hash) {
      out.push({ field: 'photo', column: data, value: photo.data });
      if (photoHash) out.push({ field: 'photoHash', column: photoHash, value: photo.hash });
    }
    if (photoContentType && row.photoContentType !== photo.contentType) {
      out.push({ field: 'photoContentType', column: photoContentType, value: photo.contentType });
    }
    return out;
  }

  #checkAborted(options: DirectoryCallOptions, what: string): void {
    if (options.abortSignal?.aborted) throw new TransientError(`Aborted ${what} (shutdown)`, { code: 'ABORTED' });
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#mapped(err, what);
    }
  }

  #mapped(err: unknown, what: string): Error {
    return sqlError(err, { what, table: this.table, fieldOf: (column) => this.#fieldOf.get(column) });
  }
}
