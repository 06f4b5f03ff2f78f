// The loader's shortcuts must give exactly what the general path gives: a fixed UTC zone skips the
// per-row zone work, repeats are found through their keys' hashes, and the probe against loaded rows
// is skipped while the target is empty. Each is checked against the general path on the same rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openProject, testPseudonymizer, writeProject } from './helpers/ingest-fixture.js';
import type { Engine } from '../src/engine/engine.js';
import type { FileSourceConfig } from '../src/config/schema.js';
import { listSourceFiles, sha256File } from '../src/sources/files.js';
import { loadFile, nextLoadId } from '../src/normalize/load.js';

// Local times, some carrying their own offset, one unreadable; every row names its zone. (An empty
// time is left out: an events row without one fails the load on NOT NULL, with or without these paths.)
const times = (zone: string) =>
  'id,uid,t,ts,zone\n' +
  [
    ['1', 'u1', 'view', '2024-03-10 02:30:00'], // a gap in America/New_York, an ordinary time in UTC
    ['2', 'u1', 'view', '2024-11-03 01:30:00'], // an overlap in America/New_York
    ['3', 'u2', 'view', '2024-06-03T09:30:00+05:30'],
    ['4', 'u2', 'view', '2024-06-03T09:30:00Z'],
    ['5', 'u2', 'view', '2024-06-03 09:30:00-0400'],
    ['6', 'u3', 'view', 'yesterday'],
    ['8', 'u3', 'view', '2024-06-03'],
    ['9', 'u3', 'view', ' 2024-06-04 10:00:00 '],
  ]
    .map((r) => [...r, zone].join(','))
    .join('\n') +
  '\n';

const source = (name: string, file: string, time: string) => `  - name: ${name}
    format: csv
    path: ${file}
    target: events
    fields: { event_id: id, user: { column: uid, kind: lms_id }, event_type: t, timestamp: ${time} }
`;

async function loadedRows(sources: string, files: Record<string, string>) {
  const dir = writeProject({ 'pipeline.yaml': `warehouse: wh.duckdb\nsources:\n${sources}`, ...files });
  const { engine, run } = await openProject(dir);
  try {
    const s = await run('2024-12-01');
    const events = await engine.all<{ source: string; id: string; ts: string; off: number | null }>(
      `SELECT source, split_part(event_id, ':', 2) AS id, strftime(timestamp_utc, '%Y-%m-%d %H:%M:%S') AS ts, tz_offset_minutes AS off FROM events ORDER BY source, id`,
    );
    const rejects = await engine.all<{ source: string; loc: string; reason: string; field: string | null; detail: string | null }>(
      `SELECT source, split_part(location, ':', 2) AS loc, reason, field, detail FROM rejects ORDER BY source, loc`,
    );
    return { s, events, rejects };
  } finally {
    await engine.close();
  }
}

const bySource = <T extends { source: string }>(rows: T[], source: string) => rows.filter((r) => r.source === source).map(({ source: _, ...r }) => r);

test('a fixed UTC zone gives what the per-row zone path gives: times, offsets, rejects and DST counts', async () => {
  const { s, events, rejects } = await loadedRows(
    source('fixed', 'raw/a.csv', '{ column: ts, format: local, timezone: UTC }') +
      source('per_row', 'raw/a.csv', '{ column: ts, format: local, timezone_column: zone }') +
      source('fixed_iso', 'raw/a.csv', '{ column: ts, format: iso, timezone: Etc/UTC }'),
    { 'raw/a.csv': times('UTC') },
  );
  assert.ok(bySource(events, 'fixed').length >= 6, 'most rows load');
  assert.deepEqual(bySource(events, 'fixed'), bySource(events, 'per_row'));
  assert.deepEqual(bySource(events, 'fixed_iso'), bySource(events, 'per_row'));
  assert.deepEqual(bySource(rejects, 'fixed'), bySource(rejects, 'per_row'));
  // (The detail names the format the value was read as, so it differs for the ISO source.)
  const noDetail = (rows: Array<{ detail: string | null }>) => rows.map(({ detail: _, ...r }) => r);
  assert.deepEqual(noDetail(bySource(rejects, 'fixed_iso')), noDetail(bySource(rejects, 'per_row')));
  assert.deepEqual(bySource(rejects, 'fixed').map((r) => r.reason), ['bad_timestamp']);
  assert.deepEqual(bySource(events, 'fixed').find((e) => e.id === '1'), { id: '1', ts: '2024-03-10 02:30:00', off: 0 });
  assert.deepEqual(bySource(events, 'fixed').find((e) => e.id === '3'), { id: '3', ts: '2024-06-03 04:00:00', off: 330 });
  for (const x of s.sources) {
    assert.equal(x.rows_read, x.accepted + x.duplicates + x.rejected, `${x.source} reconciles`);
    assert.deepEqual([x.dst_gap, x.dst_overlap], [0, 0]);
  }
});

test('a fixed zone with DST keeps the per-row rules: gap and overlap counted and resolved alike', async () => {
  const { s, events, rejects } = await loadedRows(
    source('fixed', 'raw/a.csv', '{ column: ts, format: local, timezone: America/New_York }') +
      source('per_row', 'raw/a.csv', '{ column: ts, format: local, timezone_column: zone }'),
    { 'raw/a.csv': times('America/New_York') },
  );
  assert.deepEqual(bySource(events, 'fixed'), bySource(events, 'per_row'));
  assert.deepEqual(bySource(rejects, 'fixed'), bySource(rejects, 'per_row'));
  assert.deepEqual(bySource(events, 'fixed').find((e) => e.id === '1'), { id: '1', ts: '2024-03-10 07:30:00', off: -240 });
  const fixed = s.sources.find((x) => x.source === 'fixed')!;
  assert.deepEqual([fixed.dst_gap, fixed.dst_overlap], [1, 1]);
});

test('repeats are found in a batch and against loaded rows, with the general rules', async () => {
  // Two batches of one source: in-batch duplicates and conflicts, then a file repeating loaded ids.
  const head = 'id,uid,t,ts\n';
  const first = head + ['a,u1,view,2024-06-01 10:00:00', 'b,u1,view,2024-06-01 10:01:00', 'a,u1,view,2024-06-01 10:00:00', 'b,u2,view,2024-06-01 10:01:00', 'c,u2,view,2024-06-01 10:02:00'].join('\n') + '\n';
  const second = head + ['c,u2,view,2024-06-01 10:02:00', 'd,u2,view,2024-06-01 10:03:00', 'a,u9,view,2024-06-01 10:00:00', 'd,u2,view,2024-06-01 10:03:00'].join('\n') + '\n';
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb\nsources:\n${source('ev', 'raw/*.csv', '{ column: ts, format: local, timezone: UTC }')}`,
    'raw/1.csv': first,
    'raw/2.csv': second,
  });
  const { engine, run } = await openProject(dir);
  try {
    const s = await run('2024-12-01');
    const [l1, l2] = s.loads;
    assert.deepEqual([l1.rows_read, l1.accepted, l1.duplicates, l1.conflicts], [5, 3, 1, 1]);
    assert.deepEqual([l2.rows_read, l2.accepted, l2.duplicates, l2.conflicts], [4, 1, 2, 1]);
    const ids = await engine.all<{ id: string }>(`SELECT event_id AS id FROM events ORDER BY 1`);
    assert.deepEqual(ids.map((r) => r.id), ['ev:a', 'ev:b', 'ev:c', 'ev:d']);
    const rejects = await engine.all<{ location: string; reason: string }>(`SELECT location, reason FROM rejects ORDER BY location`);
    assert.deepEqual(rejects, [
      { location: 'raw/1.csv:5', reason: 'conflicting_duplicate' },
      { location: 'raw/2.csv:4', reason: 'conflicting_duplicate' },
    ]);
  } finally {
    await engine.close();
  }
});

test('CSV values are trimmed exactly as trim() trims them, whatever spaces they carry', async () => {
  // Every kind of space DuckDB's trim() removes (Unicode Zs), plus characters it keeps (tab, zero-width
  // space, a combining accent), at either end of event ids.
  const ends = [' ', '\u00a0', '\u2003', '\u3000', '\t', '\u200b', '\u0301', 'é', ''];
  const ids = ends.flatMap((a) => ends.map((b) => `${a}x${ends.indexOf(a)}_${ends.indexOf(b)}${b}`));
  const csv = 'id,uid,t,ts\n' + ids.map((id) => `"${id}",u1,view,2024-06-01 10:00:00`).join('\n') + '\n';
  const dir = writeProject({
    'pipeline.yaml': `warehouse: wh.duckdb\nsources:\n${source('ev', 'raw/a.csv', '{ column: ts, format: local, timezone: UTC }')}`,
    'raw/a.csv': csv,
  });
  const { engine, run } = await openProject(dir);
  try {
    await run('2024-12-01');
    const got = await engine.all<{ id: string }>(`SELECT event_id AS id FROM events ORDER BY 1`);
    await engine.run(`CREATE TEMP TABLE raw_ids (id VARCHAR)`);
    await engine.appendRows('raw_ids', ids.map((id) => [id]));
    const want = await engine.all<{ id: string }>(`SELECT 'ev:' || trim(id) AS id FROM raw_ids ORDER BY 1`);
    assert.equal(got.length, ids.length);
    assert.deepEqual(got, want);
  } finally {
    await engine.close();
  }
});

test('a file staged before its transaction loads exactly as one staged inside it; the first row of an id wins', async () => {
  // Many users, in-batch repeats and conflicts (rows left out), rejects.
  const rows: string[] = [];
  for (let i = 0; i < 3000; i++) rows.push(`e${(i * 7919) % 2600},u${(i * 31) % 97},${i % 11 ? 'view' : 'nope'},2024-06-01 ${String(i % 24).padStart(2, '0')}:00:00`);
  rows.push(...rows.slice(1, 6)); // exact repeats of first occurrences
  const csv = 'id,uid,t,ts\n' + rows.join('\n') + '\n';
  const files = { 'pipeline.yaml': `warehouse: wh.duckdb\nsources:\n${source('ev', 'raw/a.csv', '{ column: ts, format: local, timezone: UTC }')}`, 'raw/a.csv': csv };
  const read = async (engine: Engine) => ({
    // (The events of a load are written in parallel, in no fixed order: compared by id.)
    events: await engine.all(`SELECT * EXCLUDE (load_id) FROM events ORDER BY event_id`),
    rejects: await engine.all(`SELECT location, reason, field, detail, raw FROM rejects ORDER BY rowid`),
    keys: await engine.all(`SELECT key_kind, key_pseudonym, user_id FROM identity_map ORDER BY ALL`),
  });
  // Through ingest: staged before the transaction.
  const a = await openProject(writeProject(files));
  let staged;
  try {
    const s = await a.run('2024-12-01');
    assert.ok(s.totals.duplicates > 0 && s.totals.conflicts > 0 && s.totals.rejected > s.totals.conflicts, 'repeats and rejects present');
    staged = await read(a.engine);
  } finally {
    await a.engine.close();
  }
  // loadFile alone (as connectors call it): staged inside the transaction.
  const dir = writeProject(files);
  const b = await openProject(dir);
  try {
    const source0 = b.loaded.config.sources[0];
    assert.equal(source0.kind, 'file');
    const [file] = listSourceFiles(source0 as FileSourceConfig, b.loaded.baseDir);
    await b.engine.run(`CREATE TEMP TABLE IF NOT EXISTS __zones AS SELECT name FROM pg_timezone_names()`);
    const sha = await sha256File(file.path);
    await b.engine.transaction(async () => loadFile(b.engine, b.loaded.config, source0 as FileSourceConfig, file, sha, testPseudonymizer(), { loadId: await nextLoadId(b.engine), asOf: '2024-12-01' }));
    assert.deepEqual(await read(b.engine), staged);
  } finally {
    await b.engine.close();
  }
  // The first valid row of each id in the file is the one kept.
  const first = new Map<string, string>();
  for (const r of rows) {
    const [id, user, t, ts] = r.split(',');
    if (t === 'view' && !first.has(`ev:${id}`)) first.set(`ev:${id}`, `${user} ${ts}`);
  }
  const kept = new Map(staged.events.map((e) => [String(e.event_id), (e.timestamp_utc as Date).toISOString().slice(0, 19).replace('T', ' ')]));
  assert.equal(kept.size, first.size);
  for (const [id, v] of first) assert.equal(kept.get(id), v.split(' ').slice(1).join(' '), id);
});

test('the engine tracks progress only while a progress bar shows it', async () => {
  const dir = writeProject({ 'pipeline.yaml': `warehouse: wh.duckdb\nsources:\n${source('s', 'raw/a.csv', 'ts')}`, 'raw/a.csv': times('UTC') });
  const { engine, loaded } = await openProject(dir);
  try {
    const setting = async () => (await engine.one<{ v: unknown }>(`SELECT current_setting('enable_progress_bar') AS v`))?.v;
    assert.equal(await setting(), false);
    await engine.trackProgress!(true);
    assert.equal(await setting(), true);
    await engine.trackProgress!(false);
    // Ingest turns it on for the files when asked for ticks, and off again after them.
    const calls: boolean[] = [];
    const track = engine.trackProgress!.bind(engine);
    engine.trackProgress = async (on) => {
      calls.push(on);
      await track(on);
    };
    const { ingest } = await import('../src/normalize/ingest.js');
    await ingest(engine, loaded, testPseudonymizer(), { progress: { onTick: () => {} } });
    assert.deepEqual(calls, [true, false]);
    assert.equal(await setting(), false);
    await ingest(engine, loaded, testPseudonymizer(), {});
    assert.deepEqual(calls, [true, false]);
  } finally {
    await engine.close();
  }
});

test('the engine runs a function on fewer threads and restores its thread count, also after an error', async () => {
  const { DuckDBEngine } = await import('../src/engine/duckdb.js');
  const engine = await DuckDBEngine.open(':memory:', { threads: 2 });
  try {
    const threads = async () => Number((await engine.one<{ t: unknown }>(`SELECT current_setting('threads') AS t`))?.t);
    assert.equal(await threads(), 2);
    assert.equal(await engine.withThreads!(1, threads), 1);
    assert.equal(await threads(), 2);
    await assert.rejects(engine.withThreads!(1, async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await threads(), 2);
    // Never more than configured.
    assert.equal(await engine.withThreads!(8, threads), 2);
  } finally {
    await engine.close();
  }
});
