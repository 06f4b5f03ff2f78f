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

test('a version 1 warehouse is migrated: tiles keyed by learner_keys, old tiles dropped and rebuilt on the next run, canonical rows kept', async () => {
  const dir = tmpDir();
  const e = await DuckDBEngine.open(path.join(dir, 'w.duckdb'));
  try {
    await ensureWarehouse(e);
    // Back to the shape of version 1: tiles keyed by the pseudonym, no learner_keys, some tile state.
    for (const t of ['learner_keys', 'user_day', 'sessions', 'quiz_first_starts']) await e.run(`DROP TABLE ${t}`);
    await e.run(`CREATE TABLE user_day (user_id VARCHAR NOT NULL, "day" DATE NOT NULL, events BIGINT NOT NULL)`);
    await e.run(`CREATE TABLE sessions (user_id VARCHAR NOT NULL, session_start TIMESTAMP NOT NULL, session_end TIMESTAMP NOT NULL, events BIGINT NOT NULL)`);
    await e.run(`CREATE TABLE quiz_first_starts (user_id VARCHAR NOT NULL, object_id VARCHAR NOT NULL, first_ts TIMESTAMP NOT NULL)`);
    await e.run(`INSERT INTO user_day VALUES ('u1', DATE '2024-01-02', 3)`);
    await e.run(`INSERT INTO tile_state VALUES ('activity', 7, '{}'), ('features', 7, '{}')`);
    await e.run(`INSERT INTO events VALUES ('e1', 'u1', 'view', NULL, NULL, TIMESTAMP '2024-01-02 10:00:00', 0, 5, 'lms', 1)`);
    await e.run(`UPDATE learnpipe_meta SET value = '1' WHERE key = 'schema_version'`);

    assert.deepEqual(await ensureWarehouse(e), { created: false, migratedFrom: 1 });
    assert.equal(await schemaVersion(e), SCHEMA_VERSION);
    for (const name of ['learner_keys', 'user_day', 'sessions', 'quiz_first_starts']) {
      const t = ALL_TABLES.find((x) => x.name === name)!;
      const cols = await e.all<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, [name]);
      assert.deepEqual(cols.map((c) => c.column_name), t.columns.map((c) => c.name), name);
    }
    assert.equal(Number((await e.one<{ n: number }>(`SELECT count(*) AS n FROM user_day`))?.n), 0, 'old tiles dropped');
    assert.equal(Number((await e.one<{ n: number }>(`SELECT count(*) AS n FROM tile_state`))?.n), 0, 'tile state cleared, so the next run rebuilds');
    assert.equal(Number((await e.one<{ n: number }>(`SELECT count(*) AS n FROM events`))?.n), 1, 'canonical rows kept');
    assert.deepEqual(await ensureWarehouse(e), { created: false });
  } finally {
    await e.close();
  }
});
