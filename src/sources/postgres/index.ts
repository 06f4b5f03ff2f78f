// Sources that are not files: Postgres tables and queries, and Debezium change-event files.
import type { Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { DebeziumSourceConfig, PostgresSourceConfig } from '../../config/schema.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import type { LoadResult } from '../../normalize/load.js';
import { ingestPostgresSource } from './read.js';
import { ingestDebeziumSource } from './debezium.js';

export async function ingestDatabaseSource(
  engine: Engine,
  loaded: LoadedConfig,
  source: PostgresSourceConfig | DebeziumSourceConfig,
  pz: Pseudonymizer,
  opts: { asOf: string | null; vault?: Vault | null },
): Promise<LoadResult[]> {
  return source.kind === 'postgres' ? ingestPostgresSource(engine, loaded, source, pz, opts) : ingestDebeziumSource(engine, loaded, source, pz, opts);
}
