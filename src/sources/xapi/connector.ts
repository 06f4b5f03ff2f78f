// Ingests the configured connectors: xAPI statement files, an LRS, Caliper envelope files. Each file (or
// LRS page) is one unit loaded in its own transaction, skipped when already loaded (by content hash).
import path from 'node:path';
import type { Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { ConnectorConfig } from '../../config/sources-xapi.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import type { LoadResult } from '../../normalize/load.js';
import { expandGlob } from '../glob.js';
import { sha256File, SourceReadError } from '../files.js';
import { readDocuments, type Doc } from './read.js';
import { validateStatement } from './validate.js';
import { flattenStatement, xapiFlattenOptions, type XapiFlattenOptions } from './flatten.js';
import { caliperDocuments, caliperFlattenOptions, flattenCaliperEvent, validateCaliperEvent, type CaliperFlattenOptions } from '../caliper/flatten.js';
import { loadUnit, type Item, type UnitResult } from './load.js';
import { pullLrs } from './lrs.js';
import type { Problem } from './validate.js';

export interface ConnectorSummary {
  source: string;
  kind: ConnectorConfig['kind'];
  units_loaded: number;
  units_skipped: number;
  /** Statements / events read, voiding statements included. */
  statements: number;
  voiding: number;
  voided: number;
  results: UnitResult[];
  /** LRS only: the resume position after this run. */
  position?: string | null;
}

const rejectOf = (problems: Problem[], invalid: string): Item['out'] => {
  const first = problems[0];
  const missing = /^missing (\w+)$/.exec(first.message);
  return {
    kind: 'reject',
    reason: missing && !first.path.includes('.') ? `missing_${missing[1]}` : invalid,
    field: first.path,
    detail: problems.slice(0, 5).map((p) => `${p.path}: ${p.message}`).join('; ') + (problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''),
  };
};

/** xAPI documents → items (in batches): malformed JSON, invalid statements and flattened ones. */
export async function* xapiItems(batches: AsyncIterable<Doc[]> | Iterable<Doc[]>, o: XapiFlattenOptions): AsyncGenerator<Item[]> {
  for await (const docs of batches) {
    const out: Item[] = new Array(docs.length);
    for (let i = 0; i < docs.length; i++) {
      const d = docs[i];
      if ('error' in d) {
        out[i] = { loc: d.loc, out: { kind: 'reject', reason: 'malformed_json', field: null, detail: d.error }, raw: () => d.raw };
        continue;
      }
      const v = d.value;
      const problems = validateStatement(v);
      out[i] = { loc: d.loc, out: problems.length ? rejectOf(problems, 'invalid_statement') : flattenStatement(v as Record<string, any>, o), raw: () => JSON.stringify(v) };
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
  const sum: ConnectorSummary = { source: c.name, kind: c.kind, units_loaded: 0, units_skipped: 0, statements: 0, voiding: 0, voided: 0, results: [] };
  const add = (r: UnitResult) => {
    sum.units_loaded++;
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
  if (files.length === 0) throw new SourceReadError(`source ${c.name}: no file matches ${c.path} (resolved against ${baseDir})`);
  for (const file of files) {
    const sha = await sha256File(file);
    if (await engine.one(`SELECT 1 FROM loaded_files WHERE source = $1 AND sha256 = $2`, [c.name, sha])) {
      sum.units_skipped++;
      continue;
    }
    const relPath = path.relative(baseDir, file) || file;
    const docs = readDocuments(file, relPath);
    const items = c.kind === 'xapi' ? xapiItems(docs, xapiFlattenOptions(c, index, config.identity.rules)) : caliperItems(docs, caliperFlattenOptions(c, index));
    add(await engine.transaction(() => loadUnit(engine, config, baseDir, c, { input: relPath, sha256: sha, items }, pz, common)));
  }
  return sum;
}

/** All loads of a connector run, events and assessments. */
export function connectorLoads(s: ConnectorSummary): LoadResult[] {
  return s.results.flatMap((r) => (r.assessments ? [r.events, r.assessments] : [r.events]));
}
