// A load is one transaction: killing the process mid-load (a real SIGKILL) leaves the warehouse as it
// was before that file, and the next run completes it, ending in the same state as an uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { writeProject } from './helpers/ingest-fixture.js';
import { TEST_KEY_HEX } from './helpers/tmp.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const CONFIG = `warehouse: wh.duckdb
engine: { threads: 2 }
keys: { pseudonym: { env: LEARNPIPE_PSEUDONYM_KEY } }
sources:
  - name: lms
    format: csv
    path: raw/*.csv
    target: events
    fields:
      event_id: event_id
      user: { column: user_id, kind: lms_id }
      event_type: event_type
      object: { id_column: object_id, namespace: c }
      timestamp: { column: ts, format: iso }
      duration_seconds: duration_seconds
`;

async function makeCsv(file: string, from: number, n: number) {
  mkdirSync(path.dirname(file), { recursive: true });
  const e = await DuckDBEngine.open(':memory:');
  await e.run(`COPY (SELECT 'e' || i AS event_id, 'u' || (i % 5000) AS user_id, (['view','submit','login'])[1 + i % 3] AS event_type, 'c' || (i % 50) AS object_id,
    strftime(TIMESTAMP '2024-01-01' + to_seconds(i % 20000000), '%Y-%m-%dT%H:%M:%S') || '+02:00' AS ts, i % 600 AS duration_seconds
    FROM range(${from}, ${from + n}) t(i)) TO '${file}' (HEADER)`);
  await e.close();
}

function ingestCli(dir: string, opts: { killAfterStartOf?: string; delayMs?: number } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), 'ingest', '-c', path.join(dir, 'pipeline.yaml')], {
      env: { ...process.env, LEARNPIPE_PSEUDONYM_KEY: TEST_KEY_HEX },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      if (opts.killAfterStartOf && stderr.includes(`event=load.start source=lms file=${opts.killAfterStartOf}`)) {
        opts.killAfterStartOf = undefined;
        setTimeout(() => child.kill('SIGKILL'), opts.delayMs ?? 800);
      }
    });
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

async function state(dir: string) {
  const e = await DuckDBEngine.open(path.join(dir, 'wh.duckdb'));
  try {
    const q = async (sql: string) => Number(Object.values((await e.one(sql))!)[0]);
    return {
      events: await q(`SELECT count(*) FROM events`),
      checksum: await q(`SELECT sum(hash(event_id, user_id, timestamp_utc, duration_seconds)) % 1000000007 FROM events`),
      loads: await q(`SELECT count(*) FROM loads`),
      files: await q(`SELECT count(*) FROM loaded_files`),
      watermark: String((await e.one(`SELECT watermark_utc AS w FROM watermarks`))?.w ?? null),
      rejects: await q(`SELECT count(*) FROM rejects`),
    };
  } finally {
    await e.close();
  }
}

test('killing the process mid-load leaves the warehouse as before; the next run completes the load', { timeout: 240_000 }, async () => {
  const dir = writeProject({ 'pipeline.yaml': CONFIG });
  await makeCsv(path.join(dir, 'raw/a_small.csv'), 0, 1000);
  await makeCsv(path.join(dir, 'raw/b_big.csv'), 1000, 1_200_000);

  const killed = await ingestCli(dir, { killAfterStartOf: 'raw/b_big.csv' });
  assert.equal(killed.signal, 'SIGKILL', `the load was killed mid-way (stderr: ${killed.stderr.slice(-500)})`);
  assert.ok(!killed.stderr.includes('file=raw/b_big.csv read='), 'the big file had not finished loading');
  const after = await state(dir);
  assert.deepEqual({ events: after.events, loads: after.loads, files: after.files }, { events: 1000, loads: 1, files: 1 }, 'only the committed small file is there');

  const resumed = await ingestCli(dir);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /event=load.skip source=lms file=raw\/a_small.csv/);
  const final = await state(dir);

  const clean = writeProject({ 'pipeline.yaml': CONFIG });
  await makeCsv(path.join(clean, 'raw/a_small.csv'), 0, 1000);
  await makeCsv(path.join(clean, 'raw/b_big.csv'), 1000, 1_200_000);
  const straight = await ingestCli(clean);
  assert.equal(straight.code, 0, straight.stderr);
  assert.deepEqual(final, await state(clean), 'resumed run equals an uninterrupted one');
  assert.equal(final.events, 1_201_000);
});
