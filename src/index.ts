// The library entry: `import { runPipeline, loadConfig, … } from 'learnpipe'`.
export { loadConfig, parseConfigText, ConfigError, type LoadedConfig, type ConfigIssue } from './config/load.js';
export { pipelineConfigSchema, type PipelineConfig, type FileSourceConfig } from './config/schema.js';
export { DuckDBEngine, EngineError, dialectFor, Dialect, type Engine, type SqlValue } from './engine/index.js';
export * as schema from './schema/canonical.js';
export { ensureWarehouse, schemaVersion } from './schema/warehouse.js';
export { ingest, type IngestSummary, type IngestProgress, type SourceSummary } from './normalize/ingest.js';
export { type LoadResult } from './normalize/load.js';
export { MappingError } from './normalize/mapping.js';
export { SourceReadError } from './sources/files.js';
export { Pseudonymizer, normalizeKey } from './privacy/pseudonym.js';
export { loadKey, createKeyFile, KeyError } from './privacy/keys.js';
export { runPipeline, runIngest, openWarehouse, publishAtomically, type RunOptions, type RunSummary } from './pipeline.js';
export { generateDataset, type GenerateOptions, type GroundTruth } from './generate/index.js';
