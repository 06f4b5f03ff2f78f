// Creates and upgrades the warehouse. A new warehouse gets every table at SCHEMA_VERSION; an older
// one is migrated step by step (MIGRATIONS[v] upgrades v → v+1) inside one transaction.
import type { Engine } from '../engine/engine.js';
import { ALL_TABLES, SCHEMA_VERSION, meta, quizFirstAttempts, sessions, userDay } from './canonical.js';

/** MIGRATIONS[n] takes a warehouse from version n to n + 1. */
export const MIGRATIONS: Record<number, (engine: Engine) => Promise<void>> = {
  // 2: the feature tiles are keyed by learner_keys.uid instead of the pseudonym, and sessions keeps only
  // sessions of more than one event. Tiles are derived: the old ones are dropped, and clearing
  // tile_state makes the next run rebuild them (and the features).
  1: async (engine) => {
    for (const t of [userDay, sessions, quizFirstAttempts]) {
      for (const sql of engine.dialect.dropTableStatements(t)) await engine.run(sql);
      for (const sql of engine.dialect.createTableStatements(t)) await engine.run(sql);
    }
    await engine.run(engine.dialect.deleteAll('tile_state'));
  },
};

export async function schemaVersion(engine: Engine): Promise<number | undefined> {
  const exists = await engine.one(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $1 AND table_schema = ${engine.dialect.currentSchema()}`, [meta.name]);
  if (!exists || Number(exists.n) === 0) return undefined;
  const row = await engine.one<{ value: string }>(`SELECT value FROM ${engine.dialect.quoteIdent(meta.name)} WHERE key = 'schema_version'`);
  return row ? Number(row.value) : undefined;
}

export async function ensureWarehouse(engine: Engine): Promise<{ created: boolean; migratedFrom?: number }> {
  const current = await schemaVersion(engine);
  if (current !== undefined && current > SCHEMA_VERSION) {
    throw new Error(`the warehouse ${engine.location} has schema version ${current}, newer than this learnpipe (${SCHEMA_VERSION}); upgrade learnpipe`);
  }
  if (current === SCHEMA_VERSION) {
    // Tables added within a version (derived tables) are created when missing.
    const have = new Set((await engine.all<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ${engine.dialect.currentSchema()}`)).map((r) => r.t));
    const missing = ALL_TABLES.filter((t) => !have.has(t.name));
    if (missing.length) await engine.transaction(async () => { for (const t of missing) for (const sql of engine.dialect.createTableStatements(t, { ifNotExists: true })) await engine.run(sql); });
    return { created: false };
  }
  await engine.transaction(async () => {
    for (const t of ALL_TABLES) for (const sql of engine.dialect.createTableStatements(t, { ifNotExists: true })) await engine.run(sql);
    for (let v = current ?? SCHEMA_VERSION; v < SCHEMA_VERSION; v++) {
      const step = MIGRATIONS[v];
      if (!step) throw new Error(`no migration from schema version ${v}`);
      await step(engine);
    }
    await engine.run(`DELETE FROM ${engine.dialect.quoteIdent(meta.name)} WHERE key = 'schema_version'`);
    await engine.run(`INSERT INTO ${engine.dialect.quoteIdent(meta.name)} VALUES ('schema_version', $1)`, [String(SCHEMA_VERSION)]);
  });
  return current === undefined ? { created: true } : { created: false, migratedFrom: current };
}
