// Time-zone arithmetic for the generator, done independently of the SQL in src/normalize/time.ts (with
// the platform's Intl data), so the ground truth's DST counts are a real check on the engine's.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(zone, f);
  }
  return f;
}

/** Offset of `zone` from UTC at the instant `utcMs`, in minutes. */
export function offsetMinutes(zone: string, utcMs: number): number {
  const parts = Object.fromEntries(formatter(zone).formatToParts(new Date(utcMs)).map((p) => [p.type, p.value]));
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / 60000);
}

/** The instants a wall-clock time in `zone` can denote (wall time given as if it were UTC, in ms). */
export function instantsOf(zone: string, wallMs: number): number[] {
  const candidates = new Set([offsetMinutes(zone, wallMs - 86_400_000), offsetMinutes(zone, wallMs + 86_400_000)]);
  const out = new Set<number>();
  for (const off of candidates) {
    const instant = wallMs - off * 60000;
    if (offsetMinutes(zone, instant) === off) out.add(instant);
  }
  return [...out].sort((a, b) => a - b);
}

export type WallKind = 'normal' | 'gap' | 'overlap';

export function classifyWallTime(zone: string, wallMs: number): WallKind {
  const n = instantsOf(zone, wallMs).length;
  return n === 0 ? 'gap' : n > 1 ? 'overlap' : 'normal';
}

export interface Transition {
  zone: string;
  /** The instant the offset changes. */
  atMs: number;
  before: number;
  after: number;
}

/** DST transitions of `zone` in [fromMs, toMs), found by an hourly scan refined to the minute. */
export function transitions(zone: string, fromMs: number, toMs: number): Transition[] {
  const out: Transition[] = [];
  const hour = 3_600_000;
  let prev = offsetMinutes(zone, fromMs);
  for (let t = fromMs + hour; t < toMs; t += hour) {
    const cur = offsetMinutes(zone, t);
    if (cur !== prev) {
      let lo = t - hour;
      let hi = t;
      while (hi - lo > 60000) {
        const mid = lo + Math.floor((hi - lo) / 120000) * 60000;
        if (offsetMinutes(zone, mid) === prev) lo = mid;
        else hi = mid;
      }
      out.push({ zone, atMs: hi, before: prev, after: cur });
      prev = cur;
    }
  }
  return out;
}

/** `YYYY-MM-DD HH:MM:SS` of a wall time held as if it were UTC. */
export function formatWall(wallMs: number): string {
  return new Date(wallMs).toISOString().slice(0, 19).replace('T', ' ');
}

/** ISO-8601 with the zone's offset at that instant, e.g. `2024-03-01T09:15:00+05:30`. */
export function isoWithOffset(zone: string, utcMs: number): string {
  const off = offsetMinutes(zone, utcMs);
  const wall = new Date(utcMs + off * 60000).toISOString().slice(0, 19);
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${wall}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
