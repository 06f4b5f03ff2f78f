// A small in-memory warehouse for feature, label and training tests: rows are inserted directly into
// the canonical tables, each batch recorded as a load (as ingestion would).
import { DuckDBEngine } from '../../src/engine/duckdb.js';
import type { Engine } from '../../src/engine/engine.js';
import { ensureWarehouse } from '../../src/schema/warehouse.js';

export type Ev = [user: string, ts: string, type: string, object?: string | null, duration?: number | null];

export async function memoryWarehouse(): Promise<Engine> {
  const engine = await DuckDBEngine.open(':memory:');
  await ensureWarehouse(engine);
  return engine;
}

let seq = 0;
/** Inserts events as one new load; returns its load id. */
export async function addEvents(engine: Engine, events: Ev[]): Promise<number> {
  const id = Number((await engine.one<{ id: number }>(`SELECT coalesce(max(load_id), 0) + 1 AS id FROM loads`))?.id);
  await engine.run(`INSERT INTO loads (load_id, source, input, rows_read, accepted, duplicates, conflicts, rejected, dst_gap, dst_overlap, late, target) VALUES ($1, 'test', 'test', 0, 0, 0, 0, 0, 0, 0, 0, 'events')`, [id]);
  if (events.length) {
    await engine.run(`CREATE OR REPLACE TEMP TABLE __t_ev (event_id VARCHAR, user_id VARCHAR, event_type VARCHAR, object_id VARCHAR, ts VARCHAR, dur VARCHAR)`);
    await engine.appendRows('__t_ev', events.map(([u, ts, type, obj, dur]) => [`e${++seq}`, u, type, obj ?? null, ts, dur === null || dur === undefined ? null : String(dur)]));
    await engine.run(`INSERT INTO events SELECT event_id, user_id, event_type, object_id, NULL, CAST(ts AS TIMESTAMP), NULL, CAST(dur AS DOUBLE), 'test', ${id} FROM __t_ev`);
  }
  return id;
}

export async function addAssessments(engine: Engine, rows: Array<[user: string, ts: string, score: number, max: number, passed: boolean]>): Promise<void> {
  const id = Number((await engine.one<{ id: number }>(`SELECT coalesce(max(load_id), 0) + 1 AS id FROM loads`))?.id);
  await engine.run(`INSERT INTO loads (load_id, source, input, rows_read, accepted, duplicates, conflicts, rejected, dst_gap, dst_overlap, late, target) VALUES ($1, 'test', 'test', 0, 0, 0, 0, 0, 0, 0, 0, 'assessments')`, [id]);
  for (const [u, ts, score, max, passed] of rows) {
    await engine.run(`INSERT INTO assessments VALUES ($1, $2, 'q', 1, $3, $4, $5, CAST($6 AS TIMESTAMP), 'test', $7)`, [`a${++seq}`, u, score, max, passed, ts, id]);
  }
}

export async function addHr(engine: Engine, rows: Array<[user: string, from: string, to: string | null, status: string, level: string, manager: string | null, hire: string]>): Promise<void> {
  for (const [u, from, to, status, level, manager, hire] of rows) {
    await engine.run(`INSERT INTO hr_records VALUES ($1, CAST($2 AS DATE), CAST($3 AS DATE), $4, $5, $6, 'Sales', CAST($7 AS DATE), '3', 'B2', 'test', 0)`, [u, from, to, status, level, manager, hire]);
  }
}
