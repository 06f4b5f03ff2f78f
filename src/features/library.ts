// The built-in feature library: what each feature kind means, its default name, type, window and null
// policy, and the SQL that assembles it from the cumulative tiles looked up at the cutoff.
//
// In the SQL, `p0` holds the learner's cumulative tile values over days before the cutoff's day, `pN`
// the same N days earlier (so p0 − pN covers the N days before the cutoff), `pa` the assessment tiles,
// `h` the HR record in force at the cutoff, and `s` the spine row.
import type { FeatureDef } from '../config/modeling.js';

export interface FeatureSpec {
  name: string;
  kind: string;
  description: string;
  type: 'bigint' | 'double' | 'varchar';
  /** Human-readable window, e.g. "7 days before the cutoff" or "all history before the cutoff". */
  window: string;
  window_days: number | null;
  null_policy: 'keep' | 'zero';
  source_tables: string[];
  /** Offsets (days) of cumulative lookups the SQL needs besides 0. */
  offsets: number[];
  /** Event types whose cumulative counts the SQL needs. */
  event_types: string[];
  sql: string;
}

const diff = (col: string, n: number | null) => (n ? `(coalesce(p0.${col}, 0) - coalesce(p${n}.${col}, 0))` : `coalesce(p0.${col}, 0)`);

export class FeatureConfigError extends Error {}

/** The event types whose per-day counts the features read (the tiles count only these; see TileOptions). */
export function tileEventTypes(specs: FeatureSpec[]): string[] {
  return [...new Set(specs.flatMap((s) => s.event_types))].sort();
}

export function resolveFeatures(defs: FeatureDef[]): FeatureSpec[] {
  const specs = defs.map((d) => resolveOne(typeof d === 'string' ? { kind: d } : d));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new FeatureConfigError(`features: two features are named ${s.name}; give one a name:`);
    seen.add(s.name);
  }
  return specs;
}

function resolveOne(d: Exclude<FeatureDef, string>): FeatureSpec {
  const n = d.window_days ?? null;
  const win = n ? `${n} days before the cutoff` : 'all history before the cutoff';
  const suffix = n ? `_${n}d` : '';
  const ev = ['events', 'user_day'];
  const base = { kind: d.kind, window_days: n, window: win, offsets: n ? [n] : [], event_types: [] as string[] };
  const make = (name: string, type: FeatureSpec['type'], description: string, sql: string, nullPolicy: 'keep' | 'zero', sources = ev, extra: Partial<FeatureSpec> = {}): FeatureSpec => {
    const policy = d.null_policy ?? nullPolicy;
    return { ...base, name: d.name ?? name, type, description: d.description ?? description, null_policy: policy, source_tables: sources, sql: policy === 'zero' ? `coalesce(${sql}, 0)` : sql, ...extra };
  };
  const windowed = (what: string) => {
    if (!n && ['events', 'active_days'].includes(d.kind)) throw new FeatureConfigError(`features: ${d.kind} needs window_days (e.g. { kind: ${d.kind}, window_days: 7 })`);
    return what;
  };
  const noWindow = () => {
    if (n) throw new FeatureConfigError(`features: ${d.kind} takes no window_days`);
  };
  switch (d.kind) {
    case 'total_events':
      return make(`total_events${suffix}`, 'bigint', `Events ${win}.`, diff('c_events', n), 'zero');
    case 'total_time':
      return make(`total_time${suffix}`, 'double', `Sum of event durations in seconds, ${win}.`, diff('c_time', n), 'zero');
    case 'events':
      return make(`events${suffix}`, 'bigint', windowed(`Events in the ${n} days before the cutoff.`), diff('c_events', n), 'zero');
    case 'active_days':
      return make(`active_days${suffix}`, 'bigint', windowed(`Distinct UTC days with at least one event in the ${n} days before the cutoff.`), diff('c_days', n), 'zero');
    case 'sessions':
      return make(`sessions${suffix}`, 'bigint', `Sessions started ${win} (a session ends after the configured inactivity gap).`, diff('c_sessions', n), 'zero', ['events', 'user_day', 'sessions']);
    case 'avg_session_duration':
      noWindow();
      return make('avg_session_duration_s', 'double', 'Average session length in seconds (first to last event of each session, counting only events before the cutoff).', `p0.c_session_seconds / nullif(p0.c_sessions, 0)`, 'keep', ['events', 'user_day', 'sessions']);
    case 'attempts_per_quiz':
      noWindow();
      return make('attempts_per_quiz', 'double', 'quiz_start events per distinct quiz started, before the cutoff (NULL when no quiz was started).', `CAST(p0.c_n_quiz_start AS DOUBLE) / nullif(p0.c_quiz_objects, 0)`, 'keep', ['events', 'user_day', 'quiz_first_starts'], { event_types: ['quiz_start'] });
    case 'quiz_attempts':
      noWindow();
      return make('quiz_attempts', 'bigint', 'Assessment attempts submitted before the cutoff.', `pa.c_attempts`, 'zero', ['assessments', 'user_day_assessments']);
    case 'quiz_pass_rate':
      noWindow();
      return make('quiz_pass_rate', 'double', 'Share of graded attempts passed, before the cutoff (NULL without graded attempts).', `CAST(pa.c_passed AS DOUBLE) / nullif(pa.c_graded, 0)`, 'keep', ['assessments', 'user_day_assessments']);
    case 'quiz_avg_score':
      noWindow();
      return make('quiz_avg_score', 'double', 'Average score as a share of the maximum (0–1), before the cutoff.', `pa.c_score_sum / nullif(pa.c_scored, 0)`, 'keep', ['assessments', 'user_day_assessments']);
    case 'first_to_last_gap':
      noWindow();
      return make('first_to_last_gap_s', 'bigint', 'Seconds from the first to the last event before the cutoff.', `date_diff('second', p0.first_ts, p0.last_ts)`, 'keep');
    case 'recency':
      noWindow();
      return make('recency_s', 'bigint', 'Seconds from the last event before the cutoff to the cutoff (NULL without events).', `date_diff('second', p0.last_ts, s.cutoff)`, 'keep');
    case 'last_login_gap':
      noWindow();
      return make('last_login_gap_days', 'bigint', 'Days from the last UTC day with a login to the cutoff day (NULL without logins).', `date_diff('day', p0.last_login_day, CAST(s.cutoff AS DATE))`, 'keep', ev, { event_types: ['login'] });
    case 'event_type_count': {
      if (!d.event_type) throw new FeatureConfigError('features: event_type_count needs event_type (e.g. { kind: event_type_count, event_type: view })');
      return make(`events_${d.event_type}${suffix}`, 'bigint', `Events of type ${d.event_type} ${win}.`, diff(`c_n_${d.event_type}`, n), 'zero', ev, { event_types: [d.event_type] });
    }
    case 'trend': {
      const w = n ?? 7;
      const last = `(coalesce(p0.c_events, 0) - coalesce(p${w}.c_events, 0))`;
      const before = `(coalesce(p${w}.c_events, 0) - coalesce(p${2 * w}.c_events, 0))`;
      return {
        ...make(`trend_${w}d`, 'double', `Activity trend: (events in the last ${w} days − events in the ${w} before) / (their sum), from −1 (stopped) to 1 (started); NULL when both are 0.`, `CAST(${last} - ${before} AS DOUBLE) / nullif(${last} + ${before}, 0)`, 'keep'),
        window: `${2 * w} days before the cutoff`,
        window_days: 2 * w,
        offsets: [w, 2 * w],
      };
    }
    case 'role_level':
      noWindow();
      return make('role_level', 'varchar', 'Role level in the HR record in force at the cutoff.', 'h.role_level', 'keep', ['hr_records']);
    case 'employment_status':
      noWindow();
      return make('employment_status', 'varchar', 'Employment status in the HR record in force at the cutoff.', 'h.employment_status', 'keep', ['hr_records']);
    case 'tenure_days':
      noWindow();
      return make('tenure_days', 'bigint', 'Days from the hire date to the cutoff.', `date_diff('day', h.hire_date, CAST(s.cutoff AS DATE))`, 'keep', ['hr_records']);
    case 'manager_team_size':
      noWindow();
      return make('manager_team_size', 'bigint', "Active direct reports of the learner's manager at the cutoff (the learner included).", 'tm.team_size', 'keep', ['hr_records']);
  }
}
