import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlDirectory } from '../../../workers/app/sql/index.js';

// A new data directory means initdb (seconds, more on a busy machine); the reopen is quick.
const BOOT_TIMEOUT_MS = 120_000;

describe('SQL directory on embedded PGlite with a data directory', () => {
  let parent: string;
  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'idsync-app-db-'));
  });
  afterAll(() => rm(parent, { recursive: true, force: true }));

  it('creates the directory and keeps users across close and reopen', async () => {
    const dataDir = join(parent, 'nested', 'app-db');
    const first = await openSqlDirectory({ engine: { kind: 'pglite', dataDir } });
    expect(first.kind).toBe('embedded');
    const { id } = await first.apply({ values: { username: 'lena', email: 'lena@example.test', groups: ['g'] }, source: 'entra' });
    await first.close();

    const second = await openSqlDirectory({ engine: { kind: 'pglite', dataDir } });
    try {
      expect(await second.get(id)).toMatchObject({ id, username: 'lena', email: 'lena@example.test', groups: ['g'] });
      expect(await second.apply({ values: { username: 'LENA', email: 'lena@example.test' }, source: 'entra' })).toEqual({ id, created: false, changed: ['username'] });
    } finally {
      await second.close();
    }
  }, BOOT_TIMEOUT_MS);
});
