// `learnpipe serve`: authentication, limits, validation, the write-ahead log, and real kills under load.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { addClient, readCredentials, StatementServer, WriteAheadLog } from '../src/sources/http/index.js';
import { caliperEnvelopeProblems, xapiStatementProblems } from '../src/sources/http/validators.js';
import { tmpDir } from './helpers/tmp.js';
import { openProject } from './helpers/ingest-fixture.js';

const ROOT = path.resolve(import.meta.dirname, '..');

function statement(id?: string, n = 0): Record<string, unknown> {
  return {
    ...(id ? { id } : {}),
    actor: { objectType: 'Agent', mbox: `mailto:learner${n % 50}@example.org` },
    verb: { id: 'http://adlnet.gov/expapi/verbs/completed', display: { 'en-US': 'completed' } },
    object: { objectType: 'Activity', id: `https://lms.example.org/course/1/module/${n % 7}` },
    timestamp: '2024-03-04T10:00:00Z',
  };
}

/** Every statement id in the landing files and the log segments, with how often it occurs. */
function storedIds(dirs: string[]): Map<string, number> {
  const ids = new Map<string, number>();
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d).filter((x) => x.endsWith('.jsonl'))) {
      for (const line of readFileSync(path.join(d, f), 'utf8').split('\n')) {
        if (!line) continue;
        const id = JSON.parse(line).id as string;
        ids.set(id, (ids.get(id) ?? 0) + 1);
      }
    }
  }
  return ids;
}

describe('serve in-process', () => {
  const dir = tmpDir('learnpipe-serve-');
  let server: StatementServer;
  let base = '';
  let secret = '';
  let basicSecret = '';
  const headers = () => ({ authorization: `Bearer ${secret}`, 'x-experience-api-version': '1.0.3', 'content-type': 'application/json' });

  before(async () => {
    secret = addClient(path.join(dir, 'clients'), 'lms', 'bearer');
    basicSecret = addClient(path.join(dir, 'clients'), 'lrs-forwarder', 'basic');
    server = new StatementServer({
      host: '127.0.0.1',
      port: 0,
      credentials: readCredentials(path.join(dir, 'clients')),
      xapi: { wal: await WriteAheadLog.open(path.join(dir, 'wal/xapi'), path.join(dir, 'landing/xapi')), validate: xapiStatementProblems },
      caliper: { wal: await WriteAheadLog.open(path.join(dir, 'wal/caliper'), path.join(dir, 'landing/caliper')), validate: caliperEnvelopeProblems },
      maxBodyBytes: 64 * 1024,
      maxPendingBytes: 1 << 30,
      rateLimit: { perSecond: 1000, burst: 200 },
      flushMs: 60_000,
    });
    const a = await server.listen();
    base = `http://127.0.0.1:${a.port}`;
  });
  after(() => server.close());

  test('the credentials file holds salted hashes only, owner-readable', () => {
    const text = readFileSync(path.join(dir, 'clients'), 'utf8');
    assert.ok(!text.includes(secret) && !text.includes(basicSecret));
    assert.equal(statSync(path.join(dir, 'clients')).mode & 0o077, 0);
  });

  test('no or wrong credentials: 401, nothing stored', async () => {
    for (const auth of [undefined, 'Bearer nope', `Basic ${Buffer.from('lms:' + secret).toString('base64')}`, `Bearer ${basicSecret}`]) {
      const r = await fetch(`${base}/xAPI/statements`, { method: 'POST', headers: { ...headers(), authorization: auth ?? '' }, body: JSON.stringify(statement()) });
      assert.equal(r.status, 401, String(auth));
    }
    assert.equal(server.stats.accepted_statements, 0);
  });

  test('POST one or many: 200 with the ids (assigned when absent); Basic works too; stored with stored/authority', async () => {
    const id = randomUUID();
    const r1 = await fetch(`${base}/xAPI/statements`, { method: 'POST', headers: headers(), body: JSON.stringify([statement(id, 1), statement(undefined, 2)]) });
    assert.equal(r1.status, 200);
    assert.equal(r1.headers.get('x-experience-api-version'), '1.0.3');
    const ids = (await r1.json()) as string[];
    assert.equal(ids.length, 2);
    assert.equal(ids[0], id);
    assert.match(ids[1], /^[0-9a-f-]{36}$/);
    const r2 = await fetch(`${base}/xAPI/statements`, { method: 'POST', headers: { ...headers(), authorization: `Basic ${Buffer.from('lrs-forwarder:' + basicSecret).toString('base64')}` }, body: JSON.stringify(statement(undefined, 3)) });
    assert.equal(r2.status, 200);
    // Acknowledged means on disk: the active segment already holds them.
    const seg = readdirSync(path.join(dir, 'wal/xapi')).map((f) => readFileSync(path.join(dir, 'wal/xapi', f), 'utf8')).join('');
    const lines = seg.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.slice(0, 2).map((s) => s.id), ids);
    assert.ok(lines.every((s) => typeof s.stored === 'string'));
    assert.equal(lines[2].authority.account.name, 'lrs-forwarder');
  });

  test('PUT with statementId: 204; a different id in the body: 400', async () => {
    const id = randomUUID();
    const ok = await fetch(`${base}/xAPI/statements?statementId=${id}`, { method: 'PUT', headers: headers(), body: JSON.stringify(statement()) });
    assert.equal(ok.status, 204);
    const bad = await fetch(`${base}/xAPI/statements?statementId=${id}`, { method: 'PUT', headers: headers(), body: JSON.stringify(statement(randomUUID())) });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /differs from statementId/);
  });

  test('invalid JSON, an invalid statement in an array, a repeated id, no version header: 400 with the reason, nothing stored', async () => {
    const before = server.stats.accepted_statements;
    const cases: Array<[string, RequestInit, RegExp]> = [
      ['bad json', { body: '{"actor": ' }, /not valid JSON/],
      ['bad statement', { body: JSON.stringify([statement(), { verb: { id: 'x' } }]) }, /statement 1: invalid statement: .*actor/],
      ['repeated id', { body: JSON.stringify([statement('0b4c43e6-0d52-4b22-9e29-5f0c1b9e7e01'), statement('0b4c43e6-0d52-4b22-9e29-5f0c1b9e7e01')]) }, /appears twice/],
      ['no version', { body: JSON.stringify(statement()), headers: { authorization: `Bearer ${secret}` } }, /X-Experience-API-Version/],
    ];
    for (const [name, init, why] of cases) {
      const r = await fetch(`${base}/xAPI/statements`, { method: 'POST', headers: headers(), ...init });
      assert.equal(r.status, 400, name);
      assert.match(((await r.json()) as { error: string }).error, why, name);
    }
    assert.equal(server.stats.accepted_statements, before);
  });

  test('a body over the limit: 413', async () => {
    const big = JSON.stringify(Array.from({ length: 400 }, (_, i) => statement(undefined, i)));
    assert.ok(big.length > 64 * 1024);
    const r = await fetch(`${base}/xAPI/statements`, { method: 'POST', headers: headers(), body: big });
    assert.equal(r.status, 413);
  });

  test('per-client rate limit: 429 with Retry-After', async () => {
    let limited: Response | null = null;
    for (let i = 0; i < 10 && !limited; i++) {
      const r = await fetch(`${base}/xAPI/statements`, { method: 'POST', headers: headers(), body: JSON.stringify(Array.from({ length: 100 }, (_, j) => statement(undefined, j))) });
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 200);
    }
    assert.ok(limited, 'the limit was never reached');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  });

  test('Caliper envelopes: 200; an envelope without data or with an invalid event: 400', async () => {
    const env = { sensor: 'https://lms.example.org/sensor', sendTime: '2024-03-04T10:00:00.000Z', dataVersion: 'http://purl.imsglobal.org/ctx/caliper/v1p2', data: [{ '@context': 'http://purl.imsglobal.org/ctx/caliper/v1p2', id: 'urn:uuid:' + randomUUID(), type: 'NavigationEvent', actor: { id: 'https://lms.example.org/users/554433', type: 'Person' }, action: 'NavigatedTo', object: { id: 'https://lms.example.org/courses/1/pages/2', type: 'WebPage' }, eventTime: '2024-03-04T10:00:00.000Z' }] };
    const ok = await fetch(`${base}/caliper`, { method: 'POST', headers: headers(), body: JSON.stringify(env) });
    assert.equal(ok.status, 200);
    const bad = await fetch(`${base}/caliper`, { method: 'POST', headers: headers(), body: JSON.stringify({ ...env, data: [] }) });
    assert.equal(bad.status, 400);
    const { actor: _actor, ...noActor } = env.data[0];
    const invalid = await fetch(`${base}/caliper`, { method: 'POST', headers: headers(), body: JSON.stringify({ ...env, data: [noActor] }) });
    assert.equal(invalid.status, 400);
    assert.match(((await invalid.json()) as { error: string }).error, /data\[0\]\.actor: missing actor/);
  });

  test('health, unknown paths and methods', async () => {
    const h = await fetch(`${base}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(((await h.json()) as { status: string }).status, 'ok');
    assert.equal((await fetch(`${base}/nope`, { headers: headers() })).status, 404);
    assert.equal((await fetch(`${base}/xAPI/statements`, { headers: headers() })).status, 405);
  });

  test('flush moves the log into landing unchanged; nothing is lost or doubled', async () => {
    const inWal = storedIds([path.join(dir, 'wal/xapi')]);
    await server.flush();
    const landed = storedIds([path.join(dir, 'landing/xapi')]);
    assert.deepEqual([...landed.entries()].sort(), [...inWal.entries()].sort());
    assert.ok([...landed.values()].every((n) => n === 1));
    assert.equal(storedIds([path.join(dir, 'wal/xapi')]).size, 0);
  });
});

test('backpressure: over the pending bound, 503 with Retry-After', async () => {
  const dir = tmpDir('learnpipe-serve-bp-');
  const secret = addClient(path.join(dir, 'clients'), 'lms', 'bearer');
  const server = new StatementServer({
    host: '127.0.0.1',
    port: 0,
    credentials: readCredentials(path.join(dir, 'clients')),
    xapi: { wal: await WriteAheadLog.open(path.join(dir, 'wal/x'), path.join(dir, 'land/x')), validate: xapiStatementProblems },
    caliper: { wal: await WriteAheadLog.open(path.join(dir, 'wal/c'), path.join(dir, 'land/c')), validate: caliperEnvelopeProblems },
    maxBodyBytes: 1 << 20,
    maxPendingBytes: 2000,
    rateLimit: { perSecond: 1e6, burst: 1e6 },
    flushMs: 60_000,
  });
  const { port } = await server.listen();
  try {
    const post = () => fetch(`http://127.0.0.1:${port}/xAPI/statements`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'x-experience-api-version': '1.0.3' }, body: JSON.stringify(Array.from({ length: 10 }, (_, i) => statement(undefined, i))) });
    assert.equal((await post()).status, 200);
    const r = await post();
    assert.equal(r.status, 503);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    // Loading the landing files (moving them out of the landing folder) frees the bound again.
    await server.flush();
    for (const f of readdirSync(path.join(dir, 'land/x'))) writeFileSync(path.join(dir, 'land/x', f), '');
    await server.flush();
    assert.equal((await post()).status, 200);
  } finally {
    await server.close();
  }
});

test('the log cuts a torn last line (never acknowledged) and numbers segments past what landed', async () => {
  const dir = tmpDir('learnpipe-wal-');
  const wal = await WriteAheadLog.open(path.join(dir, 'wal'), path.join(dir, 'landing'));
  await wal.append(['{"id":"a"}', '{"id":"b"}']);
  await wal.close();
  const seg = path.join(dir, 'wal', readdirSync(path.join(dir, 'wal'))[0]);
  appendFileSync(seg, '{"id":"c","actor":{');
  const again = await WriteAheadLog.open(path.join(dir, 'wal'), path.join(dir, 'landing'));
  assert.equal(again.recovery.segments, 1);
  assert.equal(again.recovery.tornBytes, '{"id":"c","actor":{'.length);
  assert.equal(readFileSync(seg, 'utf8'), '{"id":"a"}\n{"id":"b"}\n');
  const moved = again.moveClosed();
  assert.deepEqual(moved.map((m) => path.basename(m)), ['seg-000001.jsonl']);
  await again.append(['{"id":"d"}']);
  await again.rotate();
  assert.deepEqual(again.moveClosed().map((m) => path.basename(m)), ['seg-000002.jsonl']);
  await again.close();
});

// ---- real processes: SIGKILL under load loses no acknowledged statement and doubles none; SIGTERM drains.

function startServe(dir: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), 'serve', '-c', path.join(dir, 'pipeline.yaml'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => reject(new Error(`serve exited ${code} before listening: ${err}`)));
  });
}

function project(): { dir: string; secret: string } {
  const dir = tmpDir('learnpipe-serve-kill-');
  writeFileSync(
    path.join(dir, 'pipeline.yaml'),
    `warehouse: wh.duckdb
serve:
  credentials: clients
  flush_seconds: 0.05
connectors:
  - { name: lrs_stream, kind: xapi, path: incoming/xapi/*.jsonl, after_load: move }
  - { name: caliper_stream, kind: caliper, path: incoming/caliper/*.jsonl, after_load: move }
`,
  );
  return { dir, secret: addClient(path.join(dir, 'clients'), 'lms', 'bearer') };
}

/** Loads what serve accepted (the next `learnpipe run` does the same) and counts each statement id in events. */
async function warehouseIds(dir: string): Promise<Map<string, number>> {
  const { engine, run } = await openProject(dir);
  try {
    await run('2030-01-01');
    const rows = await engine.all<{ id: string; n: number }>(`SELECT substr(event_id, length('lrs_stream:') + 1) AS id, count(*) AS n FROM events GROUP BY 1`);
    return new Map(rows.map((r) => [r.id, Number(r.n)]));
  } finally {
    await engine.close();
  }
}

test('SIGKILL under load: every acknowledged statement is stored exactly once', { timeout: 120_000 }, async () => {
  const { dir, secret } = project();
  const acked = new Set<string>();
  let n = 0;
  for (let round = 0; round < 4; round++) {
    const { child, port } = await startServe(dir);
    const exited = new Promise((r) => child.once('exit', r));
    let stop = false;
    // Eight clients posting batches of 1–5 statements with their own ids, as fast as they can.
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const batch = Array.from({ length: 1 + (n % 5) }, () => statement(randomUUID(), n++));
        try {
          const r = await fetch(`http://127.0.0.1:${port}/xAPI/statements`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'x-experience-api-version': '1.0.3' }, body: JSON.stringify(batch) });
          if (r.status === 200) for (const id of (await r.json()) as string[]) acked.add(id);
        } catch {
          // the connection died with the server: not acknowledged
        }
      }
    });
    await new Promise((r) => setTimeout(r, 300 + 200 * round));
    child.kill('SIGKILL');
    await exited;
    stop = true;
    await Promise.all(clients);
  }
  // A last start recovers the log and moves it to landing; then stop it cleanly.
  const { child } = await startServe(dir);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<string>((r) => child.once('exit', (code, signal) => r(`${code} ${signal}`)));
  child.kill('SIGTERM');
  assert.equal(await exited, '0 null', stderr);
  const stored = storedIds([path.join(dir, 'incoming/xapi'), path.join(dir, 'wal/xapi')]);
  assert.ok(acked.size > 200, `only ${acked.size} statements were acknowledged`);
  const missing = [...acked].filter((id) => !stored.has(id));
  assert.deepEqual(missing, [], 'acknowledged but not stored');
  assert.deepEqual([...stored.entries()].filter(([, c]) => c > 1), [], 'stored twice');
  // And in the warehouse after the next load: every acknowledged statement, once.
  const inWarehouse = await warehouseIds(dir);
  assert.deepEqual([...acked].filter((id) => inWarehouse.get(id) !== 1), [], 'acknowledged but not exactly once in events');
  assert.deepEqual(readdirSync(path.join(dir, 'incoming/xapi')).filter((f) => f.endsWith('.jsonl')), [], 'loaded files moved out of the incoming folder');
  // Loading again adds nothing.
  assert.deepEqual([...(await warehouseIds(dir)).entries()].sort(), [...inWarehouse.entries()].sort());
});

test('SIGTERM finishes requests in flight and flushes the log', { timeout: 60_000 }, async () => {
  const { dir, secret } = project();
  const { child, port } = await startServe(dir);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const posts = Array.from({ length: 20 }, (_, i) =>
    fetch(`http://127.0.0.1:${port}/xAPI/statements`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'x-experience-api-version': '1.0.3' }, body: JSON.stringify([statement(randomUUID(), i)]) }).then(async (r) => (r.status === 200 ? ((await r.json()) as string[]) : [])),
  );
  await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGTERM');
  const ids = (await Promise.allSettled(posts)).flatMap((p) => (p.status === 'fulfilled' ? p.value : []));
  assert.equal(await exited, 0);
  assert.ok(ids.length > 0);
  const landed = storedIds([path.join(dir, 'incoming/xapi')]);
  for (const id of ids) assert.equal(landed.get(id), 1);
  assert.equal(storedIds([path.join(dir, 'wal/xapi')]).size, 0);
});

test('a Caliper envelope posted to serve reaches the events table through the Caliper connector', { timeout: 60_000 }, async () => {
  const { dir, secret } = project();
  const { child, port } = await startServe(dir);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const event = (i: number) => ({
    '@context': 'http://purl.imsglobal.org/ctx/caliper/v1p2',
    id: `urn:uuid:${randomUUID()}`,
    type: 'NavigationEvent',
    actor: { id: `https://lms.example.org/users/${1000 + i}`, type: 'Person' },
    action: 'NavigatedTo',
    object: { id: `https://lms.example.org/courses/7/pages/${i}`, type: 'WebPage' },
    eventTime: `2024-03-04T10:0${i}:00.000Z`,
  });
  const envelope = { sensor: 'https://lms.example.org/sensor', sendTime: '2024-03-04T10:10:00.000Z', dataVersion: 'http://purl.imsglobal.org/ctx/caliper/v1p2', data: [event(1), event(2), event(3)] };
  const r = await fetch(`http://127.0.0.1:${port}/caliper`, { method: 'POST', headers: { authorization: `Bearer ${secret}` }, body: JSON.stringify(envelope) });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { accepted: 3 });
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const { engine, run } = await openProject(dir);
  try {
    const s = await run('2030-01-01');
    assert.equal(s.totals.rejected, 0);
    const rows = await engine.all<{ event_id: string; event_type: string }>(`SELECT event_id, event_type FROM events WHERE source = 'caliper_stream' ORDER BY event_id`);
    assert.deepEqual(rows.map((x) => x.event_id).sort(), envelope.data.map((e) => `caliper_stream:${e.id.replace(/^urn:uuid:/, '')}`).sort()); // ids keep the uuid, without the urn prefix
    assert.ok(rows.every((x) => x.event_type === 'view'));
  } finally {
    await engine.close();
  }
});
