// The write-ahead log of the HTTP endpoint. A request is acknowledged only after its statements are
// appended to the active segment and fsynced. Appends that arrive while a write is in flight are
// batched into the next write (group commit), so one fsync covers many requests.
//
// Segments are files of one JSON document per line (`seg-000001.jsonl`). Every `rotate()` closes the
// active segment; closed segments are moved, whole and unchanged, into the landing folder that the
// matching xAPI/Caliper source reads (a rename: atomic, no copy). A segment keeps its name there, so
// moving it again after a crash finds it already moved, and a file loaded once is skipped by its
// SHA-256: every acknowledged statement reaches the warehouse exactly once.
//
// After a kill, the last line of the newest segment may be torn (a write that never completed, so it
// was never acknowledged): `open` cuts it off.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, ftruncateSync, unlinkSync, copyFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

const SEGMENT = /^seg-(\d{6,})\.jsonl$/;

interface Pending {
  data: Buffer;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface WalRecovery {
  /** Segments found from an earlier run (closed now, ready to move to landing). */
  segments: number;
  /** Bytes of a torn last line that were cut off (never acknowledged). */
  tornBytes: number;
}

export class WriteAheadLog {
  private active: FileHandle | null = null;
  private activeSeq = 0;
  private activeBytes = 0;
  /** Bytes in closed segments not yet moved to landing. */
  private closedBytes = 0;
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private ops: Promise<void> = Promise.resolve();
  private drainScheduled = false;
  private failed: Error | null = null;

  private constructor(
    readonly dir: string,
    readonly landingDir: string,
    readonly recovery: WalRecovery,
  ) {}

  /**
   * Opens (or creates) the log in `dir`, whose closed segments go to `landingDir`: closes what an
   * earlier process left, repairing a torn tail.
   */
  static async open(dir: string, landingDir: string): Promise<WriteAheadLog> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    mkdirSync(landingDir, { recursive: true, mode: 0o700 });
    const found = listSegments(dir);
    let tornBytes = 0;
    for (const f of found) tornBytes += repairTail(path.join(dir, f.name));
    const wal = new WriteAheadLog(dir, landingDir, { segments: found.length, tornBytes });
    // Segment numbers keep growing across restarts and moves, so a name is never reused.
    wal.activeSeq = Math.max(0, ...found.map((f) => f.seq), ...listSegments(landingDir).map((f) => f.seq));
    for (const f of found) wal.closedBytes += statSync(path.join(dir, f.name)).size;
    await wal.openNext();
    return wal;
  }

  /** Bytes accepted but not yet moved to landing: the active and closed segments plus the queue. */
  pendingBytes(): number {
    return this.closedBytes + this.activeBytes + this.queuedBytes;
  }

  /** Appends lines (each one JSON document, no newline inside) and resolves once they are on disk. */
  append(lines: string[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const data = Buffer.from(lines.map((l) => l + '\n').join(''), 'utf8');
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, resolve, reject });
      this.queuedBytes += data.length;
      if (!this.drainScheduled) {
        this.drainScheduled = true;
        void this.serially(() => this.drain());
      }
    });
  }

  /**
   * Runs file operations one at a time: a write never overlaps a rotation, so no write can land on a
   * segment being closed.
   */
  private serially<T>(op: () => Promise<T>): Promise<T> {
    const run = this.ops.then(op);
    this.ops = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Writes everything queued so far in one write and one fsync (group commit). */
  private async drain(): Promise<void> {
    this.drainScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return;
    const buf = Buffer.concat(batch.map((p) => p.data));
    this.queuedBytes -= buf.length;
    try {
      if (this.failed) throw this.failed;
      const fh = this.active!;
      let off = 0;
      while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      await fh.datasync();
      this.activeBytes += buf.length;
      for (const p of batch) p.resolve();
    } catch (err) {
      // A failed write leaves the segment in an unknown state: refuse everything from now on
      // (requests get 503) rather than acknowledge over a gap.
      this.failed ??= new Error(`write-ahead log ${this.dir}: ${(err as Error).message}`);
      for (const p of batch) p.reject(this.failed);
    }
  }

  /** Waits for appends queued so far to reach the disk. */
  async settle(): Promise<void> {
    await this.serially(async () => undefined);
  }

  /** Closes the active segment (if it holds anything) and starts a new one. */
  rotate(): Promise<void> {
    return this.serially(async () => {
      if (this.activeBytes === 0 || this.failed) return;
      await this.active!.close();
      this.active = null;
      this.closedBytes += this.activeBytes;
      await this.openNext();
    });
  }

  /**
   * Moves every closed segment into the landing folder (same name, `.jsonl`), oldest first, and returns the
   * paths moved. The rename is atomic; the folder is fsynced so the move survives a power cut.
   */
  moveClosed(): string[] {
    const landingDir = this.landingDir;
    const moved: string[] = [];
    for (const f of listSegments(this.dir)) {
      if (f.seq === this.activeSeq) continue;
      const from = path.join(this.dir, f.name);
      const to = path.join(landingDir, f.name);
      if (statSync(from).size === 0) {
        unlinkSync(from);
        continue;
      }
      moveFile(from, to);
      moved.push(to);
    }
    this.closedBytes = 0;
    if (moved.length) {
      fsyncDir(landingDir);
      fsyncDir(this.dir);
    }
    return moved;
  }

  async close(): Promise<void> {
    await this.serially(async () => {
      if (this.active) await this.active.close();
      this.active = null;
    });
    // An empty active segment is not worth keeping.
    const p = segmentPath(this.dir, this.activeSeq);
    if (existsSync(p) && statSync(p).size === 0) unlinkSync(p);
  }

  private async openNext(): Promise<void> {
    this.activeSeq += 1;
    this.active = await open(segmentPath(this.dir, this.activeSeq), 'wx', 0o600);
    this.activeBytes = 0;
    fsyncDir(this.dir);
  }
}

function segmentPath(dir: string, seq: number): string {
  return path.join(dir, `seg-${String(seq).padStart(6, '0')}.jsonl`);
}

function listSegments(dir: string): Array<{ name: string; seq: number }> {
  return readdirSync(dir)
    .map((name) => ({ name, m: SEGMENT.exec(name) }))
    .filter((x) => x.m)
    .map((x) => ({ name: x.name, seq: Number(x.m![1]) }))
    .sort((a, b) => a.seq - b.seq);
}

/** Cuts a segment back to its last complete line; returns the bytes removed. */
function repairTail(file: string): number {
  const size = statSync(file).size;
  if (size === 0) return 0;
  const fd = openSync(file, 'r+');
  try {
    // Read backwards until a newline: everything after the last newline is a torn write.
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const i = chunk.subarray(0, n).lastIndexOf(10);
      if (i >= 0) {
        const keep = start + i + 1;
        if (keep < size) {
          ftruncateSync(fd, keep);
          fsyncSync(fd);
        }
        return size - keep;
      }
      end = start;
    }
    ftruncateSync(fd, 0);
    fsyncSync(fd);
    return size;
  } finally {
    closeSync(fd);
  }
}

function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    // Another file system: copy, sync, then remove the original.
    copyFileSync(from, to + '.tmp');
    const fd = openSync(to + '.tmp', 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(to + '.tmp', to);
    unlinkSync(from);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
