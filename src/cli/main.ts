#!/usr/bin/env node
// The learnpipe command line. Exit codes: 0 ok, 1 a quality gate blocked the run, 2 usage or config
// error, 3 a source could not be read, 4 an internal error (a bug: please report it).
import { Command, CommanderError, Option } from 'commander';
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, ConfigError } from '../config/load.js';
import { EngineSetupError } from '../engine/engine.js';
import type { ClickHouseEngine } from '../engine/clickhouse.js';
import { MappingError } from '../normalize/mapping.js';
import { SourceReadError } from '../sources/files.js';
import { KeyError, createKeyFile, loadKey } from '../privacy/keys.js';
import { QaBlockedError, openWarehouse, runIngest, runPipeline } from '../pipeline.js';
import type { QaResult } from '../quality/checks.js';
import { registerPrivacyCommands } from './privacy-commands.js';
import { registerEvaluateCommands } from './evaluate-command.js';
import { registerCdcCommands } from './cdc-command.js';
import { registerServeCommands } from './serve-command.js';
import { createLogger, ingestProgress } from './progress.js';
import { STARTER_CONFIG } from './init-template.js';
import { printEvaluation, printIngestSummary, printModelingSummary, table } from './summary.js';

export const EXIT = { ok: 0, blocked: 1, usage: 2, source: 3, internal: 4 } as const;

/** A check command found a problem (already printed): exit 1. */
class QaGateFailed extends Error {}

function printQa(results: QaResult[]): void {
  const failed = results.filter((r) => r.status === 'fail');
  console.log(`QA: ${results.length} checks, ${failed.filter((r) => r.severity === 'error').length} failed (error), ${failed.filter((r) => r.severity === 'warn').length} failed (warn)`);
  for (const r of [...failed].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1))) {
    console.log(`  ${r.severity === 'error' ? '✗' : '!'} ${r.check_name} · ${r.subject}: ${r.value ?? '—'} (threshold ${r.threshold ?? '—'})${r.detail ? ` — ${r.detail}` : ''}`);
  }
}

const version = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
  } catch {
    return '0.0.0';
  }
})();

function isoDateOrTimestamp(v: string): string {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?$/.test(v) || Number.isNaN(Date.parse(v.replace(' ', 'T') + (v.length === 10 ? 'T00:00:00Z' : 'Z')))) {
    throw new CommanderError(EXIT.usage, 'learnpipe.asOf', `--as-of expects a date like 2024-05-01 (or 2024-05-01T00:00), got ${JSON.stringify(v)}`);
  }
  return v;
}

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new CommanderError(EXIT.usage, 'learnpipe.int', `${name} expects a positive whole number, got ${JSON.stringify(v)}`);
    return n;
  };
}

function emit(json: boolean, human: () => void, data: unknown) {
  if (json) process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else human();
}

/** The CLI. `commandSets: false` leaves out the privacy and evaluate command sets (tests register their own). */
export function buildProgram(opts: { commandSets?: boolean } = {}): Command {
  const program = new Command();
  program
    .name('learnpipe')
    .description('Turn raw learning activity (LMS logs, xAPI, HRIS exports) into trustworthy, point-in-time training data.')
    .version(version)
    .option('--json', 'print a machine-readable JSON summary on stdout')
    .option('-q, --quiet', 'no progress or log lines')
    .addOption(new Option('--engine <kind>', 'the engine to run on, overriding engine.kind in the config: duckdb (embedded, default) or clickhouse (a server from engine.clickhouse.url / LEARNPIPE_CLICKHOUSE_URL, else chdb in-process); see docs/engines.md').choices(['duckdb', 'clickhouse']))
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 ok · 1 a quality gate blocked the run · 2 usage or config error · 3 a source could not be read · 4 internal error

Quick start:
  learnpipe demo                       generate a synthetic LMS + HRIS data set and run the whole pipeline on it
  learnpipe init                       write a commented starter pipeline.yaml
  learnpipe validate -c pipeline.yaml  check a config (file, line and field of every mistake)
  learnpipe run -c pipeline.yaml --as-of 2024-05-01`,
    );
  const globals = () => program.opts<{ json?: boolean; quiet?: boolean; engine?: 'duckdb' | 'clickhouse' }>();
  /** The config, with --engine applied. */
  const configFrom = (file: string, opts?: { checkFiles?: boolean }) => {
    const loaded = loadConfig(file, opts);
    const kind = globals().engine;
    if (kind) loaded.config.engine = { ...loaded.config.engine, kind };
    return loaded;
  };
  const configOption = () => new Option('-c, --config <file>', 'pipeline config').default('pipeline.yaml');

  program
    .command('init')
    .description('Write a commented starter pipeline.yaml (and, with --key, a fresh pseudonym key file).')
    .option('-o, --out <file>', 'where to write the config', 'pipeline.yaml')
    .option('--key <file>', 'also create a pseudonym key file (owner-only permissions)')
    .option('--force', 'overwrite an existing config')
    .action((o: { out: string; key?: string; force?: boolean }) => {
      if (existsSync(o.out) && !o.force) throw new CommanderError(EXIT.usage, 'learnpipe.init', `${o.out} exists; use --force to overwrite it`);
      mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
      writeFileSync(o.out, STARTER_CONFIG);
      const key = o.key ? createKeyFile(o.key) : undefined;
      emit(globals().json ?? false, () => {
        console.log(`wrote ${o.out}${key ? `\ncreated key file ${key} (keep it out of git; anyone with it can link pseudonyms to people)` : ''}`);
        console.log(`next: edit the sources, then \`learnpipe validate -c ${o.out}\``);
      }, { config: path.resolve(o.out), key_file: key ?? null });
    });

  program
    .command('validate')
    .description('Check a pipeline config: YAML syntax, every field against the schema, time zones, that each source path matches files, and that the pseudonym key can be found.')
    .addOption(configOption())
    .action((o: { config: string }) => {
      const loaded = configFrom(o.config, { checkFiles: true });
      loadKey(loaded.config.keys.pseudonym, loaded.baseDir, 'pseudonym');
      emit(globals().json ?? false, () => console.log(`${loaded.file}: ok (${loaded.config.sources.length} sources${loaded.config.connectors.length ? `, ${loaded.config.connectors.length} connectors` : ''})`), { ok: true, config: loaded.file, sources: loaded.config.sources.map((s) => s.name), connectors: loaded.config.connectors.map((s) => s.name) });
    });

  program
    .command('generate')
    .description('Write a realistic synthetic LMS + HRIS data set (with planted duplicates, malformed and late rows, DST edge cases, a renamed course and a planted signal) and its ground truth. Same seed, same bytes.')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--users <n>', 'number of learners', positiveInt('--users'), 500)
    .option('--days <n>', 'length of the period in days', positiveInt('--days'), 120)
    .option('--seed <n>', 'random seed', (v) => Number(v), 42)
    .option('--start <date>', 'first day of the period', '2024-01-01')
    .action(async (o: { out: string; users: number; days: number; seed: number; start: string }) => {
      const { generateDataset } = await import('../generate/index.js');
      const truth = await generateDataset({ out: o.out, users: o.users, days: o.days, seed: o.seed, start: o.start });
      emit(globals().json ?? false, () => console.log(`wrote a synthetic data set to ${o.out} (ground truth in ${path.join(o.out, 'ground_truth.json')})`), truth);
    });

  program
    .command('ingest')
    .description('Load new files of every source (or --source) into the warehouse: normalise, pseudonymise, deduplicate, reject what cannot be read. Files already loaded are skipped.')
    .addOption(configOption())
    .option('-s, --source <name...>', 'only these sources')
    .option('--as-of <date>', 'logical run date recorded with the loads', isoDateOrTimestamp)
    .action(async (o: { config: string; source?: string[]; asOf?: string }) => {
      const loaded = configFrom(o.config);
      const log = createLogger({ quiet: globals().quiet });
      const { summary, warehouse } = await runIngest(loaded, { asOf: o.asOf, sources: o.source, progress: globals().json ? {} : ingestProgress(log, { quiet: globals().quiet }) });
      emit(globals().json ?? false, () => printIngestSummary(summary, { warehouse }), { warehouse, ...summary });
    });

  program
    .command('run')
    .description('Run the pipeline: ingest every source, then build and publish the outputs for --as-of into output_dir (atomically: a failed run leaves the previous outputs untouched).')
    .addOption(configOption())
    .option('--as-of <date>', 'logical run date (default: today, UTC); same inputs + config + --as-of give byte-identical outputs', isoDateOrTimestamp)
    .option('--no-ingest', 'load nothing: build features, labels and outputs from the canonical tables as they are (e.g. on ClickHouse after copy-to-clickhouse)')
    .action(async (o: { config: string; asOf?: string; ingest: boolean }) => {
      const loaded = configFrom(o.config);
      const asOf = o.asOf ?? new Date().toISOString().slice(0, 10);
      const log = createLogger({ quiet: globals().quiet });
      const summary = await runPipeline(loaded, { asOf, ingest: o.ingest, progress: globals().json ? {} : ingestProgress(log, { quiet: globals().quiet }), log: globals().json ? undefined : log });
      emit(
        globals().json ?? false,
        () => {
          printIngestSummary(summary.ingest, { warehouse: summary.warehouse, outputs: summary.outputs, asOf });
          printModelingSummary(summary.modeling);
          printEvaluation(summary.evaluation);
        },
        summary,
      );
    });

  program
    .command('labels')
    .description('Recompute the labels of pipeline.yaml over the current spine for --as-of, without touching features; rewrites labels.parquet in output_dir. Label windows not fully observed by --as-of are censored.')
    .addOption(configOption())
    .option('--as-of <date>', 'computation date (default: today, UTC)', isoDateOrTimestamp)
    .option('-l, --label <name...>', 'only these labels')
    .action(async (o: { config: string; asOf?: string; label?: string[] }) => {
      const loaded = configFrom(o.config);
      const asOf = o.asOf ?? new Date().toISOString().slice(0, 10);
      const { recomputeLabels } = await import('../labels/publish.js');
      const r = await recomputeLabels(loaded, asOf, o.label);
      emit(globals().json ?? false, () => {
        console.log(table(['label', 'hash', 'positive', 'negative', 'censored', 'not at risk'], r.labels.map((l) => [l.name, l.definition_hash, l.positives, l.negatives, l.censored, l.not_at_risk])));
        console.log(`wrote ${r.file}`);
      }, r);
    });

  program
    .command('qa')
    .description('Run the QA gate\'s checks alone on the warehouse as it is (nothing is loaded, rebuilt or published). Exits 1 when an error-severity check fails. Checks and thresholds: docs/qa.md.')
    .addOption(configOption())
    .option('--as-of <date>', 'logical date the checks judge freshness and labels against (default: today, UTC)', isoDateOrTimestamp)
    .action(async (o: { config: string; asOf?: string }) => {
      const loaded = configFrom(o.config);
      const { runQaOnly } = await import('../quality/history.js');
      const r = await runQaOnly(loaded, o.asOf ?? new Date().toISOString().slice(0, 10));
      const failed = r.results.filter((x) => x.status === 'fail');
      emit(globals().json ?? false, () => printQa(r.results), r);
      if (failed.some((x) => x.severity === 'error')) throw new QaGateFailed();
    });

  program
    .command('runs')
    .description('List the run history: run id, --as-of, published or blocked, outputs and failed checks.')
    .addOption(configOption())
    .action(async (o: { config: string }) => {
      const { listRuns } = await import('../quality/history.js');
      const runs = await listRuns(configFrom(o.config));
      emit(globals().json ?? false, () => console.log(runs.length ? table(['run', 'as of', 'status', 'config', 'outputs', 'failed checks'], runs.map((r) => [r.run_id, r.as_of, r.status, r.config_hash, r.outputs, r.failed_checks])) : 'no runs yet'), runs);
    });

  program
    .command('verify')
    .description('Re-hash the files a manifest lists (the outputs next to it) and say whether they are intact. Exits 1 when a file is missing, changed or unlisted.')
    .argument('<manifest>', 'path to a manifest.json')
    .action(async (file: string) => {
      const { verifyManifest } = await import('../quality/manifest.js');
      const r = await verifyManifest(file);
      emit(globals().json ?? false, () => {
        console.log(r.ok ? `${file}: intact (${r.checked} files match their SHA-256)` : `${file}: NOT intact`);
        for (const [k, v] of [['missing', r.missing], ['changed', r.changed], ['extra (not listed)', r.extra]] as const) if (v.length) console.log(`  ${k}: ${v.join(', ')}`);
      }, r);
      if (!r.ok) throw new QaGateFailed();
    });

  program
    .command('replay')
    .description('Rebuild a published run\'s data outputs from a copy of the warehouse cut back to the loads that run had seen, and show they are byte-identical to its manifest.')
    .argument('<run-id>', 'a run id from `learnpipe runs`')
    .addOption(configOption())
    .action(async (runId: string, o: { config: string }) => {
      const { replayRun } = await import('../quality/history.js');
      const r = await replayRun(configFrom(o.config), runId);
      emit(globals().json ?? false, () => {
        console.log(`${r.run_id}: ${r.identical.length} of ${r.compared} data files byte-identical${r.different.length ? `; different: ${r.different.join(', ')}` : ''} (rebuilt in ${r.dir})`);
      }, r);
      if (r.different.length) throw new QaGateFailed();
    });

  program
    .command('demo')
    .description('Generate a synthetic LMS + HRIS data set in --dir, write its pipeline.yaml and a pseudonym key, and run the whole pipeline on it. Needs no server and no download.')
    .option('-d, --dir <dir>', 'work folder (raw/, warehouse.duckdb, out/)', './learnpipe-demo')
    .option('--users <n>', 'number of learners', positiveInt('--users'), 500)
    .option('--days <n>', 'length of the period in days', positiveInt('--days'), 120)
    .option('--seed <n>', 'random seed', (v) => Number(v), 42)
    .action(async (o: { dir: string; users: number; days: number; seed: number }) => {
      const log = createLogger({ quiet: globals().quiet });
      const { runDemo } = await import('./demo.js');
      const result = await runDemo({ dir: o.dir, users: o.users, days: o.days, seed: o.seed, log, progress: globals().json ? {} : ingestProgress(log, { quiet: globals().quiet }) });
      emit(globals().json ?? false, () => result.print(), result.summary);
    });

  program
    .command('copy-to-clickhouse')
    .description('Copy the canonical tables of a DuckDB warehouse (--from, default: the config\'s warehouse) into the ClickHouse warehouse of the config\'s engine.clickhouse settings (a server, or chdb). The ClickHouse tables are emptied first. Then `learnpipe run --engine clickhouse` builds features, labels and the training table there (docs/engines.md).')
    .addOption(configOption())
    .option('--from <file>', 'the DuckDB warehouse to read (default: warehouse in the config)')
    .action(async (o: { config: string; from?: string }) => {
      const loaded = configFrom(o.config);
      const { DuckDBEngine } = await import('../engine/duckdb.js');
      const { copyWarehouse } = await import('../engine/copy.js');
      const { resolvePath } = await import('../config/load.js');
      const from = o.from ?? resolvePath(loaded, loaded.config.warehouse);
      if (!existsSync(from)) throw new ConfigError([{ file: loaded.file, path: 'warehouse', message: `no DuckDB warehouse at ${from}` }]);
      const source = await DuckDBEngine.open(from);
      const target = await openWarehouse({ ...loaded, config: { ...loaded.config, engine: { ...loaded.config.engine, kind: 'clickhouse' } } });
      try {
        const log = createLogger({ quiet: globals().quiet || globals().json });
        const copied = await copyWarehouse(source, target as ClickHouseEngine, undefined, (r) => log.info('copy.table', { table: r.table, rows: r.rows }));
        emit(globals().json ?? false, () => console.log(table(['table', 'rows'], copied.map((r) => [r.table, r.rows])) + `\ncopied into ${target.location}`), { from, to: target.location, tables: copied });
      } finally {
        await target.close();
        await source.close();
      }
    });

  const keys = program.command('keys').description('Manage secret keys (pseudonym key files).');
  keys
    .command('create')
    .description('Create a random 32-byte key file readable by its owner only. Refuses to overwrite an existing key.')
    .requiredOption('-o, --out <file>', 'key file to create')
    .action((o: { out: string }) => {
      const p = createKeyFile(o.out);
      emit(globals().json ?? false, () => console.log(`created ${p} (mode 600). Keep it out of git; losing it makes existing pseudonyms unreproducible.`), { key_file: p });
    });
  if (opts.commandSets !== false) {
    registerPrivacyCommands(program, { globals, configOption, emit });
    registerEvaluateCommands(program, { globals });
    registerCdcCommands(program, { globals, configOption, emit });
    registerServeCommands(program, { configOption, globals });
  }
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      if (err.code.startsWith('learnpipe.')) process.stderr.write(`error: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError || err instanceof MappingError || err instanceof KeyError || err instanceof EngineSetupError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof QaBlockedError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT.blocked;
    }
    if (err instanceof QaGateFailed) return EXIT.blocked;
    if (err instanceof SourceReadError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.source;
    }
    process.stderr.write(`internal error: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.internal;
  }
}

const invokedDirectly = process.argv[1] && /[\\/]cli[\\/]main\.(?:ts|js)$/.test(process.argv[1]);
if (invokedDirectly) {
  main().then((code) => process.exit(code));
}
