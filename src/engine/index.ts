export type { Engine, SqlParams, SqlValue, Row } from './engine.js';
export { EngineError, EngineSetupError } from './engine.js';
export { DuckDBEngine, type DuckDBOptions } from './duckdb.js';
export { dialectFor, Dialect, assertIdentifier } from './dialects/index.js';
export { ClickHouseEngine, type ClickHouseOptions } from './clickhouse.js';
