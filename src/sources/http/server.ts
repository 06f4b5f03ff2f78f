// `learnpipe serve`: an authenticated HTTP endpoint for xAPI statements and Caliper envelopes.
//
// A request is answered only after everything in it is in the write-ahead log on disk (wal.ts); every
// `flushMs` the log's active segment is closed and moved into the landing folder of its source, where the
// next `learnpipe run` (or `ingest`) loads it through the same normalisation as any file. Invalid input is
// answered 400 with the reason and nothing of the request is stored. When the log and the landing folder
// hold more than `maxPendingBytes` not yet loaded, requests get 503 with Retry-After instead of growing
// without bound.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { authenticate, RateLimiter, type Credential } from './auth.js';
import type { WriteAheadLog } from './wal.js';

/** Returns the problems of one document (empty when valid). */
export type Validator = (doc: unknown) => string[];

export interface Stream {
  wal: WriteAheadLog;
  validate: Validator;
}

export interface ServeOptions {
  host: string;
  port: number;
  credentials: Credential[];
  xapi: Stream;
  caliper: Stream;
  maxBodyBytes: number;
  /** Bound on accepted bytes not yet loaded (log + landing folders). */
  maxPendingBytes: number;
  rateLimit: { perSecond: number; burst: number };
  flushMs: number;
  log?: (line: string) => void;
  now?: () => Date;
}

export interface ServeStats {
  accepted_statements: number;
  accepted_envelopes: number;
  requests: number;
  rejected_requests: Record<string, number>;
  pending_bytes: number;
}

const XAPI_VERSION = '1.0.3';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class StatementServer {
  private server: Server;
  private limiter: RateLimiter;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private landingBacklog = 0;
  private closing = false;
  private inFlight = 0;
  readonly stats: ServeStats = { accepted_statements: 0, accepted_envelopes: 0, requests: 0, rejected_requests: {}, pending_bytes: 0 };

  constructor(readonly opts: ServeOptions) {
    this.limiter = new RateLimiter(opts.rateLimit.perSecond, opts.rateLimit.burst);
    this.server = createServer({ keepAliveTimeout: 5000 }, (req, res) => void this.handle(req, res));
  }

  /** Starts listening (port 0 picks a free one) and the periodic flush; returns the address. */
  async listen(): Promise<AddressInfo> {
    // What an earlier process left in the logs goes to landing first.
    await this.flush();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs);
    return this.server.address() as AddressInfo;
  }

  /** Closes each log's active segment and moves closed segments to landing (one flush at a time). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      let backlog = 0;
      for (const s of [this.opts.xapi, this.opts.caliper]) {
        await s.wal.rotate();
        s.wal.moveClosed();
        backlog += landingBytes(s.wal.landingDir);
      }
      this.landingBacklog = backlog;
    });
    return this.flushing.catch((err) => this.opts.log?.(`flush failed: ${(err as Error).message}`));
  }

  pendingBytes(): number {
    return this.landingBacklog + this.opts.xapi.wal.pendingBytes() + this.opts.caliper.wal.pendingBytes();
  }

  /** Graceful stop: refuse new connections, let requests in flight finish, flush the logs to landing. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    this.server.closeAllConnections();
    await closed;
    await this.flush();
    await this.opts.xapi.wal.close();
    await this.opts.caliper.wal.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++;
    this.stats.requests++;
    try {
      if (this.closing) res.setHeader('Connection', 'close');
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/healthz') {
        if (req.method !== 'GET') throw new HttpError(405, 'use GET', { Allow: 'GET' });
        const pending = this.pendingBytes();
        return send(res, 200, { status: this.closing ? 'stopping' : 'ok', pending_bytes: pending, accepted_statements: this.stats.accepted_statements, accepted_envelopes: this.stats.accepted_envelopes });
      }
      const isXapi = url.pathname === '/xAPI/statements' || url.pathname === '/xAPI/statements/';
      const isCaliper = url.pathname === '/caliper' || url.pathname === '/caliper/';
      if (!isXapi && !isCaliper) throw new HttpError(404, `no endpoint ${url.pathname}; POST /xAPI/statements, PUT /xAPI/statements?statementId=…, POST /caliper, GET /healthz`);
      const allowed = isXapi ? ['POST', 'PUT'] : ['POST'];
      if (!allowed.includes(req.method ?? '')) throw new HttpError(405, `use ${allowed.join(' or ')}`, { Allow: allowed.join(', ') });
      const client = authenticate(this.opts.credentials, req.headers.authorization);
      if (!client) throw new HttpError(401, 'missing or wrong credentials (Authorization: Bearer <secret>, or Basic)', { 'WWW-Authenticate': 'Bearer, Basic realm="learnpipe"' });
      if (this.pendingBytes() > this.opts.maxPendingBytes) {
        throw new HttpError(503, 'the log is behind: statements accepted but not yet loaded exceed the bound; retry later', { 'Retry-After': String(Math.max(1, Math.ceil(this.opts.flushMs / 1000))) });
      }
      if (isXapi) {
        const v = req.headers['x-experience-api-version'];
        if (typeof v !== 'string' || !/^1\.0(\.\d+)?$/.test(v.trim())) throw new HttpError(400, 'the X-Experience-API-Version header is missing or not 1.0.x');
      }
      const body = await readJson(req, this.opts.maxBodyBytes);
      if (isXapi) await this.statements(req, res, url, body, client);
      else await this.caliper(res, body, client);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(503, `cannot store: ${(err as Error).message}`, { 'Retry-After': '1' });
      this.stats.rejected_requests[e.status] = (this.stats.rejected_requests[e.status] ?? 0) + 1;
      if (e.status === 413 || e.status === 503) res.setHeader('Connection', 'close');
      send(res, e.status, { error: e.message }, e.headers);
    } finally {
      this.inFlight--;
    }
  }

  private async statements(req: IncomingMessage, res: ServerResponse, url: URL, body: unknown, client: Credential): Promise<void> {
    let docs: unknown[];
    if (req.method === 'PUT') {
      const id = url.searchParams.get('statementId');
      if (!id || !UUID.test(id)) throw new HttpError(400, 'PUT needs a statementId query parameter holding a UUID');
      if (Array.isArray(body) || !isObject(body)) throw new HttpError(400, 'PUT takes one statement (a JSON object)');
      if (body.id !== undefined && String(body.id).toLowerCase() !== id.toLowerCase()) throw new HttpError(400, `the statement's id ${JSON.stringify(body.id)} differs from statementId ${id}`);
      docs = [{ ...body, id: id.toLowerCase() }];
    } else {
      docs = Array.isArray(body) ? body : [body];
      if (!docs.length) throw new HttpError(400, 'an empty array holds no statement');
    }
    const seen = new Set<string>();
    const stored = (this.opts.now?.() ?? new Date()).toISOString();
    const lines: string[] = [];
    const ids: string[] = [];
    docs.forEach((doc, i) => {
      const where = docs.length > 1 ? `statement ${i}: ` : '';
      if (!isObject(doc)) throw new HttpError(400, `${where}a statement is a JSON object`);
      const problems = this.opts.xapi.validate(doc);
      if (problems.length) throw new HttpError(400, `${where}invalid statement: ${problems.join('; ')}`);
      const id = doc.id === undefined ? randomUUID() : String(doc.id).toLowerCase();
      if (seen.has(id)) throw new HttpError(400, `${where}the id ${id} appears twice in one request`);
      seen.add(id);
      // The LRS's part of a statement (xAPI 1.0.3 §2.4.8–2.4.9): its id, when it was stored, and who
      // vouched for it (the client's name, never its secret).
      const out: Record<string, unknown> = { ...doc, id, stored };
      if (out.timestamp === undefined) out.timestamp = stored;
      if (out.authority === undefined) out.authority = { objectType: 'Agent', account: { homePage: 'urn:learnpipe:serve', name: client.name } };
      lines.push(JSON.stringify(out));
      ids.push(id);
    });
    this.admit(client, lines.length);
    await this.opts.xapi.wal.append(lines);
    this.stats.accepted_statements += lines.length;
    if (req.method === 'PUT') {
      res.writeHead(204, { 'X-Experience-API-Version': XAPI_VERSION });
      res.end();
    } else send(res, 200, ids, { 'X-Experience-API-Version': XAPI_VERSION });
  }

  private async caliper(res: ServerResponse, body: unknown, client: Credential): Promise<void> {
    if (!isObject(body)) throw new HttpError(400, 'a Caliper envelope is a JSON object with sensor, sendTime, dataVersion and data');
    const problems = this.opts.caliper.validate(body);
    if (problems.length) throw new HttpError(400, `invalid envelope: ${problems.join('; ')}`);
    const events = Array.isArray(body.data) ? body.data.length : 1;
    this.admit(client, events);
    await this.opts.caliper.wal.append([JSON.stringify(body)]);
    this.stats.accepted_envelopes += 1;
    send(res, 200, { accepted: events });
  }

  private admit(client: Credential, n: number): void {
    const wait = this.limiter.take(client.name, n);
    if (wait > 0) throw new HttpError(429, `rate limit of ${this.opts.rateLimit.perSecond} statements/s for ${client.name} reached`, { 'Retry-After': String(wait) });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    req.resume();
    throw new HttpError(413, `the body (${declared} bytes) is over the limit of ${limit} bytes; send fewer statements per request`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `the body is over the limit of ${limit} bytes; send fewer statements per request`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Bytes of files waiting directly in a landing folder (loaded files are moved to its `loaded/`). */
function landingBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) if (f.endsWith('.jsonl')) n += statSync(path.join(dir, f)).size;
  return n;
}
