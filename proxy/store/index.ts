// Opens the configured store: PostgreSQL when DATABASE_URL is set (several replicas may share it), otherwise the
// SQLite file in the data dir.
import type { Config } from '../config';
import { openPostgres } from './postgres';
import type { Store } from './sql';
import { openSqlite } from './sqlite';

export type { Engine, Sql, SqlValue, Store } from './sql';
export { nowIso } from './sql';

export async function openStore(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'dbPoolSize'>): Promise<Store> {
  if (config.databaseUrl) return openPostgres(config.databaseUrl, config.dbPoolSize);
  return openSqlite(config.dataDir);
}
