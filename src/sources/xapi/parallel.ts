// Parallel parsing of big JSON-lines statement files. JSON.parse, validation and flattening cost far more
// than loading the landed rows, and they run one statement at a time in JS: for a big file they are
// spread over worker threads. The main thread cuts the file into chunks of whole lines (bytes, never
// decoded here), hands them out in turn and takes the results back in order, so rows, rejects and their
// file:line locations come out exactly as from the in-thread path (read.ts → items.ts), which the workers
// share. While the engine loads one part of the file, the workers already parse the next.
import { createReadStream } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { XapiFlattenOptions } from './flatten.js';

export interface ChunkRequest {
  id: number;
  bytes: Uint8Array;
  /** The chunk starts the file (its first line may carry a byte-order mark). */
  first: boolean;
}

/** Per item (non-blank line) of a chunk, in order: its kind, its line in the chunk; the rows' CSV lines, voids' targets and rejects in order. */
export interface ChunkResult {
  id: number;
  /** Physical lines in the chunk (blank ones included): where the next chunk's numbering starts. */
  lines: number;
  /** 0 a row, 1 a row that is also an assessment, 2 a voiding statement, 3 a reject. */
  kinds: Uint8Array;
  rel: Int32Array;
  /** The rows' landing CSV lines, each ending with a line break, as UTF-8; `ends[k]`: the byte after row k's line. */
  csv: Uint8Array;
  ends: Int32Array;
  voids: string[];
  rejects: Array<[reason: string, field: string | null, detail: string, raw: string]>;
  /** The request's bytes, handed back to be read into again (see ParsePool.buffer). */
  input?: Uint8Array;
}

/** A parsed chunk as the loader takes it: its items are lines `base + rel[i]` of the file named `relPath`. */
export interface RowBlock {
  relPath: string;
  base: number;
  r: ChunkResult;
  /** Parse workers at work on the file (busy on the chunks after this one while the engine loads). */
  workers: number;
}

/** Bytes per chunk: large enough that messaging costs nothing, small enough to keep every worker busy. */
let CHUNK_BYTES = 1 << 20;
/** Chunks being parsed at once, per worker: enough to keep each busy, few since each holds its input bytes. */
const PARSING_PER_WORKER = 2;
/**
 * Chunks parsed (or being parsed) and not yet taken by the loader: how far the workers run ahead while
 * the engine loads a part. The bytes of a chunk are freed once parsed and its rows come back as one
 * compact block of CSV bytes (about a quarter of the input), so this bounds memory by results, not
 * input: 256 chunks (about 220,000 statements of the benchmark file, some 60 MB) let the workers go on
 * parsing while the engine loads a part (on the cores they leave it: load.ts), instead of waiting for
 * it. With 128, the workers stopped for lack of room before the part was loaded, leaving a core idle.
 */
const AHEAD = 256;

/** Files at least this big (on disk) are parsed by workers; smaller ones are not worth starting them. */
let PARALLEL_MIN_BYTES = 8 << 20;
/** Tests send small files through the workers; returns the previous threshold. */
export function setParallelMinBytes(n: number): number {
  const before = PARALLEL_MIN_BYTES;
  PARALLEL_MIN_BYTES = n;
  return before;
}

/** Tests cut small files into many chunks; returns the previous size. */
export function setChunkBytes(n: number): number {
  const before = CHUNK_BYTES;
  CHUNK_BYTES = n;
  return before;
}

/** How many parse workers to start: one per core (at most 4); LEARNPIPE_PARSE_WORKERS=0 parses in-thread. */
export function parseWorkers(size: number): number {
  const env = process.env.LEARNPIPE_PARSE_WORKERS;
  if (env !== undefined && env !== '') return Math.max(0, Math.floor(Number(env)) || 0);
  return size >= PARALLEL_MIN_BYTES ? Math.max(1, Math.min(4, availableParallelism())) : 0;
}

/**
 * A worker allocates a parsed statement per line, all short-lived: a large young generation makes its
 * collections rare (garbage collection per 100k statements, measured: 1.4 s with 24 MB, 0.4 s with 48 MB;
 * 32 MB keeps most of that gain for less memory per worker).
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 32 };

function spawn(o: XapiFlattenOptions): Worker {
  const here = import.meta.url;
  const options = { workerData: { o }, resourceLimits: RESOURCE_LIMITS };
  // Run from TypeScript sources (tsx), the worker registers tsx's in-thread (CommonJS) loader first: the
  // ESM one would start a loader thread of its own in every worker.
  if (here.endsWith('.ts')) {
    const entry = fileURLToPath(new URL('./parse-worker.ts', here));
    const api = createRequire(here).resolve('tsx/cjs/api');
    return new Worker(`require(${JSON.stringify(api)}).register(); require(${JSON.stringify(entry)});`, { ...options, eval: true });
  }
  return new Worker(new URL('./parse-worker.js', here), options);
}

/** Chunks parsed by workers since the process started (tests check the workers did the work). */
export const parsedChunks = { count: 0 };

/** Parse workers for one connector run. */
export class ParsePool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, { resolve: (r: ChunkResult) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failed: Error | null = null;
  /** Buffers the workers handed back: the file is read into them again (see buffer). */
  private readonly spare: ArrayBuffer[] = [];
  private closing = false;

  constructor(o: XapiFlattenOptions, size: number) {
    this.workers = Array.from({ length: size }, () => {
      const w = spawn(o);
      w.on('message', (r: ChunkResult) => {
        if (r.input) {
          if (this.spare.length < SPARE_BUFFERS) this.spare.push(r.input.buffer as ArrayBuffer);
          delete r.input;
        }
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        p?.resolve(r);
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (code !== 0 && !this.closing) this.fail(new Error(`xAPI parse worker exited with code ${code}`));
      });
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * A buffer of at least `bytes` to read a chunk into: one a worker handed back when one is big enough.
   * Reading a big file into fresh buffers allocated (and the kernel zeroed) all of its bytes again, and
   * in each thread the buffers it received and freed counted as external memory, which set off full
   * garbage collections over and over.
   */
  buffer(bytes: number): Uint8Array {
    const i = this.spare.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return new Uint8Array(this.spare.splice(i, 1)[0]);
    return new Uint8Array(Buffer.allocUnsafeSlow(Math.max(bytes, CHUNK_BYTES + SLACK_BYTES)).buffer);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Parses one chunk (its bytes are handed over, not copied). Chunks go to the workers in turn. */
  run(bytes: Uint8Array, first: boolean): Promise<ChunkResult> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    parsedChunks.count++;
    const p = new Promise<ChunkResult>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const req: ChunkRequest = { id, bytes, first };
    this.workers[id % this.workers.length].postMessage(req, [bytes.buffer as ArrayBuffer]);
    return p;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Buffers kept for reading into again: enough for the chunks being parsed at once and a few more. */
const SPARE_BUFFERS = 8;
/** Room in a read buffer past CHUNK_BYTES, for the end of the line the chunk stops in. */
const SLACK_BYTES = 64 << 10;

function open(file: string): Readable {
  const s = createReadStream(file, { highWaterMark: 4 << 20 });
  return file.endsWith('.gz') ? s.pipe(createGunzip({ chunkSize: 1 << 20 })) : s;
}

/**
 * A file's bytes in chunks of about CHUNK_BYTES that end at a line break (the last one may not), each in
 * its own buffer (from `buffer`). A plain file is read straight into the chunks' buffers; a gzipped one
 * is decompressed by a stream and its pieces copied into them.
 */
async function* lineChunks(file: string, buffer: (bytes: number) => Uint8Array): AsyncGenerator<Uint8Array> {
  if (file.endsWith('.gz')) {
    yield* streamLineChunks(file, buffer);
    return;
  }
  const fh = await openFile(file, 'r');
  try {
    /** The start of a line the previous chunk did not end (copied: that chunk's buffer is handed over). */
    let carry = new Uint8Array(0);
    for (let eof = false; !eof; ) {
      let buf = buffer(carry.length + CHUNK_BYTES);
      buf.set(carry);
      let n = carry.length;
      // The chunk ends after the first line break at or after byte CHUNK_BYTES - 1, read for as long as
      // none is held (a line longer than the buffer grows it).
      let end = -1;
      for (let searched = 0; ; ) {
        const from = Math.max(searched, CHUNK_BYTES - 1);
        // (the buffer past n holds old bytes: only a line break before n counts)
        const nl = n > from ? buf.indexOf(10, from) : -1;
        if (nl >= 0 && nl < n) {
          end = nl + 1;
          break;
        }
        searched = n;
        if (n === buf.length) {
          const bigger = buffer(buf.length * 2);
          bigger.set(buf.subarray(0, n));
          buf = bigger;
        }
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0) {
          eof = true;
          end = n;
          break;
        }
        n += bytesRead;
      }
      carry = buf.slice(end, n);
      if (end > 0) yield buf.subarray(0, end);
    }
  } finally {
    await fh.close();
  }
}

/** lineChunks for a stream (a gzipped file): its pieces gathered, then copied into a chunk's buffer. */
async function* streamLineChunks(file: string, buffer: (bytes: number) => Uint8Array): AsyncGenerator<Uint8Array> {
  let parts: Buffer[] = [];
  let size = 0;
  /** Copies the first `bytes` bytes read (once, into a buffer of their own, handed over to a worker). */
  const take = (bytes: number): Uint8Array => {
    const out = buffer(bytes).subarray(0, bytes);
    let at = 0;
    const rest: Buffer[] = [];
    for (const p of parts) {
      const n = Math.min(p.length, bytes - at);
      if (n > 0) out.set(p.subarray(0, n), at);
      at += n;
      if (n < p.length) rest.push(p.subarray(n));
    }
    parts = rest;
    size -= bytes;
    return out;
  };
  /** The end (after the line break) of the first line ending at or after byte `from` of what is held; -1 if none yet. */
  const lineEnd = (from: number): number => {
    let offset = 0;
    for (const p of parts) {
      if (from < offset + p.length) {
        const nl = p.indexOf(10, Math.max(0, from - offset));
        if (nl >= 0) return offset + nl + 1;
      }
      offset += p.length;
    }
    return -1;
  };
  for await (const c of open(file)) {
    parts.push(c as Buffer);
    size += (c as Buffer).length;
    // A line longer than everything held waits for more bytes.
    for (let end; size >= CHUNK_BYTES && (end = lineEnd(CHUNK_BYTES - 1)) > 0; ) yield take(end);
  }
  if (size > 0) yield take(size);
}

/** Parsed chunks of one JSON-lines file, in file order, parsed by the pool; `relPath` names the file in locations. */
export async function* parallelItems(pool: ParsePool, file: string, relPath: string): AsyncGenerator<RowBlock> {
  let base = 0;
  const block = (r: ChunkResult): RowBlock => {
    const b = { relPath, base, r, workers: pool.size };
    base += r.lines;
    return b;
  };

  // The file is read and handed out by a pump that runs on its own while the loader (the consumer of
  // this generator) waits for the engine: chunks come back in order through `queue`.
  const queue: Array<Promise<ChunkResult>> = [];
  let parsing = 0;
  let done = false;
  let stopped = false;
  const waiting: { pump: (() => void) | null; loader: (() => void) | null } = { pump: null, loader: null };
  const wake = (who: 'pump' | 'loader') => {
    const w = waiting[who];
    waiting[who] = null;
    w?.();
  };
  const pump = (async () => {
    let first = true;
    for await (const bytes of lineChunks(file, (n) => pool.buffer(n))) {
      while (!stopped && (parsing >= PARSING_PER_WORKER * pool.size || queue.length >= AHEAD)) await new Promise<void>((r) => (waiting.pump = r));
      if (stopped) return;
      parsing++;
      const p = pool.run(bytes, first);
      first = false;
      const settled = () => {
        parsing--;
        wake('pump');
      };
      p.then(settled, settled);
      queue.push(p);
      wake('loader');
    }
  })().finally(() => {
    done = true;
    wake('loader');
  });
  // A read error is thrown where the loader awaits it (below); until then it must not count as unhandled.
  pump.catch(() => {});
  try {
    for (;;) {
      if (queue.length) {
        const r = await queue.shift()!;
        wake('pump');
        yield block(r);
      } else if (done) break;
      else await new Promise<void>((r) => (waiting.loader = r));
    }
    await pump;
  } finally {
    // Consumer gone early (an error while loading): stop reading; results still to come are dropped.
    stopped = true;
    wake('pump');
    for (const p of queue) p.catch(() => {});
  }
}
