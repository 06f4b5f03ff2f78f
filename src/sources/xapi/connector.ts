// Ingests the configured connectors: xAPI statement files, an LRS, Caliper envelope files. Each file (or
// LRS page) is one unit loaded in its own transaction, skipped when already loaded (by content hash).
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';

/** Small files are batched into one unit up to these limits. */
const BATCH_FILES = 1000;
const BATCH_BYTES = 64 << 20;
import type { Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { ConnectorConfig } from '../../config/sources-xapi.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import type { LoadResult } from '../../normalize/load.js';
import { expandGlob } from '../glob.js';
import { sha256File, SourceReadError } from '../files.js';
import { isLineMode, readDocuments, type Doc } from './read.js';
import { ParsePool, parallelItems, parseWorkers, type RowBlock } from './parallel.js';
import { xapiFlattenOptions, type XapiFlattenOptions } from './flatten.js';
import { caliperDocuments, caliperFlattenOptions, flattenCaliperEvent, validateCaliperEvent, type CaliperFlattenOptions } from '../caliper/flatten.js';
import { loadUnit, type Item, type UnitResult } from './load.js';
import { rejectOf, xapiOut } from './items.js';
import { pullLrs } from './lrs.js';

export interface ConnectorSummary {
  source: string;
  kind: ConnectorConfig['kind'];
  /** Files (or LRS pages) loaded, and files skipped as already loaded (by content hash). */
  files_loaded: number;
  files_skipped: number;
  units: number;
  /** Statements / events read, voiding statements included. */
  statements: number;
  voiding: number;
  voided: number;
  results: UnitResult[];
  /** LRS only: the resume position after this run. */
  position?: string | null;
}

/** xAPI documents → items (in batches): malformed JSON, invalid statements and flattened ones. */
export async function* xapiItems(batches: AsyncIterable<Doc[]> | Iterable<Doc[]>, o: XapiFlattenOptions): AsyncGenerator<Item[]> {
  for await (const docs of batches) {
    const out: Item[] = new Array(docs.length);
    for (let i = 0; i < docs.length; i++) {
      const d = docs[i];
      out[i] = { loc: d.loc, ...xapiOut(d, o) };
    }
    yield out;
  }
}

/** Caliper documents → items (in batches), one per event of an envelope. */
export async function* caliperItems(batches: AsyncIterable<Doc[]>, o: CaliperFlattenOptions): AsyncGenerator<Item[]> {
  for await (const docs of batches) {
    const out: Item[] = [];
    for (const d of docs) {
      if ('error' in d) {
        out.push({ loc: d.loc, out: { kind: 'reject', reason: 'malformed_json', field: null, detail: d.error }, raw: () => d.raw });
        continue;
      }
      for (const { suffix, value } of caliperDocuments(d.value)) {
        const loc = d.loc + suffix;
        const raw = () => JSON.stringify(value);
        // Envelopes may carry entities (descriptions of people, courses, resources): not activity.
        if (value && typeof value === 'object' && !('action' in value) && typeof (value as any).type === 'string' && !/Event$/.test((value as any).type)) {
          out.push({ loc, out: { kind: 'reject', reason: 'not_an_event', field: 'type', detail: `a ${(value as any).type} entity, not an event` }, raw });
          continue;
        }
        const problems = validateCaliperEvent(value);
        out.push({ loc, out: problems.length ? rejectOf(problems, 'invalid_event') : flattenCaliperEvent(value as Record<string, any>, o), raw });
      }
    }
    yield out;
  }
}

export async function ingestConnector(
  engine: Engine,
  loaded: LoadedConfig,
  c: ConnectorConfig,
  pz: Pseudonymizer,
  opts: { asOf?: string | null; vault?: Vault | null; onUnit?: (r: UnitResult) => void } = {},
): Promise<ConnectorSummary> {
  const { config, baseDir } = loaded;
  const index = config.connectors.indexOf(c);
  const sum: ConnectorSummary = { source: c.name, kind: c.kind, files_loaded: 0, files_skipped: 0, units: 0, statements: 0, voiding: 0, voided: 0, results: [] };
  const add = (r: UnitResult, files = 1) => {
    sum.units++;
    sum.files_loaded += files;
    sum.statements += r.statements;
    sum.voiding += r.voiding;
    sum.voided += r.voided;
    sum.results.push(r);
    opts.onUnit?.(r);
  };
  const common = { asOf: opts.asOf ?? null, vault: opts.vault };
  if (c.kind === 'xapi' && c.lrs) {
    const fo = xapiFlattenOptions(c, index, config.identity.rules);
    sum.position = await pullLrs(engine, loaded, c, c.lrs, async (page) => {
      const r = await loadUnit(engine, config, baseDir, c, { input: page.input, sha256: page.sha256, items: xapiItems([page.docs], fo) }, pz, common);
      add(r);
      return r;
    });
    return sum;
  }
  const files = expandGlob(path.resolve(baseDir, c.path!));
  if (files.length === 0 && c.after_load !== 'move') throw new SourceReadError(`source ${c.name}: no file matches ${c.path} (resolved against ${baseDir})`);
  // Big statement files are parsed by worker threads (parallel.ts), started once for the run, and
  // before the files are hashed when one will need them: their start-up then overlaps the hashing.
  let pool: ParsePool | null = null;
  const fo = c.kind === 'xapi' ? xapiFlattenOptions(c, index, config.identity.rules) : null;
  const parallel = async (file: string, size: number): Promise<number> => {
    const workers = c.kind === 'xapi' ? parseWorkers(size) : 0;
    return workers > 0 && (await isLineMode(file)) ? workers : 0;
  };
  /** The first big file's parsing, begun before the files are hashed; taken by xapiFileItems (or stopped). */
  let early: { file: string; blocks: AsyncGenerator<RowBlock>; first: Promise<IteratorResult<RowBlock>> } | null = null;
  try {
    for (const file of files) {
      // Only a head start: a file that cannot be read fails below, where it is hashed, as before.
      const workers = await (async () => parallel(file, statSync(file).size))().catch(() => 0);
      if (workers > 0) {
        pool = new ParsePool(fo!, workers);
        // The workers start on its first chunks at once: hashing a big file (before anything is loaded,
        // to skip files loaded before) takes the main thread some 0.7 s per GB, which the parsing now
        // overlaps instead of following. If the file is not to be loaded after all, this is stopped.
        const blocks = parallelItems(pool, file, path.relative(baseDir, file) || file);
        early = { file, blocks, first: blocks.next() };
        // (an error is thrown where the blocks are taken, or the file fails to hash first)
        early.first.catch(() => {});
        break;
      }
    }
    return await loadFiles();
  } finally {
    if (early) await (early as { blocks: AsyncGenerator<RowBlock> }).blocks.return(undefined).catch(() => {});
    // (assigned inside loadFiles too, which TypeScript's narrowing does not see)
    await (pool as ParsePool | null)?.close();
  }

  async function loadFiles(): Promise<ConnectorSummary> {
    const pending: Array<{ file: string; input: string; sha256: string; size: number }> = [];
    for (const file of files) {
      const sha = await sha256File(file);
      if (pending.some((p) => p.sha256 === sha) || (await engine.one(`SELECT 1 FROM loaded_files WHERE source = $1 AND sha256 = $2`, [c.name, sha]))) {
        sum.files_skipped++;
        // Loaded before, but the move after that commit did not happen (a crash in between).
        moveLoaded(c, [file]);
        continue;
      }
      pending.push({ file, input: path.relative(baseDir, file) || file, sha256: sha, size: statSync(file).size });
    }
    // Small files are loaded in batches (one transaction and one pass of SQL for many files): a folder of
    // one-statement files costs little more than one file holding them all.
    const batches: Array<typeof pending> = [];
    for (const p of pending) {
      const last = batches[batches.length - 1];
      if (last && last.length < BATCH_FILES && last.reduce((n, x) => n + x.size, 0) + p.size <= BATCH_BYTES) last.push(p);
      else batches.push([p]);
    }
    async function* xapiFileItems(f: (typeof pending)[number]): AsyncGenerator<Item[] | RowBlock> {
      if (early?.file === f.file) {
        // Begun while the files were hashed: its first block, then the rest as they come.
        const { blocks, first } = early;
        early = null;
        try {
          const r = await first;
          if (r.done) return;
          yield r.value;
          yield* blocks;
        } finally {
          await blocks.return(undefined);
        }
        return;
      }
      const workers = await parallel(f.file, f.size);
      if (workers > 0) {
        pool ??= new ParsePool(fo!, workers);
        yield* parallelItems(pool, f.file, f.input);
      } else yield* xapiItems(readDocuments(f.file, f.input), fo!);
    }
    for (const batch of batches) {
      async function* docs() {
        for (const f of batch) yield* readDocuments(f.file, f.input);
      }
      async function* xapiBatch() {
        for (const f of batch) yield* xapiFileItems(f);
      }
      const items = c.kind === 'xapi' ? xapiBatch() : caliperItems(docs(), caliperFlattenOptions(c, index));
      const unit =
        batch.length === 1
          ? { input: batch[0].input, sha256: batch[0].sha256, items }
          : { input: `${batch[0].input} (+${batch.length - 1} files)`, sha256: createHash('sha256').update(batch.map((f) => f.sha256).join()).digest('hex'), items, files: batch };
      add(await engine.transaction(() => loadUnit(engine, config, baseDir, c, unit, pz, common)), batch.length);
      moveLoaded(c, batch.map((f) => f.file));
    }
    return sum;
  }
}

/** after_load: move — committed files leave the incoming folder for `loaded/` beside them. */
function moveLoaded(c: ConnectorConfig, files: string[]): void {
  if (c.after_load !== 'move') return;
  for (const f of files) {
    const dir = path.join(path.dirname(f), 'loaded');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    renameSync(f, path.join(dir, path.basename(f)));
  }
}

/** All loads of a connector run, events and assessments. */
export function connectorLoads(s: ConnectorSummary): LoadResult[] {
  return s.results.flatMap((r) => r.loads);
}
