// Builds a small project folder (config + raw files) and ingests it into a fresh warehouse.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { DuckDBEngine } from '../../src/engine/duckdb.js';
import type { Engine } from '../../src/engine/engine.js';
import { ensureWarehouse } from '../../src/schema/warehouse.js';
import { Pseudonymizer } from '../../src/privacy/pseudonym.js';
import { ingest, type IngestSummary } from '../../src/normalize/ingest.js';
import { TEST_KEY_HEX, tmpDir } from './tmp.js';

export const testPseudonymizer = () => new Pseudonymizer(Buffer.from(TEST_KEY_HEX, 'hex'));

export function writeProject(files: Record<string, string>, dir = tmpDir()): string {
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return dir;
}

export async function openProject(dir: string): Promise<{ engine: Engine; loaded: LoadedConfig; run: (asOf?: string) => Promise<IngestSummary> }> {
  const loaded = loadConfig(path.join(dir, 'pipeline.yaml'));
  const engine = await DuckDBEngine.open(path.join(dir, loaded.config.warehouse));
  await ensureWarehouse(engine);
  return { engine, loaded, run: (asOf) => ingest(engine, loaded, testPseudonymizer(), { asOf: asOf ?? null }) };
}
