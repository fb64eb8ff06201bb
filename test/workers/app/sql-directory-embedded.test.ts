import { openEngine, type SqlEngine } from '../../../workers/app/sql/index.js';
import { describeSqlDirectory } from './sql-suite.js';

// Every PGlite instance runs initdb when it starts: a few seconds on an idle machine, much
// more on a busy one, hence the generous boot timeout. One instance serves the whole suite,
// and the data-directory case has a file of its own so the two boot in parallel.
const BOOT_TIMEOUT_MS = 120_000;

describe('SQL directory on embedded PGlite, in memory', () => {
  let raw: SqlEngine;
  beforeAll(async () => {
    raw = await openEngine({ kind: 'pglite', dataDir: undefined });
  }, BOOT_TIMEOUT_MS);
  afterAll(() => raw.close());

  describeSqlDirectory(() => ({ raw, engine: raw }));
});
