// One valid xAPI statement → one flat row for the events table (and the assessments table when it
// carries a score or success), a voiding instruction, or a reject with its reason. Pure and fast: this
// runs once per statement while streaming; everything heavier happens in SQL in the loader.
import { createHash } from 'node:crypto';
import type { XapiConnectorConfig } from '../../config/sources-xapi.js';
import { DEFAULT_VERBS } from './verbs.js';
import { durationSeconds, isActivityType, VOIDED } from './validate.js';

/** The landing columns, in order: what the built-in mapping reads (see load.ts in this folder). */
export const FLAT_COLUMNS = ['id', 'user_kind', 'user', 'event_type', 'object_id', 'object_name', 'course_id', 'course_name', 'timestamp', 'duration_seconds', 'score', 'max_score', 'passed'] as const;
export type FlatRow = Record<(typeof FLAT_COLUMNS)[number], string | number | null>;

/** A landing CSV row: every text value quoted (so the reader's dialect detection is unambiguous), NULL empty. */
export function csvRow(row: FlatRow): string {
  // Spelled out column by column (in FLAT_COLUMNS order): a loop over the names costs twice as much per row.
  return (
    csvValue(row.id) + ',' + csvValue(row.user_kind) + ',' + csvValue(row.user) + ',' + csvValue(row.event_type) + ',' +
    csvValue(row.object_id) + ',' + csvValue(row.object_name) + ',' + csvValue(row.course_id) + ',' + csvValue(row.course_name) + ',' +
    csvValue(row.timestamp) + ',' + csvValue(row.duration_seconds) + ',' + csvValue(row.score) + ',' + csvValue(row.max_score) + ',' + csvValue(row.passed)
  );
}

function csvValue(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return String(v);
  return '"' + (v.includes('"') ? v.replaceAll('"', '""') : v) + '"';
}

export type Flattened =
  | { kind: 'row'; row: FlatRow; assessment: boolean }
  | { kind: 'void'; target: string }
  | { kind: 'reject'; reason: string; field: string | null; detail: string };

type Obj = Record<string, any>;

/** The text of a language map: en-US, then any en, then the first entry. */
export function langText(m: unknown): string | null {
  if (!m || typeof m !== 'object') return null;
  const o = m as Record<string, unknown>;
  const key = 'en-US' in o ? 'en-US' : (Object.keys(o).find((k) => k.toLowerCase().startsWith('en')) ?? Object.keys(o)[0]);
  const v = key === undefined ? null : o[key];
  // One line per landed row: line breaks in titles become spaces (the search first: most titles have none).
  return typeof v === 'string' ? (v.includes('\n') || v.includes('\r') ? v.replace(/[\r\n]+/g, ' ') : v) : null;
}

/** A statement's identity when it has no id (files written by hand or by tools): a hash of its content. */
export function contentId(s: unknown): string {
  return 'sha256:' + createHash('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 32);
}

export interface ActorKey {
  kind: string;
  raw: string;
}

/** Per accounts map: homePage → key kind. Statements name few homePages, each a million times. */
const accountKinds = new WeakMap<Record<string, string>, Map<string, string>>();
function accountKind(accounts: Record<string, string>, home: string): string {
  let m = accountKinds.get(accounts);
  if (!m) accountKinds.set(accounts, (m = new Map()));
  let kind = m.get(home);
  if (kind === undefined) {
    kind = accounts[home] ?? accounts[home.replace(/\/+$/, '')] ?? accounts[home + '/'] ?? `account:${home}`;
    if (m.size > 10000) m.clear();
    m.set(home, kind);
  }
  return kind;
}

/** The person key of an Agent: mbox → email, mbox_sha1sum, account (namespace or account:<homePage>), openid. */
export function actorKey(a: Obj, accounts: Record<string, string>): ActorKey | null {
  if (typeof a.mbox === 'string') return { kind: 'email', raw: a.mbox };
  if (typeof a.mbox_sha1sum === 'string') return { kind: 'mbox_sha1sum', raw: a.mbox_sha1sum.toLowerCase() };
  if (a.account && typeof a.account === 'object') {
    const home = String(a.account.homePage ?? '');
    return { kind: accountKind(accounts, home), raw: String(a.account.name) };
  }
  if (typeof a.openid === 'string') return { kind: 'openid', raw: a.openid };
  return null;
}

// Module-level helpers, not closures: this runs once per statement (and closures cost, under tsx's keepNames most).
const activities = (ca: Obj, k: string): Obj[] => (Array.isArray(ca[k]) ? ca[k] : ca[k] ? [ca[k]] : []);
const isCourse = (a: Obj) => typeof a.definition?.type === 'string' && /\/course$/.test(a.definition.type);

function courseOf(ctx: Obj | undefined): { id: string | null; name: string | null } {
  const ca = ctx?.contextActivities;
  if (!ca) return { id: null, name: null };
  // A parent typed as a course, else one in grouping, else the first parent.
  const pick = activities(ca, 'parent').find(isCourse) ?? activities(ca, 'grouping').find(isCourse) ?? activities(ca, 'parent')[0];
  return pick ? { id: String(pick.id), name: langText(pick.definition?.name) } : { id: null, name: null };
}

export interface XapiFlattenOptions {
  verbs: Record<string, string>;
  accounts: Record<string, string>;
  /** Config path of the verb map, named in unknown_verb rejects. */
  verbsKey: string;
}

export function xapiFlattenOptions(c: XapiConnectorConfig, index: number, rules: readonly string[]): XapiFlattenOptions {
  return { verbs: { ...DEFAULT_VERBS, ...c.verbs }, accounts: rules.includes('account') ? c.accounts : {}, verbsKey: `connectors[${index}].verbs` };
}

/** Flattens a statement that passed validateStatement. */
export function flattenStatement(s: Obj, o: XapiFlattenOptions): Flattened {
  const verb = String(s.verb.id);
  if (verb === VOIDED) return { kind: 'void', target: String(s.object.id) };
  const actor = s.actor as Obj;
  if (actor.objectType === 'Group') return { kind: 'reject', reason: 'group_actor', field: 'actor', detail: 'the actor is a Group, not a learner; events are per person' };
  const key = actorKey(actor, o.accounts);
  if (!key) return { kind: 'reject', reason: 'missing_actor', field: 'actor', detail: 'the actor has no identifier' };
  const type = o.verbs[verb];
  if (!type) return { kind: 'reject', reason: 'unknown_verb', field: 'verb.id', detail: `unknown verb ${verb}; map it to an event type in ${o.verbsKey}: { "${verb}": <event type> }` };
  const ts = s.timestamp ?? s.stored;
  if (typeof ts !== 'string') return { kind: 'reject', reason: 'missing_timestamp', field: 'timestamp', detail: 'the statement has neither timestamp nor stored' };
  // The object: an Activity's id; a SubStatement's own object; an Agent or a referenced statement has no content id.
  const obj: Obj = s.object.objectType === 'SubStatement' ? s.object.object : s.object;
  const isActivity = isActivityType(obj.objectType ?? 'Activity');
  const objectId = isActivity ? String(obj.id) : null;
  const course = courseOf(s.context);
  const r: Obj | undefined = s.result;
  const score: Obj | undefined = r?.score;
  const hasRaw = typeof score?.raw === 'number';
  const hasScaled = typeof score?.scaled === 'number';
  const assessment = hasRaw || hasScaled || typeof r?.success === 'boolean';
  const row: FlatRow = {
    id: typeof s.id === 'string' ? s.id.toLowerCase() : contentId(s),
    user_kind: key.kind,
    user: key.raw,
    event_type: type,
    object_id: objectId,
    object_name: isActivity ? langText(obj.definition?.name) : null,
    course_id: course.id,
    course_name: course.name,
    timestamp: ts,
    duration_seconds: typeof r?.duration === 'string' ? durationSeconds(r.duration) : null,
    // A raw score with its max when given; otherwise the scaled score out of 1.
    score: hasRaw ? score!.raw : hasScaled ? score!.scaled : null,
    max_score: hasRaw ? (typeof score!.max === 'number' ? score!.max : null) : hasScaled ? 1 : null,
    passed: typeof r?.success === 'boolean' ? String(r.success) : null,
  };
  return { kind: 'row', row, assessment };
}
