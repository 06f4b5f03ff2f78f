// A real ClickHouse server for the server-mode tests: ClickHouse 26.7 from chdb's libchdb.so, run as
// clickhouse-local serving its HTTP interface (scripts/clickhouse-server.py), on a free port of
// 127.0.0.1 with a temp data folder. One per test file (start it in before(), stop it in after()).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClickHouseEngine } from '../../src/engine/clickhouse.js';
import { ensureWarehouse } from '../../src/schema/warehouse.js';
import { after } from 'node:test';
import { chdbMissing, chdbWarehouse } from './engines.js';

const SCRIPT = path.resolve(import.meta.dirname, '../../scripts/clickhouse-server.py');

// chdb's per-platform packages holding libchdb (as chdb's own loader picks them).
const PLATFORM_PACKAGES: Record<string, string> = {
  'linux-x64': '@chdb/lib-linux-x64-gnu',
  'linux-arm64': '@chdb/lib-linux-arm64-gnu',
  'darwin-arm64': '@chdb/lib-darwin-arm64',
  'darwin-x64': '@chdb/lib-darwin-x64',
};

/** libchdb through node's module resolution (chdb, then its platform package from chdb's folder), or why not. */
function findLibchdb(): { lib: string } | { missing: string } {
  let chdbMain: string;
  try {
    chdbMain = createRequire(import.meta.url).resolve('chdb');
  } catch {
    return { missing: 'chdb is not installed (npm run chdb): ClickHouse server tests skipped (the local server runs from chdb\'s libchdb.so)' };
  }
  const pkg = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (!pkg) return { missing: `chdb ships no libchdb for ${process.platform}-${process.arch}: ClickHouse server tests skipped` };
  let dir: string;
  try {
    dir = path.dirname(createRequire(chdbMain).resolve(`${pkg}/package.json`));
  } catch {
    return { missing: `${pkg} (chdb's native library) is not installed: ClickHouse server tests skipped` };
  }
  const lib = ['libchdb.so', 'libchdb.dylib'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  return lib ? { lib } : { missing: `no libchdb in ${dir}: ClickHouse server tests skipped` };
}

const found = findLibchdb();

/** Why the server tests skip here (chdb or python3 missing), or null when a local server can start. */
export const clickhouseServerMissing: string | null = (() => {
  if ('missing' in found) return found.missing;
  const py = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  if (py.error || py.status !== 0) return 'python3 is not available (it runs scripts/clickhouse-server.py): ClickHouse server tests skipped';
  return null;
})();

export interface LocalClickHouse {
  /** http://127.0.0.1:PORT */
  url: string;
  dataDir: string;
  /** Stops the server (SIGTERM) and removes its data folder. */
  stop(): Promise<void>;
}

/**
 * Starts a local ClickHouse server and resolves once GET /ping answers. With `user`, that user is
 * created too, with `password` (user `default` has none).
 */
export async function startClickHouseServer(opts: { user?: string; password?: string; timeoutMs?: number } = {}): Promise<LocalClickHouse> {
  if (clickhouseServerMissing || 'missing' in found) throw new Error(clickhouseServerMissing ?? 'no libchdb');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'learnpipe-chserver-'));
  const args = [SCRIPT, '--port', '0', '--data', dataDir, '--lib', found.lib, '--exit-with-parent'];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.user) {
    args.push('--user', opts.user, '--password-env', 'LEARNPIPE_TEST_CH_PASSWORD');
    env.LEARNPIPE_TEST_CH_PASSWORD = opts.password ?? '';
  }
  const child = spawn('python3', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the local ClickHouse server did not answer within ${(opts.timeoutMs ?? 60_000) / 1000} s\n${stderr}`)), opts.timeoutMs ?? 60_000);
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /^ready (http:\/\/\S+)$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the local ClickHouse server exited (code ${code}) before answering\n${stderr}`));
      });
    });
    // (The script has seen /ping answer; checked here too, from this process.)
    const ping = await fetch(`${url}/ping`);
    if (!ping.ok) throw new Error(`GET ${url}/ping: ${ping.status}`);
    return { url, dataDir, stop: () => stopServer(child, exited, dataDir) };
  } catch (err) {
    await stopServer(child, exited, dataDir);
    throw err;
  }
}

async function stopServer(child: ChildProcess, exited: Promise<number | null>, dataDir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await exited;
  rmSync(dataDir, { recursive: true, force: true });
}

let databases = 0;

/**
 * A fresh database on the server (tests sharing one server keep apart this way) holding the learnpipe
 * warehouse schema, and an engine in server mode on it.
 */
export async function serverWarehouse(server: LocalClickHouse, opts: { username?: string; password?: string } = {}): Promise<ClickHouseEngine> {
  const database = `t${process.pid}_${++databases}`;
  await serverQuery(server, `CREATE DATABASE ${database}`);
  const engine = await ClickHouseEngine.open({ mode: 'server', url: server.url, database, ...opts });
  await ensureWarehouse(engine);
  return engine;
}

/** One statement through the HTTP interface as user default (outside learnpipe's engine). */
export async function serverQuery(server: LocalClickHouse, sql: string): Promise<string> {
  const r = await fetch(server.url, { method: 'POST', body: sql });
  const text = await r.text();
  if (!r.ok) throw new Error(`${sql}: ${text}`);
  return text;
}

/**
 * A server for this test file, started on first use and stopped when the file ends (call at the top
 * level of the file).
 */
export function serverPerFile(opts: { user?: string; password?: string } = {}): () => Promise<LocalClickHouse> {
  let started: Promise<LocalClickHouse> | undefined;
  after(async () => {
    if (started) await (await started.catch(() => undefined))?.stop();
  });
  return () => (started ??= startClickHouseServer(opts));
}

export interface ClickHouseTarget {
  /** chdb: in-process; server: a local ClickHouse server over HTTP. */
  mode: 'chdb' | 'server';
  skip: string | false;
  /** A fresh, empty learnpipe warehouse on that target. */
  open(): Promise<ClickHouseEngine>;
}

/** The two ways of reaching ClickHouse, for stage tests that run on each (one server per test file). */
export function clickhouseTargets(): ClickHouseTarget[] {
  const server = serverPerFile();
  return [
    { mode: 'chdb', skip: chdbMissing ?? false, open: chdbWarehouse },
    { mode: 'server', skip: clickhouseServerMissing ?? false, open: async () => serverWarehouse(await server()) },
  ];
}
