// Loads pipeline.yaml: YAML parse, zod validation, and errors that name the file, line, column and
// field path, say what was expected, and suggest the nearest valid key for a misspelling.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, type Document } from 'yaml';
import type { z } from 'zod';
import { pipelineConfigSchema, type PipelineConfig } from './schema.js';
import { expandGlob } from '../sources/glob.js';

export interface ConfigIssue {
  file: string;
  line?: number;
  column?: number;
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line ? `${i.file}:${i.line}:${i.column}` : i.file;
  return `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

export interface LoadedConfig {
  config: PipelineConfig;
  /** Absolute path of the config file. */
  file: string;
  /** Folder relative paths are resolved against. */
  baseDir: string;
  /** The raw text, for hashing in manifests. */
  text: string;
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

/** Keys a strict object at `path` accepts, found by walking the zod schema. */
function knownKeys(schema: z.ZodType, p: PropertyKey[]): string[] {
  let s: any = schema;
  const unwrap = () => {
    for (let guard = 0; guard < 10 && s; guard++) {
      const def = s._zod?.def ?? s.def;
      if (!def) return;
      // A preprocess step (a pipe from a transform) leads to the schema it feeds.
      if (def.type === 'pipe' && (def.in?._zod?.def ?? def.in?.def)?.type === 'transform') s = def.out;
      else if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'pipe') s = def.innerType ?? def.in;
      else if (def.type === 'union') s = def.options.find((o: any) => (o._zod?.def ?? o.def)?.type === 'object') ?? def.options[0];
      else return;
    }
  };
  unwrap();
  for (const key of p) {
    const def = s?._zod?.def ?? s?.def;
    if (!def) return [];
    if (def.type === 'object') s = def.shape[key as string];
    else if (def.type === 'array') s = def.element;
    else if (def.type === 'record') s = def.valueType;
    else return [];
    unwrap();
  }
  const def = s?._zod?.def ?? s?.def;
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

function locate(doc: Document, lc: LineCounter, p: PropertyKey[], preferKey?: string) {
  let node: any = p.length ? doc.getIn(p as (string | number)[], true) : doc.contents;
  // For an unknown key, point at the key itself rather than the enclosing object.
  if (preferKey && isMap(node)) {
    const pair: any = node.items.find((it: any) => it.key?.value === preferKey);
    if (pair?.key?.range) node = pair.key;
  }
  // Walk up until a node with a position exists (a missing key has none).
  let q = [...p];
  while (!node?.range && q.length) {
    q = q.slice(0, -1);
    node = q.length ? doc.getIn(q as (string | number)[], true) : doc.contents;
  }
  if (!node?.range) return {};
  const pos = lc.linePos((node as { range: [number] }).range[0]);
  return { line: pos.line, column: pos.col };
}

function renderPath(p: PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
}

export function parseConfigText(text: string, file: string): PipelineConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { file, line: pos.line, column: pos.col, path: '', message: `YAML syntax error: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const data = doc.toJS() ?? {};
  const result = pipelineConfigSchema.safeParse(data);
  if (result.success) return result.data;
  const issues: ConfigIssue[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as any).keys as string[];
      const known = knownKeys(pipelineConfigSchema, issue.path);
      for (const k of keys) {
        const near = known.map((c) => [c, levenshtein(k, c)] as const).sort((a, b) => a[1] - b[1])[0];
        const hint = near && near[1] <= Math.max(2, Math.floor(k.length / 3)) ? ` (did you mean "${near[0]}"?)` : known.length ? ` (expected one of: ${known.join(', ')})` : '';
        issues.push({ file, ...locate(doc, lc, issue.path, k), path: renderPath([...issue.path, k]), message: `unknown key "${k}"${hint}` });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type') {
      const got = getIn(data, issue.path);
      message = got === undefined ? `missing: ${issue.message.replace(/^Invalid input: /, '')}` : `${issue.message.replace(/^Invalid input: /, '')}, got ${JSON.stringify(got)}`;
    }
    issues.push({ file, ...locate(doc, lc, issue.path), path: renderPath(issue.path), message });
  }
  throw new ConfigError(issues);
}

function getIn(data: unknown, p: PropertyKey[]): unknown {
  let v: any = data;
  for (const k of p) v = v?.[k as any];
  return v;
}

/** Reads and validates a config; with checkFiles, also reports sources whose path matches no file. */
export function loadConfig(file: string, opts: { checkFiles?: boolean } = {}): LoadedConfig {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new ConfigError([{ file: abs, path: '', message: 'config file not found (create one with `learnpipe init`)' }]);
  const text = readFileSync(abs, 'utf8');
  const config = parseConfigText(text, abs);
  const loaded = { config, file: abs, baseDir: path.dirname(abs), text };
  if (opts.checkFiles) {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc });
    const issues: ConfigIssue[] = [];
    config.sources.forEach((s, i) => {
      if (s.kind === 'postgres') return;
      if (expandGlob(path.resolve(loaded.baseDir, s.path)).length === 0) {
        issues.push({ file: abs, ...locate(doc, lc, ['sources', i, 'path']), path: `sources[${i}].path`, message: `no file matches ${JSON.stringify(s.path)} (resolved against ${loaded.baseDir})` });
      }
    });
    config.connectors.forEach((s, i) => {
      if (s.path && expandGlob(path.resolve(loaded.baseDir, s.path)).length === 0) {
        issues.push({ file: abs, ...locate(doc, lc, ['connectors', i, 'path']), path: `connectors[${i}].path`, message: `no file matches ${JSON.stringify(s.path)} (resolved against ${loaded.baseDir})` });
      }
    });
    if (issues.length) throw new ConfigError(issues);
  }
  return loaded;
}

export function resolvePath(loaded: LoadedConfig, p: string): string {
  return path.resolve(loaded.baseDir, p);
}
