// Big statement files are parsed by worker threads (src/sources/xapi/parallel.ts). The warehouse they
// produce must be the one the in-thread reader produces: same rows, same rejects with the same reasons,
// details, text and file:line locations, same loads — whatever the chunking of the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { openProject, writeProject } from './helpers/ingest-fixture.js';
import { setPartRows } from '../src/sources/xapi/load.js';
import { parsedChunks, setChunkBytes, setParallelMinBytes } from '../src/sources/xapi/parallel.js';
import type { Engine } from '../src/engine/engine.js';

const V = 'http://adlnet.gov/expapi/verbs/';
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const st = (n: number, over: Record<string, unknown> = {}) => ({
  id: uuid(n),
  actor: n % 2 ? { mbox: `mailto:learner${n % 7}@example.com` } : { objectType: 'Agent', account: { homePage: 'https://lms.example.com/', name: `u${n % 5}` } },
  verb: { id: V + (n % 3 ? 'experienced' : 'answered'), display: { 'en-US': 'did' } },
  object: { id: `http://example.com/activities/a${n % 4}`, definition: { name: n % 4 ? { 'en-GB': `Activity ${n % 4}\nsecond line` } : { fr: `Activité « ${n % 4} »`, 'en-GB': `Activity ${n % 4}` } } },
  timestamp: `2024-03-0${1 + (n % 9)}T10:${String(n % 60).padStart(2, '0')}:00.${n}Z`,
  context: { contextActivities: { parent: [{ id: 'http://example.com/courses/c1', definition: { type: 'http://adlnet.gov/expapi/activities/course', name: { en: 'Course "One"' } } }] } },
  ...(n % 3 === 0 ? { result: { score: { raw: n % 11, min: 0, max: 10 + (n % 3) }, success: n % 2 === 0, duration: `PT${n % 5}M${n % 7}.25S` } } : {}),
  ...over,
});

/** A mixed file: valid statements around every kind of bad line, blank lines, CRLF, a BOM, a long line; chunks of ASCII only and not. */
function mixedLines(): string[] {
  const lines: string[] = ['\uFEFF' + JSON.stringify(st(1))];
  for (let n = 2; n <= 400; n++) {
    if (n % 37 === 0) lines.push('{"id": "broken", "actor": '); // malformed JSON
    else if (n % 41 === 0) lines.push(JSON.stringify(st(n, { verb: { id: 'http://example.com/verbs/defenestrated' } }))); // unknown verb
    else if (n % 43 === 0) lines.push(JSON.stringify(st(n, { timestamp: 'yesterday' }))); // invalid
    else if (n % 47 === 0) lines.push(JSON.stringify(st(n, { actor: { objectType: 'Group', member: [{ mbox: 'mailto:a@b.c' }] } }))); // a Group
    else if (n % 53 === 0) lines.push(JSON.stringify(st(n, { verb: { id: V + 'voided' }, object: { objectType: 'StatementRef', id: uuid(n - 3) } }))); // voiding
    else if (n % 59 === 0) lines.push(JSON.stringify(st(n - 10))); // a duplicate
    else if (n % 61 === 0) lines.push(JSON.stringify(st(n - 20, { timestamp: '2024-04-01T00:00:00Z' }))); // a conflict
    else if (n % 67 === 0) lines.push('   ', ''); // blank lines
    else if (n % 71 === 0) lines.push(JSON.stringify(st(n, { object: { id: `http://example.com/long/${'x'.repeat(9000)}` } }))); // longer than a chunk
    else if (n % 73 === 0) lines.push('[1, 2]'); // not an object
    else if (n % 79 === 0) lines.push(JSON.stringify({ ...st(n), id: undefined })); // no id: a content id
    else lines.push(JSON.stringify(st(n)) + (n % 5 === 0 ? '\r' : ''));
  }
  return lines;
}

async function dump(engine: Engine) {
  const q = (sql: string) => engine.all(sql);
  return {
    events: await q(`SELECT * FROM events ORDER BY ALL`),
    assessments: await q(`SELECT * FROM assessments ORDER BY ALL`),
    rejects: await q(`SELECT source, load_id, location, reason, field, detail, raw FROM rejects ORDER BY ALL`),
    loads: await q(`SELECT load_id, source, input, target, rows_read, accepted, duplicates, conflicts, rejected, late FROM loads ORDER BY load_id`),
    files: await q(`SELECT * FROM loaded_files ORDER BY ALL`),
  };
}

const projectYaml = (glob: string) => `warehouse: wh.duckdb\nconnectors:\n  - { name: x, kind: xapi, path: "${glob}", accounts: { "https://lms.example.com": lms } }\n`;
const SMALL = { chunkBytes: 1500, partRows: 64 };

/** Runs fn with files parsed by the workers from the first byte (or never) in chunks and parts of these sizes, LEARNPIPE_PARSE_WORKERS unset; all restored after. */
async function withParseSettings<T>(workers: boolean, sizes: { chunkBytes: number; partRows: number }, fn: () => Promise<T>): Promise<T> {
  const before = [setParallelMinBytes(workers ? 0 : Infinity), setChunkBytes(sizes.chunkBytes), setPartRows(sizes.partRows)] as const;
  const env = process.env.LEARNPIPE_PARSE_WORKERS;
  if (env !== undefined) delete process.env.LEARNPIPE_PARSE_WORKERS;
  try {
    return await fn();
  } finally {
    setParallelMinBytes(before[0]);
    setChunkBytes(before[1]);
    setPartRows(before[2]);
    if (env !== undefined) process.env.LEARNPIPE_PARSE_WORKERS = env;
  }
}

async function load(files: Record<string, string | Buffer>, glob: string, workers: boolean, sizes = SMALL) {
  const dir = writeProject({ 'pipeline.yaml': projectYaml(glob) });
  for (const [rel, body] of Object.entries(files)) writeProject({ [rel]: body as string }, dir);
  const { engine, run } = await openProject(dir);
  const chunks = parsedChunks.count;
  try {
    return await withParseSettings(workers, sizes, async () => {
      const s = await run();
      // The workers did parse (many chunks), or did not, as asked.
      if (workers) assert.ok(parsedChunks.count - chunks >= Math.min(20, Math.floor(Buffer.byteLength(Object.values(files).join('')) / sizes.chunkBytes)), `${parsedChunks.count - chunks} chunks`);
      else assert.equal(parsedChunks.count, chunks);
      return { summary: s.sources.map((x) => [x.target, x.statements, x.rows_read, x.accepted, x.rejected, x.voided, x.reconciled]), ...(await dump(engine)) };
    });
  } finally {
    await engine.close();
  }
}

test('parse workers and the in-thread reader load a mixed file alike: rows, rejects (reason, detail, text, file:line), loads', async () => {
  const text = mixedLines().join('\n'); // no final line break: the last line counts too
  const inThread = await load({ 'raw/a.jsonl': text }, 'raw/*.jsonl', false);
  const parallel = await load({ 'raw/a.jsonl': text }, 'raw/*.jsonl', true);
  assert.deepEqual(parallel, inThread);
  // The file really has every kind of line, in several parts.
  const reasons = new Set(inThread.rejects.map((r) => r.reason));
  for (const r of ['malformed_json', 'unknown_verb', 'invalid_statement', 'group_actor']) assert.ok(reasons.has(r), r);
  assert.ok(inThread.loads.length > 4);
  assert.ok(inThread.events.length > 300 && inThread.assessments.length > 50);
  // Locations are physical lines (blank lines counted): line 37 of the file is the malformed one.
  assert.ok(inThread.rejects.some((r) => r.location === 'raw/a.jsonl:37' && r.reason === 'malformed_json'));
});

test('parse workers: gzipped files, .json files of one statement a line and bytes that are not UTF-8 read alike', async () => {
  const lines = mixedLines();
  lines.splice(5, 0, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('latin1'));
  const bytes = Buffer.from(lines.join('\n') + '\n', 'latin1');
  const utf8 = Buffer.from(lines.join('\n') + '\n');
  const files = { 'raw/a.jsonl.gz': gzipSync(utf8), 'raw/b.json': utf8.toString(), 'raw/c.ndjson': bytes as unknown as string };
  const inThread = await load(files, 'raw/*', false);
  const parallel = await load(files, 'raw/*', true);
  assert.deepEqual(parallel, inThread);
  assert.equal(inThread.files.length, 3);
  assert.ok(inThread.rejects.some((r) => r.location === 'raw/c.ndjson:6' && r.reason === 'malformed_json'));
});

test('parse workers: parts end in the middle of a chunk (rows come back in blocks); rejects keep their lines', async () => {
  // Chunks of about 40 statements and parts of 25: part boundaries fall inside blocks of rows, next to
  // malformed lines, rejects and voiding statements of the same chunk.
  const text = mixedLines().join('\n') + '\n';
  const sizes = { chunkBytes: 24000, partRows: 25 };
  const inThread = await load({ 'raw/a.jsonl': text }, 'raw/*.jsonl', false, sizes);
  const parallel = await load({ 'raw/a.jsonl': text }, 'raw/*.jsonl', true, sizes);
  assert.deepEqual(parallel, inThread);
  assert.ok(inThread.loads.length > 20);
  // Every malformed line (statement n % 37 === 0) is a reject at its own line: the first at line 37.
  const malformed = parallel.rejects.filter((r) => r.reason === 'malformed_json');
  assert.equal(malformed.length, 10);
  assert.equal(malformed.filter((r) => r.location === 'raw/a.jsonl:37').length, 1);
});

test('parse workers: the first big file starts parsing while files are hashed; when it was loaded before, that parsing stops', async () => {
  const lines = mixedLines();
  const a = lines.slice(0, 200).join('\n') + '\n';
  const b = lines.slice(200).join('\n') + '\n';
  const dir = writeProject({ 'pipeline.yaml': projectYaml('raw/*.jsonl'), 'raw/a.jsonl': a });
  const { engine, run } = await openProject(dir);
  try {
    await withParseSettings(true, SMALL, async () => {
      const first = await run();
      const after1 = await dump(engine);
      // a.jsonl again (begun early, then skipped: loaded before), and b.jsonl new.
      writeProject({ 'raw/b.jsonl': b }, dir);
      const second = await run();
      assert.equal(first.sources[0].files_loaded, 1);
      assert.equal(second.sources[0].files_loaded, 1);
      assert.equal(second.sources[0].files_skipped, 1);
      const after2 = await dump(engine);
      assert.deepEqual(after2.files.map((f) => f.path), ['raw/a.jsonl', 'raw/b.jsonl']);
      assert.ok(after2.events.length > after1.events.length);
      // The same rows as loading both files in one run, in-thread (under other load ids: two runs here).
      const both = await load({ 'raw/a.jsonl': a, 'raw/b.jsonl': b }, 'raw/*.jsonl', false);
      const noLoad = (rows: Array<Record<string, unknown>>) => rows.map(({ load_id, ...r }) => JSON.stringify(r)).sort();
      assert.deepEqual(noLoad(after2.events), noLoad(both.events));
      assert.deepEqual(after2.rejects.map((r) => [r.location, r.reason, r.detail]), both.rejects.map((r) => [r.location, r.reason, r.detail]));
      // Nothing new at all: the early parsing is stopped and the run ends.
      const third = await run();
      assert.equal(third.sources[0].files_skipped, 2);
    });
  } finally {
    await engine.close();
  }
});

test('parse workers: a line longer than a read buffer (the buffer grows), at the start, middle and end of a file', async () => {
  const long = (n: number) => JSON.stringify(st(n, { object: { id: `http://example.com/long/${'y'.repeat(200_000)}` } }));
  const lines = mixedLines();
  const text = [long(1000), ...lines.slice(0, 150), long(1001), ...lines.slice(150), long(1002)].join('\n');
  const inThread = await load({ 'raw/a.jsonl': text }, 'raw/*.jsonl', false);
  const parallel = await load({ 'raw/a.jsonl': text }, 'raw/*.jsonl', true);
  assert.deepEqual(parallel, inThread);
  assert.equal(inThread.events.filter((e) => String(e.object_id).includes('/long/yyyy')).length, 3);
});
