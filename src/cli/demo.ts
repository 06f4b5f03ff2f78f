// `learnpipe demo`: a self-contained tour. Generates data into DIR/raw, writes DIR/pipeline.yaml and a
// pseudonym key file (if none), and runs the pipeline as of the last generated day.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateDataset } from '../generate/index.js';
import { loadConfig } from '../config/load.js';
import { createKeyFile } from '../privacy/keys.js';
import { runPipeline, type RunSummary } from '../pipeline.js';
import type { IngestProgress } from '../normalize/ingest.js';
import type { Logger } from './progress.js';
import { DEMO_CONFIG, demoModelingConfig } from './demo-config.js';
import { printEvaluation, printIngestSummary, printModelingSummary } from './summary.js';

export interface DemoOptions {
  dir: string;
  users: number;
  days: number;
  seed: number;
  start?: string;
  log: Logger;
  progress?: IngestProgress;
}

export async function runDemo(o: DemoOptions): Promise<{ summary: RunSummary & { ground_truth: unknown; key_file: string }; print: () => void }> {
  const dir = path.resolve(o.dir);
  const start = o.start ?? '2024-01-01';
  mkdirSync(dir, { recursive: true });
  o.log.info('demo.generate', { dir: path.join(dir, 'raw'), users: o.users, days: o.days, seed: o.seed });
  const truth = await generateDataset({ out: path.join(dir, 'raw'), users: o.users, days: o.days, seed: o.seed, start });
  const configFile = path.join(dir, 'pipeline.yaml');
  writeFileSync(configFile, DEMO_CONFIG + demoModelingConfig({ start, days: o.days }));
  const keyFile = path.join(dir, 'keys', 'pseudonym.key');
  let createdKey = false;
  if (!process.env.LEARNPIPE_PSEUDONYM_KEY && !existsSync(keyFile)) {
    createKeyFile(keyFile);
    createdKey = true;
  }
  // The vault key (PII from the HR and LMS exports goes to the encrypted vault, never the warehouse).
  const vaultKeyFile = path.join(dir, 'keys', 'vault.key');
  if (!process.env.LEARNPIPE_VAULT_KEY && !existsSync(vaultKeyFile)) createKeyFile(vaultKeyFile);
  const asOf = new Date(Date.parse(`${start}T00:00:00Z`) + o.days * 86_400_000).toISOString().slice(0, 10);
  const loaded = loadConfig(configFile, { checkFiles: true });
  const summary = await runPipeline(loaded, { asOf, progress: o.progress, log: o.log });
  return {
    summary: { ...summary, ground_truth: truth, key_file: keyFile },
    print: () => {
      console.log(`learnpipe demo in ${dir}`);
      console.log(`  raw data:  ${path.join(dir, 'raw')} (synthetic; ground truth in raw/ground_truth.json)`);
      console.log(`  config:    ${configFile}`);
      console.log(
        createdKey
          ? `  key:       created ${keyFile} (pseudonym key, owner-only; set LEARNPIPE_PSEUDONYM_KEY to use your own)`
          : `  key:       ${process.env.LEARNPIPE_PSEUDONYM_KEY ? 'from LEARNPIPE_PSEUDONYM_KEY' : keyFile}`,
      );
      console.log(`  vault:     ${path.join(dir, 'vault', 'pii.vault')} (names, emails, phone numbers; AES-256-GCM, key ${process.env.LEARNPIPE_VAULT_KEY ? 'from LEARNPIPE_VAULT_KEY' : vaultKeyFile})`);
      console.log('');
      printIngestSummary(summary.ingest, { warehouse: summary.warehouse, outputs: summary.outputs, asOf });
      printModelingSummary(summary.modeling);
      printEvaluation(summary.evaluation);
    },
  };
}
