// CLI commands for privacy: `vault lookup`, `keys rotate`, `export aggregate`. Thin wrappers around
// src/privacy/*; main.ts calls registerPrivacyCommands(program, helpers).
//
// Settings are read from the config (see privacySettings for the keys and defaults):
//   keys.vault                 where the vault key is: { env: LEARNPIPE_VAULT_KEY, file: keys/vault.key }
//   privacy.vault              the vault file (default vault/pii.vault, relative to the config)
//   privacy.allow_sensitive    sensitive columns exports may read, by name (default none)
//   privacy.aggregates         named aggregate exports (see AggregateSpec)
// `export aggregate --spec file.yaml` takes one AggregateSpec from a file instead.
import { Command, CommanderError, Option } from 'commander';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig, resolvePath, type LoadedConfig } from '../config/load.js';
import { openDuckDBWarehouse, openWarehouse } from '../pipeline.js';
import { loadKey, type KeySource } from '../privacy/keys.js';
import { Pseudonymizer } from '../privacy/pseudonym.js';
import { Vault, VaultError, loadVaultKey, type VaultRecord } from '../privacy/vault.js';
import { rotatePseudonyms, RotationError } from '../privacy/rotate.js';
import { aggregateWithK, KAnonymityError, type AggregateOptions, type Measure, type QuasiIdentifier } from '../privacy/kanon.js';
import { BudgetExceededError, LedgerError, budgetStatus, type BudgetStatus } from '../privacy/ledger.js';
import { DpError, type Mechanism } from '../privacy/dp.js';
import { cryptoRng, seededRng } from '../privacy/rng.js';

export interface PrivacyCliHelpers {
  globals?: () => { json?: boolean; quiet?: boolean };
  configOption?: () => Option;
  emit?: (json: boolean, human: () => void, data: unknown) => void;
}

/** One aggregate export, as written under privacy.aggregates or in a --spec file. */
export interface AggregateSpec {
  name: string;
  /** A SELECT over warehouse tables with one or more rows per person. */
  sql: string;
  person_column?: string;
  quasi_identifiers: Array<string | { column: string; hierarchy?: string[][] | string[][][] }>;
  measures: Array<{ name: string; expr: string } | { name: string; sum: { column: string; lower: number; upper: number } }>;
  k: number;
  max_suppression?: number;
  dp?: {
    epsilon: number;
    delta?: number;
    mechanism?: Mechanism;
    max_contributions_per_user?: number;
    /** Ledger dataset the budget belongs to (default: the export name). */
    dataset?: string;
    budget: { epsilon: number; delta?: number };
  };
}

export interface PrivacySettings {
  vaultFile: string;
  vaultKey: KeySource;
  allowSensitive: string[];
  aggregates: AggregateSpec[];
}

/** Built-in export: completion rate by department, role level and course. */
export const COMPLETION_PRESET: AggregateSpec = {
  name: 'completion',
  sql: `SELECT en.user_id, coalesce(u.department, 'unknown') AS department, coalesce(u.role_level, 'unknown') AS role_level,
          en.course_id AS course, CASE WHEN en.completed_at IS NOT NULL THEN 1 ELSE 0 END AS completed
        FROM enrollments en LEFT JOIN users u USING (user_id)`,
  person_column: 'user_id',
  quasi_identifiers: ['department', 'role_level', 'course'],
  measures: [
    { name: 'completion_rate', expr: 'round(avg(completed), 4)' },
    { name: 'completions', sum: { column: 'completed', lower: 0, upper: 1 } },
  ],
  k: 10,
};

/** Reads the privacy settings from a loaded config, with defaults (tolerates configs without them). */
export function privacySettings(loaded: LoadedConfig): PrivacySettings {
  const cfg = loaded.config as unknown as { keys?: { vault?: KeySource }; privacy?: { vault?: string; allow_sensitive?: string[]; aggregates?: AggregateSpec[] } };
  return {
    vaultFile: resolvePath(loaded, cfg.privacy?.vault ?? 'vault/pii.vault'),
    vaultKey: cfg.keys?.vault ?? { env: 'LEARNPIPE_VAULT_KEY', file: 'keys/vault.key' },
    allowSensitive: cfg.privacy?.allow_sensitive ?? [],
    aggregates: cfg.privacy?.aggregates ?? [],
  };
}

/** Turns an AggregateSpec into aggregateWithK options (without DP, which needs the rng and ledger). */
export function aggregateOptions(spec: AggregateSpec, allowSensitive: string[]): AggregateOptions {
  const qis: QuasiIdentifier[] = spec.quasi_identifiers.map((q) => (typeof q === 'string' ? { column: q } : { column: q.column, hierarchy: q.hierarchy }));
  return {
    sql: spec.sql,
    quasiIdentifiers: qis,
    measures: spec.measures as Measure[],
    k: spec.k,
    personColumn: spec.person_column,
    maxSuppression: spec.max_suppression,
    allowSensitive,
  };
}

function csv(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]);
  const cell = (v: unknown) => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'number' ? String(Number(v.toPrecision(12))) : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

function writeFileAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Privacy errors are usage-level problems (exit 2, message only, never a stack). */
async function asUsage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof VaultError || err instanceof RotationError || err instanceof BudgetExceededError || err instanceof LedgerError || err instanceof KAnonymityError || err instanceof DpError) {
      throw new CommanderError(2, 'learnpipe.privacy', err.message);
    }
    throw err;
  }
}

function whoAmI(who?: string): string {
  if (who) return who;
  try {
    return process.env.USER || os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

export function registerPrivacyCommands(program: Command, helpers: PrivacyCliHelpers = {}): void {
  const globals = helpers.globals ?? (() => program.opts<{ json?: boolean; quiet?: boolean }>());
  const configOption = helpers.configOption ?? (() => new Option('-c, --config <file>', 'pipeline config').default('pipeline.yaml'));
  const emit = helpers.emit ?? ((json: boolean, human: () => void, data: unknown) => (json ? process.stdout.write(JSON.stringify(data, null, 2) + '\n') : human()));
  const find = (name: string, description: string) => program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);

  // ---- vault lookup ----
  const vault = find('vault', 'The encrypted PII vault (needs the vault key; every lookup is logged inside the vault).');
  vault
    .command('lookup <pseudonym>')
    .description('Show the identifiers and PII filed under a pseudonym (and, with the warehouse, under every key of the same person). The access is logged.')
    .addOption(configOption())
    .option('--who <name>', 'who is looking (default: $USER)')
    .option('--purpose <text>', 'why (e.g. a ticket number); recorded in the access log')
    .option('--no-linked', 'only the exact pseudonym, not the other keys of the same person')
    .action((pseudonym: string, o: { config: string; who?: string; purpose?: string; linked: boolean }) =>
      asUsage(async () => {
        const loaded = loadConfig(o.config);
        const s = privacySettings(loaded);
        if (!existsSync(s.vaultFile)) throw new VaultError(`no vault at ${s.vaultFile} (it is written when sources with pii_columns are loaded)`);
        const v = Vault.open(s.vaultFile, loadVaultKey(s.vaultKey, loaded.baseDir));
        let keys = [pseudonym];
        const warehouseFile = resolvePath(loaded, loaded.config.warehouse);
        if (o.linked && (loaded.config.engine.kind !== 'duckdb' || existsSync(warehouseFile))) {
          // (Portable SQL: the linked keys are read from either engine's identity map.)
          const engine = await openWarehouse(loaded);
          try {
            const rows = await engine.all<{ k: string }>(
              `SELECT DISTINCT key_pseudonym AS k FROM identity_map WHERE user_id = $1 OR user_id = (SELECT min(user_id) FROM identity_map WHERE key_pseudonym = $1) ORDER BY 1`,
              [pseudonym],
            );
            keys = [pseudonym, ...rows.map((r) => r.k).filter((k) => k !== pseudonym)];
          } finally {
            await engine.close();
          }
        }
        const found: Record<string, VaultRecord> = {};
        for (const k of keys) {
          if (k !== pseudonym && !v.has(k)) continue;
          const rec = v.lookup(k, whoAmI(o.who), o.purpose);
          if (rec) found[k] = rec;
        }
        if (Object.keys(found).length === 0) throw new VaultError(`no vault record for ${pseudonym} (the lookup was logged)`);
        emit(globals().json ?? false, () => {
          for (const [k, rec] of Object.entries(found)) {
            console.log(`${k}${rec.kind ? ` (${rec.kind})` : ''}`);
            for (const [kind, raw] of Object.entries(rec.identifiers)) console.log(`  ${kind}: ${raw}`);
            for (const [src, fields] of Object.entries(rec.fields)) for (const [col, val] of Object.entries(fields)) console.log(`  ${src}.${col}: ${val ?? ''}`);
          }
        }, { pseudonym, records: found });
      }),
    );

  // ---- keys rotate ----
  const keys = find('keys', 'Manage secret keys (pseudonym key files).');
  keys
    .command('rotate')
    .description('Re-key every pseudonym in the warehouse and the vault from the configured pseudonym key to a new one, in one transaction. Then install the new key in place of the old.')
    .addOption(configOption())
    .requiredOption('--new-key <file>', 'the new pseudonym key file (create it with `learnpipe keys create`)')
    .option('--allow-unmapped', 'proceed even if some warehouse pseudonyms have no identifiers in the vault (they keep their old value)')
    .option('--who <name>', 'recorded in the vault access log (default: $USER)')
    .action((o: { config: string; newKey: string; allowUnmapped?: boolean; who?: string }) =>
      asUsage(async () => {
        const loaded = loadConfig(o.config);
        const s = privacySettings(loaded);
        const oldKey = loadKey(loaded.config.keys.pseudonym, loaded.baseDir, 'pseudonym');
        const newKey = loadKey({ file: path.resolve(o.newKey) }, loaded.baseDir, 'new pseudonym');
        const vaultKey = loadVaultKey(s.vaultKey, loaded.baseDir, oldKey);
        if (vaultKey.equals(newKey)) throw new VaultError('the new pseudonym key is the same as the vault key; use separate keys');
        const v = Vault.open(s.vaultFile, vaultKey);
        const engine = await openDuckDBWarehouse(loaded, 'keys rotate');
        let result;
        try {
          result = await rotatePseudonyms(engine, v, new Pseudonymizer(oldKey), new Pseudonymizer(newKey), { allowUnmapped: o.allowUnmapped, who: whoAmI(o.who) });
        } finally {
          await engine.close();
        }
        const where = loaded.config.keys.pseudonym.file ? resolvePath(loaded, loaded.config.keys.pseudonym.file) : `$${loaded.config.keys.pseudonym.env}`;
        emit(globals().json ?? false, () => {
          console.log(`rotated ${result.mapped_pseudonyms} pseudonyms: ${result.total_updated} warehouse rows, ${result.vault_records_moved} vault records (key id ${result.old_key_id} -> ${result.new_key_id})`);
          for (const [col, n] of Object.entries(result.unmapped)) console.log(`  left under the old key: ${col}: ${n}`);
          console.log(`now install the new key in place of the old one (${where}); runs with the old key are refused from now on.`);
        }, result);
      }),
    );

  // ---- export aggregate ----
  const exp = find('export', 'Publishable exports.');
  exp
    .command('aggregate')
    .description('Write grouped statistics in which every group holds at least k people (small groups are generalised or suppressed, and the export reports it); optionally with differentially private counts and sums.')
    .addOption(configOption())
    .option('-n, --name <name>', 'an export under privacy.aggregates in the config, or "completion" (built in)', 'completion')
    .option('--spec <file>', 'read the export definition from a YAML/JSON file instead')
    .option('--k <n>', 'override k', (v) => Number(v))
    .option('--out <file>', 'CSV to write (default: <output_dir>/aggregates/<name>.csv, with <name>.report.json beside it)')
    .option('--as-of <date>', 'logical date of the release (recorded on the epsilon ledger)')
    .option('--release-id <id>', 'ledger release id (default: <name>@<as-of>); the same id is never charged twice')
    .option('--seed <seed>', 'DRY RUN: seeded, reproducible noise that is NOT private; nothing is charged to the ledger')
    .action((o: { config: string; name: string; spec?: string; k?: number; out?: string; asOf?: string; releaseId?: string; seed?: string }) =>
      asUsage(async () => {
        const loaded = loadConfig(o.config);
        const s = privacySettings(loaded);
        let spec: AggregateSpec | undefined;
        if (o.spec) spec = parseYaml(readFileSync(o.spec, 'utf8')) as AggregateSpec;
        else spec = s.aggregates.find((a) => a.name === o.name) ?? (o.name === 'completion' ? COMPLETION_PRESET : undefined);
        if (!spec) throw new KAnonymityError(`no aggregate export named ${JSON.stringify(o.name)} (configured: ${[...s.aggregates.map((a) => a.name), 'completion'].join(', ')})`);
        if (!spec.name || !spec.sql || !Array.isArray(spec.quasi_identifiers) || !Array.isArray(spec.measures)) throw new KAnonymityError('an aggregate export needs name, sql, quasi_identifiers and measures');
        if (o.k !== undefined) spec = { ...spec, k: o.k };
        const asOf = o.asOf ?? new Date().toISOString().slice(0, 10);
        const opts = aggregateOptions(spec, s.allowSensitive);
        const dryRun = o.seed !== undefined;
        if (spec.dp) {
          const dataset = spec.dp.dataset ?? spec.name;
          opts.dp = {
            epsilon: spec.dp.epsilon,
            delta: spec.dp.delta,
            mechanism: spec.dp.mechanism ?? 'laplace',
            maxContributionsPerUser: spec.dp.max_contributions_per_user,
            rng: dryRun ? seededRng(o.seed!) : cryptoRng(),
            ledger: dryRun ? undefined : { dataset, release_id: o.releaseId ?? `${spec.name}@${asOf}`, released_at: asOf, budget: spec.dp.budget },
          };
        }
        const engine = await openDuckDBWarehouse(loaded, 'export aggregate');
        let result;
        let budget: BudgetStatus | undefined;
        try {
          result = await aggregateWithK(engine, opts);
          if (spec.dp) budget = await budgetStatus(engine, spec.dp.dataset ?? spec.name);
        } finally {
          await engine.close();
        }
        const out = path.resolve(o.out ?? path.join(resolvePath(loaded, loaded.config.output_dir), 'aggregates', `${spec.name}.csv`));
        const { rows, ...report } = result;
        const fullReport = { name: spec.name, as_of: asOf, dry_run: dryRun, file: out, ...report, budget };
        writeFileAtomic(out, csv(rows));
        writeFileAtomic(out.replace(/\.csv$/i, '') + '.report.json', JSON.stringify(fullReport, null, 2) + '\n');
        emit(globals().json ?? false, () => {
          console.log(`wrote ${out}: ${result.published_groups} groups of at least ${result.k} people (of ${result.people})`);
          console.log(`suppressed ${result.suppressed_groups} groups (${result.suppressed_people} people); generalisation: ${Object.entries(result.generalisation_levels).map(([c, l]) => `${c}=${l === result.generalisation_max[c] ? '*' : l}`).join(', ')}`);
          if (result.dp) console.log(`noise: ${result.dp.mechanism}, epsilon ${result.dp.epsilon}${result.dp.delta ? `, delta ${result.dp.delta}` : ''}${dryRun ? ' (DRY RUN: seeded, not private, not charged)' : `; budget spent ${budget?.epsilon_spent} of ${spec!.dp!.budget.epsilon}`}`);
        }, fullReport);
      }),
    );
}
