export { openSqlDirectory, type OpenSqlDirectoryOptions } from './open.js';
export { SqlDirectory } from './sql-directory.js';
export { DEFAULT_COLUMNS, DEFAULT_TABLE, SQL_FIELDS, type SqlField } from './columns.js';
export { openEngine, type EngineOptions, type SqlEngine, type Queryable, type QueryResult } from './engine.js';
export { sqlError, type SqlCall } from './errors.js';
export { quoteIdent } from './identifiers.js';
