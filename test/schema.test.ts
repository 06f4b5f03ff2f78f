import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { schemaMarkdown } from '../src/schema/docs.js';
import { ALL_TABLES, SCHEMA_VERSION } from '../src/schema/canonical.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse, schemaVersion } from '../src/schema/warehouse.js';
import { tmpDir } from './helpers/tmp.js';

test('docs/schema.md is generated from the schema module and up to date (npm run docs)', () => {
  const file = readFileSync(path.resolve(import.meta.dirname, '../docs/schema.md'), 'utf8');
  assert.equal(file, schemaMarkdown());
});

test('a new warehouse gets every table with the declared columns and types, and records its schema version', async () => {
  const dir = tmpDir();
  const e = await DuckDBEngine.open(path.join(dir, 'w.duckdb'));
  try {
    assert.deepEqual(await ensureWarehouse(e), { created: true });
    assert.deepEqual(await ensureWarehouse(e), { created: false }, 'idempotent');
    assert.equal(await schemaVersion(e), SCHEMA_VERSION);
    for (const t of ALL_TABLES) {
      const cols = await e.all<{ column_name: string; data_type: string; is_nullable: string }>(
        `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`,
        [t.name],
      );
      assert.deepEqual(cols.map((c) => c.column_name), t.columns.map((c) => c.name), t.name);
      assert.deepEqual(cols.map((c) => c.is_nullable === 'YES'), t.columns.map((c) => c.nullable), `${t.name} nullability`);
      assert.deepEqual(cols.map((c) => c.data_type), t.columns.map((c) => e.dialect.sqlType(c.type)), `${t.name} types`);
    }
    await e.run(`UPDATE learnpipe_meta SET value = '99' WHERE key = 'schema_version'`);
    await assert.rejects(ensureWarehouse(e), /schema version 99, newer than this learnpipe/);
  } finally {
    await e.close();
  }
});
