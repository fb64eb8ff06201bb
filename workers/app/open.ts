import type { AppConfig } from '../../shared/config.js';
import type { UserDirectory } from './directory.js';
import { openSqlDirectory } from './sql/index.js';
import { createWebhookDirectory } from './webhook/index.js';

/** The application side configured by APP_* (see the README): webhook, SQL, or embedded PGlite. */
export async function openDirectory(app: AppConfig): Promise<UserDirectory> {
  switch (app.kind) {
    case 'webhook':
      return createWebhookDirectory({ url: app.url, secret: app.secret });
    case 'sql':
      return openSqlDirectory({ engine: { kind: 'pg', databaseUrl: app.databaseUrl }, table: app.table, columns: app.columns });
    case 'embedded':
      return openSqlDirectory({ engine: { kind: 'pglite', dataDir: app.dataDir }, table: app.table, columns: app.columns });
  }
}
