// Child process for the CDC kill test: applies the slot's changes, printing each confirmed LSN, so
// the parent can kill -9 it mid-stream. Usage: tsx test/helpers/cdc-child.ts <project dir>
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { DuckDBEngine } from '../../src/engine/duckdb.js';
import { ensureWarehouse } from '../../src/schema/warehouse.js';
import { cdcRun } from '../../src/sources/postgres/cdc.js';
import { testPseudonymizer } from './ingest-fixture.js';

const dir = process.argv[2];
const loaded = loadConfig(path.join(dir, 'pipeline.yaml'));
const engine = await DuckDBEngine.open(path.join(dir, loaded.config.warehouse));
await ensureWarehouse(engine);
// A pause after each commit: on a loaded machine the parent reads our output late, and without it we could
// apply every transaction before its kill arrives (then nothing would be left to resume).
const pause = new Int32Array(new SharedArrayBuffer(4));
const onCommit = (lsn: string) => {
  process.stdout.write(`committed ${lsn}\n`);
  Atomics.wait(pause, 0, 0, 100);
};
const r = await cdcRun(engine, loaded, testPseudonymizer(), { asOf: null, onCommit });
await engine.close();
process.stdout.write(`done ${r.transactions}\n`);
