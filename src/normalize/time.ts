// Timestamps to UTC, in SQL. One documented rule for local times that a DST change makes ambiguous:
//  - a time in a gap (the clock jumped over it) is read with the offset in force BEFORE the jump, so it
//    lands that many minutes later in real time (02:30 on a spring-forward night becomes 03:30 local);
//  - a time in an overlap (the clock repeated it) is the EARLIER of the two instants (daylight time).
// This is the "compatible" disambiguation of RFC 5545, java.time and JavaScript's Temporal.
//
// Expressions come in levels; the caller nests one projection per level (SELECT *, <level n> FROM
// (<level n-1>)), so the engine computes every intermediate once and each level reads the one below.
import type { Dialect } from '../engine/dialects/dialect.js';

export type TimeFormat = 'iso' | 'local' | 'epoch_s' | 'epoch_ms' | 'date';
export type Level = Array<[alias: string, expr: string]>;

export interface TimeSql {
  levels: Level[];
  /** UTC timestamp (NULL when unparseable); for format 'date', a DATE. */
  utc: string;
  /** Offset from UTC in minutes of the original time; NULL where the source gave none (epoch, date). */
  offsetMinutes: string;
  dstGap: string;
  dstOverlap: string;
  /** TRUE when a zone was needed and named but is unknown. */
  badZone: string;
}

const OFFSET_RE = String.raw`(Z|z|[+-]\d{2}(:?\d{2})?)$`;
const UTC_NAMES = ['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT'];
const UTC_ZONES = `(${UTC_NAMES.map((z) => `'${z}'`).join(', ')})`;

/**
 * `raw` is a VARCHAR column (trimmed, NULL when empty); `zone` a VARCHAR column, or null when the source
 * names no zone; `zoneKnown(z)` renders a test that a zone name is known; `p` prefixes helper aliases.
 */
export function timeToUtc(d: Dialect, format: TimeFormat, raw: string, zone: string | null, zoneKnown: (z: string) => string, p: string, opts: { fixedZone?: string; zones?: readonly string[] } = {}): TimeSql {
  const simple = (utc: string): TimeSql => ({ levels: [], utc, offsetMinutes: d.typedNull('integer'), dstGap: 'false', dstOverlap: 'false', badZone: 'false' });
  if (format === 'date') return simple(d.tryDate(`left(${raw}, 10)`));
  if (format === 'epoch_s' || format === 'epoch_ms') {
    const n = d.tryCast(raw, 'double');
    const secs = format === 'epoch_s' ? n : `(${n} / 1000.0)`;
    return simple(`CASE WHEN ${secs} BETWEEN -62135596800 AND 253402300799 THEN ${d.epochSecondsToTs(secs)} END`);
  }
  const a = (s: string) => `${p}_${s}`;
  const offsetRe = d.quoteString(OFFSET_RE);
  const off = d.regexpExtract(raw, offsetRe, 1);
  const digits = `replace(${off}, ':', '')`;
  // Cheap character tests first; the regular expression runs only on values that may carry an offset.
  const sign = (i: number) => `substr(${raw}, ${i}, 1) IN ('+', '-')`;
  const l1: Level = [
    [a('has_offset'), `coalesce(CASE WHEN right(${raw}, 1) IN ('Z', 'z') THEN length(${raw}) > 10 WHEN length(${raw}) >= 13 AND (${sign(-6)} OR ${sign(-5)} OR ${sign(-3)}) THEN ${d.regexpMatches(raw, offsetRe)} ELSE false END, false)`],
  ];
  const l2: Level = [
    [a('iso_utc'), `CASE WHEN ${a('has_offset')} THEN ${d.tryIsoOffsetToUtc(raw)} END`],
    [a('iso_offset'), `CASE WHEN NOT ${a('has_offset')} THEN NULL WHEN upper(right(${raw}, 1)) = 'Z' THEN 0 ELSE (CASE WHEN left(${off}, 1) = '-' THEN -1 ELSE 1 END) * (${d.tryCast(`substr(${digits}, 2, 2)`, 'integer')} * 60 + CASE WHEN length(${digits}) = 5 THEN ${d.tryCast(`right(${digits}, 2)`, 'integer')} ELSE 0 END) END`],
  ];
  if (zone === null) {
    // No zone configured: a time without an offset cannot be placed, so it is rejected as a bad timestamp.
    return { levels: [l1, l2], utc: a('iso_utc'), offsetMinutes: a('iso_offset'), dstGap: 'false', dstOverlap: 'false', badZone: 'false' };
  }
  if (opts.fixedZone !== undefined && UTC_NAMES.includes(opts.fixedZone)) {
    // Every row's zone is UTC: a local time is the UTC time, with no gaps or overlaps, so the per-row
    // zone work below reduces to this (same results, none of the ICU conversions).
    l2.push([a('local'), `CASE WHEN NOT ${a('has_offset')} THEN ${d.tryTimestamp(raw)} END`]);
    return {
      levels: [l1, l2],
      utc: `(CASE WHEN ${a('has_offset')} THEN ${a('iso_utc')} ELSE ${a('local')} END)`,
      offsetMinutes: `(CASE WHEN ${a('has_offset')} THEN ${a('iso_offset')} WHEN ${a('local')} IS NOT NULL THEN 0 END)`,
      dstGap: 'false',
      dstOverlap: 'false',
      badZone: 'false',
    };
  }
  l1.push([a('is_utc'), `coalesce(${zone} IN ${UTC_ZONES}, false)`], [a('zone_ok'), `coalesce(${zoneKnown(zone)}, false)`]);
  l2.push([a('local'), `CASE WHEN NOT ${a('has_offset')} THEN ${d.tryTimestamp(raw)} END`]);
  // ICU's reading of the local time: gap times already come out shifted forward; overlaps come out late.
  const l3: Level = [[a('icu'), `CASE WHEN NOT ${a('has_offset')} AND ${a('local')} IS NOT NULL AND NOT ${a('is_utc')} AND ${a('zone_ok')} THEN ${d.localToUtc(a('local'), zone, opts.zones)} END`]];
  const back = (u: string) => `CAST(${d.utcToLocal(u, zone, opts.zones)} AS ${d.sqlType('timestamp')})`;
  const l4: Level = [
    [a('back0'), `CASE WHEN ${a('icu')} IS NOT NULL THEN ${back(a('icu'))} END`],
    [a('back60'), `CASE WHEN ${a('icu')} IS NOT NULL THEN ${back(`${a('icu')} - INTERVAL 1 HOUR`)} END`],
    [a('back30'), `CASE WHEN ${a('icu')} IS NOT NULL THEN ${back(`${a('icu')} - INTERVAL 30 MINUTE`)} END`],
  ];
  const gap = `coalesce(${a('back0')} <> ${a('local')}, false)`;
  const ov60 = `coalesce(${a('back60')} = ${a('local')}, false)`;
  const ov30 = `coalesce(${a('back30')} = ${a('local')}, false)`;
  const utc = `(CASE WHEN ${a('has_offset')} THEN ${a('iso_utc')} WHEN ${a('is_utc')} THEN ${a('local')} WHEN ${ov60} THEN ${a('icu')} - INTERVAL 1 HOUR WHEN ${ov30} THEN ${a('icu')} - INTERVAL 30 MINUTE ELSE ${a('icu')} END)`;
  return {
    levels: [l1, l2, l3, l4],
    utc,
    offsetMinutes: `(CASE WHEN ${a('has_offset')} THEN ${a('iso_offset')} WHEN ${a('is_utc')} AND ${a('local')} IS NOT NULL THEN 0 WHEN ${a('icu')} IS NOT NULL THEN CAST(date_diff('minute', ${utc}, CASE WHEN ${gap} THEN ${a('back0')} ELSE ${a('local')} END) AS INTEGER) END)`,
    dstGap: gap,
    dstOverlap: `(${ov60} OR ${ov30})`,
    badZone: `(NOT ${a('has_offset')} AND ${zone} IS NOT NULL AND NOT ${a('is_utc')} AND NOT ${a('zone_ok')})`,
  };
}
