// Loads xAPI statements and Caliper events through the file machinery. One unit (a file, or a page of
// an LRS) is streamed once in JS: parsed, validated, flattened to one CSV line per event in a landing
// file (a big xAPI file by worker threads, which send back the CSV lines in file order: parallel.ts).
// The landing file is then loaded by loadFile with a built-in mapping, so pseudonyms, identity
// resolution, dedupe by event id, late rows, content ids and the bookkeeping behave as for files.
// What only statements have is done here in SQL: rejects found while streaming (malformed JSON, invalid
// statements, unknown verbs) keep the statement's own location, and voiding statements delete the
// events (and assessments) they void, loaded earlier or in the same unit.
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { Engine } from '../../engine/engine.js';
import type { FileSourceConfig, PipelineConfig } from '../../config/schema.js';
import type { ConnectorConfig } from '../../config/sources-xapi.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import { piiRedactSql } from '../../privacy/pii-scan.js';
import { loadFile, nextLoadId, type LoadResult } from '../../normalize/load.js';
import { csvRow, FLAT_COLUMNS, type Flattened } from './flatten.js';
import { RAW_LIMIT } from './items.js';
import type { RowBlock } from './parallel.js';

/**
 * One flattened item with where it came from (file:line, file[i], lrs:<id>) and its text for rejects.
 * The parse workers (parallel.ts) send theirs in blocks instead: rows already as landing CSV bytes.
 */
export interface Item {
  loc: string;
  out: Flattened;
  raw: () => string;
}

export interface UnitResult {
  /** The unit's loads: events and assessments, per part of a big file. */
  loads: LoadResult[];
  /** The last events load: what loaded_files and source_positions point at. */
  lastLoadId: number;
  /** Statements (or Caliper events) read: events rows read + voiding statements. */
  statements: number;
  voiding: number;
  /** Events deleted because a voiding statement named them. */
  voided: number;
}

/** Days: in effect no lateness limit (a century). */
const NO_LOOKBACK = 36500;

/** The mapping of landed rows, the same for xAPI and Caliper (see flatten.ts FLAT_COLUMNS). */
export function builtinSource(c: ConnectorConfig, target: 'events' | 'assessments', landing: string): FileSourceConfig {
  const ns = c.object_namespace ?? c.kind;
  const user = { column: 'user', kind: `${c.kind}_actor`, kind_column: 'user_kind' };
  const object = { id_column: 'object_id', name_column: 'object_name', namespace: ns };
  const fields: FileSourceConfig['fields'] =
    target === 'events'
      ? { event_id: 'id', user, event_type: 'event_type', object, course: { id_column: 'course_id', name_column: 'course_name', namespace: ns }, timestamp: 'timestamp', duration_seconds: 'duration_seconds' }
      : { assessment_id: 'id', user, object, score: 'score', max_score: 'max_score', passed: 'passed', submitted_at: 'timestamp' };
  // Statements carry their own (often back-dated) timestamps: all are admitted unless lookback_days bounds it.
  return { name: c.name, kind: 'file', format: 'csv', path: landing, target, fields, pii_columns: [], free_text: [], lookback_days: c.lookback_days ?? NO_LOOKBACK };
}

/** Where landing files of a connector go: beside the warehouse, landing/<source>/. */
export function landingDir(config: PipelineConfig, baseDir: string, source: string): string {
  const wh = config.warehouse === ':memory:' ? path.join(baseDir, 'warehouse') : path.resolve(baseDir, config.warehouse);
  return path.join(path.dirname(wh), 'landing', source);
}

class LineWriter {
  /** What is written and not yet handed to the stream: text lines (each to end with a line break) and blocks of bytes (ending with one). */
  private buf: Array<string | Uint8Array> = [FLAT_COLUMNS.join(',')];
  private size = 0;
  readonly stream: WriteStream;
  constructor(readonly file: string) {
    this.stream = createWriteStream(file);
  }
  write(line: string): void {
    this.buf.push(line);
    this.size += line.length + 1;
  }
  /** Whole lines, already encoded, each ending with a line break. */
  writeBytes(bytes: Uint8Array): void {
    if (!bytes.length) return;
    this.buf.push(bytes);
    this.size += bytes.length;
  }
  /** Hands what was written to the file once enough has piled up, waiting when the disk lags. */
  async drain(force = false): Promise<void> {
    if (!this.buf.length || (!force && this.size < 1 << 20)) return;
    const parts: Array<string | Uint8Array> = [];
    let lines: string[] = [];
    for (const b of this.buf) {
      if (typeof b === 'string') lines.push(b);
      else {
        if (lines.length) parts.push(lines.join('\n') + '\n');
        lines = [];
        parts.push(b);
      }
    }
    if (lines.length) parts.push(lines.join('\n') + '\n');
    this.buf = [];
    this.size = 0;
    let ok = true;
    for (const p of parts) ok = this.stream.write(p) && ok;
    if (!ok) await new Promise<void>((r) => this.stream.once('drain', () => r()));
  }
  private closed = false;
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain(true);
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

/**
 * Source locations of a part's landed rows, in landing order, kept compact: a row from the parse workers
 * is a line number of a file (a string per row would be built a million times for a few rejects).
 */
class Locations {
  private readonly where: string[] = [];
  /** The line in `where`'s file; -1 when `where` is the whole location. */
  private readonly line: number[] = [];
  get length(): number {
    return this.line.length;
  }
  push(loc: string): void {
    this.where.push(loc);
    this.line.push(-1);
  }
  pushLine(relPath: string, line: number): void {
    this.where.push(relPath);
    this.line.push(line);
  }
  at(i: number): string | undefined {
    if (i < 0 || i >= this.line.length) return undefined;
    return this.line[i] < 0 ? this.where[i] : `${this.where[i]}:${this.line[i]}`;
  }
}

/**
 * Loads one unit inside the caller's transaction. `input` names it in loads (a file's relative path, an
 * LRS page file, or the first of a batch of small files) and `sha256` is its content hash; `files`, when
 * the unit is a batch, are the files recorded in loaded_files (else the unit itself).
 */
export async function loadUnit(
  engine: Engine,
  config: PipelineConfig,
  baseDir: string,
  c: ConnectorConfig,
  unit: { input: string; sha256: string; items: AsyncIterable<Item[] | RowBlock> | Iterable<Item[] | RowBlock>; files?: Array<{ input: string; sha256: string }> },
  pz: Pseudonymizer,
  opts: { asOf: string | null; vault?: Vault | null },
): Promise<UnitResult> {
  const dir = landingDir(config, baseDir, c.name);
  mkdirSync(dir, { recursive: true });
  const stem = `${path.basename(unit.input).replace(/[^A-Za-z0-9._-]/g, '_')}.${unit.sha256.slice(0, 12)}`;
  const loads: LoadResult[] = [];
  const voids: Array<[loc: string, target: string]> = [];
  let statements = 0;
  // A big file is loaded in parts of PART_ROWS statements (all in the unit's transaction), so memory
  // stays bounded whatever the file's size.
  let part = new Part(dir, `${stem}.0`);
  let parts = 0;
  /** Parse workers feeding the unit (0: read in this thread). */
  let workers = 0;
  try {
    const full = async () => {
      const load = () => part.load(engine, config, baseDir, c, unit, pz, opts);
      // A part full in the middle of a file is loaded while the parse workers go on with the next
      // statements: the engine gets the cores they leave. With more threads than that, its threads and
      // the workers took turns on the same cores, and a thread of the engine left without a task spins
      // until the query's last task is done (on 2 cores, 2 workers: some 2-4 CPU-s more on the 1M
      // benchmark, for no gain in time). The last part, loaded once the workers are done, has them all.
      loads.push(...(await (workers > 0 && engine.withThreads ? engine.withThreads(availableParallelism() - workers, load) : load())));
      part = new Part(dir, `${stem}.${++parts}`);
    };
    for await (const batch of unit.items) {
      if (!Array.isArray(batch)) {
        // A block of the parse workers: item by item as below, its rows' bytes written in runs.
        const { relPath, base, r } = batch;
        workers = batch.workers;
        let row = 0;
        /** The rows' bytes from `from` to `to` are not yet written (the rows of this part so far). */
        let from = 0;
        let to = 0;
        let voidAt = 0;
        let rejectAt = 0;
        for (let i = 0; i < r.kinds.length; i++) {
          // A full part is loaded once the next item is here (so the last part of all is loaded after
          // the loop, the parse workers done: on all of the engine's threads).
          if (part.size >= PART_ROWS) {
            part.events.writeBytes(r.csv.subarray(from, to));
            from = to;
            await full();
          }
          const k = r.kinds[i];
          const line = base + r.rel[i];
          if (k <= 1) {
            const start = to;
            to = r.ends[row++];
            part.rowLine(relPath, line);
            if (k === 1) part.assessment(r.csv.subarray(start, to), relPath, line);
          } else if (k === 2) voids.push([`${relPath}:${line}`, r.voids[voidAt++].toLowerCase()]);
          else {
            const [reason, field, detail, raw] = r.rejects[rejectAt++];
            part.pre.push([`${relPath}:${line}`, reason, field, detail, raw]);
          }
        }
        part.events.writeBytes(r.csv.subarray(from, to));
      } else {
        workers = 0;
        for (const it of batch) {
          if (part.size >= PART_ROWS) await full();
          const o = it.out;
          if (o.kind === 'row') part.row(csvRow(o.row), o.assessment, it.loc);
          else if (o.kind === 'void') voids.push([it.loc, o.target.toLowerCase()]);
          else part.pre.push([it.loc, o.reason, o.field, o.detail, it.raw().slice(0, RAW_LIMIT)]);
        }
      }
      await part.drain();
    }
    if (part.size > 0 || loads.length === 0) loads.push(...(await part.load(engine, config, baseDir, c, unit, pz, opts)));
  } finally {
    await part.discard();
  }
  const lastEvents = loads.filter((l) => l.target === 'events').pop()!;
  for (const l of loads) if (l.target === 'events') statements += l.rows_read;

  // Voiding: the voided statement's event and assessment go, whenever they were loaded.
  let voided = 0;
  if (voids.length) {
    await engine.run(`CREATE OR REPLACE TEMP TABLE __xvoid (loc VARCHAR, target VARCHAR)`);
    await engine.appendRows('__xvoid', voids);
    const prefix = engine.dialect.quoteString(c.name + ':');
    const count = async (table: string, key: string) =>
      Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE ${key} IN (SELECT ${prefix} || target FROM __xvoid)`))?.n ?? 0);
    voided = await count('events', 'event_id');
    await engine.run(`DELETE FROM events WHERE event_id IN (SELECT ${prefix} || target FROM __xvoid)`);
    if ((await count('assessments', 'assessment_id')) > 0) await engine.run(`DELETE FROM assessments WHERE assessment_id IN (SELECT ${prefix} || target FROM __xvoid)`);
    await engine.run(`DROP TABLE __xvoid`);
    // Rows of earlier loads are gone: derived tiles no longer match them, so the next run rebuilds.
    if (voided > 0) await engine.run(`DELETE FROM tile_state`);
  }
  for (const f of unit.files ?? [unit]) await engine.run(`INSERT INTO loaded_files VALUES ($1, $2, $3, $4)`, [c.name, f.input, f.sha256, lastEvents.load_id]);
  return { loads, lastLoadId: lastEvents.load_id, statements: statements + voids.length, voiding: voids.length, voided };
}

/**
 * Statements per part of a unit: bounds the memory a big file needs (JS and the engine's staging). Each
 * part costs some eighty small statements of bookkeeping; on the 1M benchmark 200,000 took about 7% less
 * CPU than 100,000 and less peak RSS (828–844 MB against 885–901), 400,000 more RSS again (887 MB).
 */
let PART_ROWS = 200_000;
/** Tests load small files in several parts; returns the previous size. */
export function setPartRows(n: number): number {
  const before = PART_ROWS;
  PART_ROWS = n;
  return before;
}

/** One part of a unit: its landing files, the source locations of their rows, and rejects found while streaming. */
class Part {
  readonly events: LineWriter;
  readonly assessments: LineWriter;
  readonly evLocs = new Locations();
  readonly asLocs = new Locations();
  readonly pre: Array<[loc: string, reason: string, field: string | null, detail: string, raw: string]> = [];
  constructor(dir: string, stem: string) {
    this.events = new LineWriter(path.join(dir, `${stem}.events.csv`));
    this.assessments = new LineWriter(path.join(dir, `${stem}.assessments.csv`));
  }
  get size(): number {
    return this.evLocs.length + this.pre.length;
  }
  row(line: string, assessment: boolean, loc: string): void {
    this.events.write(line);
    this.evLocs.push(loc);
    if (assessment) {
      this.assessments.write(line);
      this.asLocs.push(loc);
    }
  }
  /** A row of a parse workers' block: its bytes are written by the caller, in runs. */
  rowLine(relPath: string, line: number): void {
    this.evLocs.pushLine(relPath, line);
  }
  assessment(bytes: Uint8Array, relPath: string, line: number): void {
    this.assessments.writeBytes(bytes);
    this.asLocs.pushLine(relPath, line);
  }
  async drain(): Promise<void> {
    await this.events.drain();
    await this.assessments.drain();
  }
  async discard(): Promise<void> {
    await this.events.close().catch(() => {});
    await this.assessments.close().catch(() => {});
    // The landing files are derived from the input (kept only when debugging the mapping).
    if (process.env.LEARNPIPE_KEEP_LANDING) return;
    rmSync(this.events.file, { force: true });
    rmSync(this.assessments.file, { force: true });
  }
  /** Loads the part: events, then assessments; streaming rejects are counted in the events load. */
  async load(engine: Engine, config: PipelineConfig, baseDir: string, c: ConnectorConfig, unit: { input: string; sha256: string }, pz: Pseudonymizer, opts: { asOf: string | null; vault?: Vault | null }): Promise<LoadResult[]> {
    await this.events.close();
    await this.assessments.close();
    const t1 = performance.now();
    const events = await loadLanded(engine, config, baseDir, c, 'events', this.events.file, this.evLocs, unit, pz, opts);
    const t2 = performance.now();
    const assessments = this.asLocs.length ? await loadLanded(engine, config, baseDir, c, 'assessments', this.assessments.file, this.asLocs, unit, pz, opts) : null;
    if (process.env.LEARNPIPE_PROFILE) console.error(`xapi ${unit.input}: ${this.size} rows, load events ${((t2 - t1) / 1000).toFixed(2)} s, assessments ${((performance.now() - t2) / 1000).toFixed(2)} s`);
    const pre = this.pre;
    if (pre.length) {
      await engine.run(`CREATE OR REPLACE TEMP TABLE __xrej (location VARCHAR, reason VARCHAR, field VARCHAR, detail VARCHAR, raw VARCHAR)`);
      await engine.appendRows('__xrej', pre);
      await engine.run(`INSERT INTO rejects (source, load_id, location, reason, field, detail, raw)
        SELECT $1, $2, location, reason, field, detail, ${piiRedactSql('raw')} FROM __xrej`, [c.name, events.load_id]);
      await engine.run(`DROP TABLE __xrej`);
      await engine.run(`UPDATE loads SET rows_read = rows_read + $2, rejected = rejected + $2 WHERE load_id = $1`, [events.load_id, pre.length]);
      events.rows_read += pre.length;
      events.rejected += pre.length;
      for (const [, reason] of pre) events.rejects_by_reason[reason] = (events.rejects_by_reason[reason] ?? 0) + 1;
    }
    await this.discard();
    return assessments ? [events, assessments] : [events];
  }
}

/** Loads a landing file with loadFile, then points its rejects and bookkeeping at the original input. */
async function loadLanded(
  engine: Engine,
  config: PipelineConfig,
  baseDir: string,
  c: ConnectorConfig,
  target: 'events' | 'assessments',
  file: string,
  locs: Locations,
  unit: { input: string; sha256: string },
  pz: Pseudonymizer,
  opts: { asOf: string | null; vault?: Vault | null },
): Promise<LoadResult> {
  const source = builtinSource(c, target, file);
  const relPath = path.relative(baseDir, file) || file;
  const { statSync } = await import('node:fs');
  const result = await loadFile(engine, config, source, { path: file, relPath, size: statSync(file).size, header: FLAT_COLUMNS }, unit.sha256, pz, { loadId: await nextLoadId(engine), asOf: opts.asOf, vault: opts.vault });
  // Rejected rows (conflicting repeats, late rows, unreadable values) are located in the source, not the landing file.
  const rej = await engine.all<{ location: string }>(`SELECT DISTINCT location FROM rejects WHERE load_id = $1`, [result.load_id]);
  if (rej.length) {
    // Landing line n (after the header line) is the (n-1)-th row landed.
    const prefix = relPath + ':';
    const fix = rej.map((r) => [r.location, locs.at(Number(r.location.slice(prefix.length)) - 2) ?? r.location] as [string, string]);
    await engine.run(`CREATE OR REPLACE TEMP TABLE __xloc (landed VARCHAR, loc VARCHAR)`);
    await engine.appendRows('__xloc', fix);
    await engine.run(`UPDATE rejects SET location = l.loc FROM __xloc l WHERE rejects.load_id = $1 AND rejects.location = l.landed`, [result.load_id]);
    await engine.run(`DROP TABLE __xloc`);
  }
  // The input, not the landing file, is what was loaded (recorded once by loadUnit).
  await engine.run(`DELETE FROM loaded_files WHERE load_id = $1`, [result.load_id]);
  await engine.run(`UPDATE loads SET input = $2 WHERE load_id = $1`, [result.load_id, unit.input]);
  result.input = unit.input;
  return result;
}
