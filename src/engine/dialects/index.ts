import type { Dialect } from './dialect.js';
import { DuckDBDialect } from './duckdb.js';
import { ClickHouseDialect } from './clickhouse.js';

const DIALECTS: Record<string, () => Dialect> = {
  duckdb: () => new DuckDBDialect(),
  clickhouse: () => new ClickHouseDialect(),
};

export function dialectFor(name: string): Dialect {
  const make = DIALECTS[name];
  if (!make) throw new Error(`unknown engine dialect ${JSON.stringify(name)}; known: ${Object.keys(DIALECTS).join(', ')}`);
  return make();
}
export { Dialect, assertIdentifier } from './dialect.js';
