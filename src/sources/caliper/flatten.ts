// IMS Caliper 1.1 / 1.2 events → the same flat rows as xAPI statements (see ../xapi/flatten.ts). An
// envelope ({sensor, sendTime, dataVersion, data: [...]}) holds events and, sometimes, entities; a file
// may also hold a bare event. Validation covers what the mapping needs and the spec requires of an event.
import type { CaliperConnectorConfig } from '../../config/sources-xapi.js';
import type { Problem } from '../xapi/validate.js';
import { durationSeconds } from '../xapi/validate.js';
import { contentId, type Flattened, type FlatRow } from '../xapi/flatten.js';
import { DEFAULT_CALIPER_ACTIONS } from '../xapi/verbs.js';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$/;

/** The events and other documents of one parsed JSON document (an envelope, an event, or an array of either). */
export function caliperDocuments(doc: unknown): Array<{ suffix: string; value: unknown }> {
  if (isObj(doc) && Array.isArray(doc.data) && ('sensor' in doc || 'dataVersion' in doc)) return doc.data.map((v: unknown, i: number) => ({ suffix: `#data[${i}]`, value: v }));
  return [{ suffix: '', value: doc }];
}

const idOf = (v: unknown): string | null => (typeof v === 'string' ? v : isObj(v) && typeof v.id === 'string' ? v.id : null);

/** Problems of a Caliper event (empty when it can be loaded). */
export function validateCaliperEvent(e: unknown): Problem[] {
  const p: Problem[] = [];
  if (!isObj(e)) return [{ path: '$', message: 'an event is a JSON object' }];
  if (typeof e.type !== 'string' || !/Event$/.test(e.type)) p.push({ path: 'type', message: `expected an event type such as NavigationEvent, got ${JSON.stringify(e.type)}` });
  if (typeof e.id !== 'string' || e.id === '') p.push({ path: 'id', message: 'an event needs an id (urn:uuid:…)' });
  if (!idOf(e.actor)) p.push({ path: 'actor', message: e.actor === undefined ? 'missing actor' : 'the actor needs an id' });
  if (typeof e.action !== 'string' || e.action === '') p.push({ path: 'action', message: 'missing action' });
  if (!idOf(e.object)) p.push({ path: 'object', message: e.object === undefined ? 'missing object' : 'the object needs an id' });
  if (typeof e.eventTime !== 'string' || !TIMESTAMP.test(e.eventTime) || Number.isNaN(Date.parse(e.eventTime))) p.push({ path: 'eventTime', message: `expected an ISO-8601 time with a zone, got ${JSON.stringify(e.eventTime)}` });
  return p;
}

export interface CaliperFlattenOptions {
  actions: Record<string, string>;
  actors: Array<[prefix: string, namespace: string]>;
  actionsKey: string;
}

export function caliperFlattenOptions(c: CaliperConnectorConfig, index: number): CaliperFlattenOptions {
  // Longest prefix first, so a more specific mapping wins.
  const actors = Object.entries(c.actors).sort((a, b) => b[0].length - a[0].length || a[0].localeCompare(b[0]));
  return { actions: { ...DEFAULT_CALIPER_ACTIONS, ...c.actions }, actors, actionsKey: `connectors[${index}].actions` };
}

/** Flattens an event that passed validateCaliperEvent. */
export function flattenCaliperEvent(e: Obj, o: CaliperFlattenOptions): Flattened {
  // Graders and tools act on a learner's work: the person is the attempt's assignee.
  let person: unknown = e.actor;
  const actorType = isObj(e.actor) ? e.actor.type : null;
  if (actorType && actorType !== 'Person') {
    const assignee = isObj(e.object) ? e.object.assignee : undefined;
    if (!idOf(assignee)) return { kind: 'reject', reason: 'non_person_actor', field: 'actor', detail: `the actor is a ${actorType} and the object names no assignee` };
    person = assignee;
  }
  const personId = idOf(person)!;
  const mapped = o.actors.find(([prefix]) => personId.startsWith(prefix));
  const action = String(e.action);
  const short = action.replace(/^.*[/#]/, '');
  const type = o.actions[action] ?? o.actions[short];
  if (!type) return { kind: 'reject', reason: 'unknown_action', field: 'action', detail: `unknown action ${action}; map it to an event type in ${o.actionsKey}: { "${short}": <event type> }` };
  const obj: Obj = isObj(e.object) ? e.object : { id: e.object };
  // An attempt stands for the assessment it attempts.
  const target: Obj = obj.type === 'Attempt' && obj.assignable ? (isObj(obj.assignable) ? obj.assignable : { id: obj.assignable }) : obj;
  const group: Obj | null = isObj(e.group) ? e.group : typeof e.group === 'string' ? { id: e.group } : null;
  const partOf = isObj(target.isPartOf) ? target.isPartOf : null;
  const course = group ?? (partOf && /Course/.test(String(partOf.type)) ? partOf : null);
  const gen: Obj | null = isObj(e.generated) ? e.generated : null;
  const score = gen?.type === 'Score' && typeof gen.scoreGiven === 'number' ? gen : null;
  const dur = typeof obj.duration === 'string' ? obj.duration : typeof gen?.duration === 'string' ? gen.duration : null;
  const row: FlatRow = {
    id: typeof e.id === 'string' ? e.id.replace(/^urn:uuid:/i, '').toLowerCase() : contentId(e),
    user_kind: mapped ? mapped[1] : 'caliper_id',
    user: mapped ? personId.slice(mapped[0].length) : personId,
    event_type: type,
    object_id: idOf(target),
    object_name: typeof target.name === 'string' ? target.name.replace(/[\r\n]+/g, ' ') : null,
    course_id: course ? idOf(course) : null,
    course_name: course ? (typeof course.name === 'string' ? course.name : typeof course.courseNumber === 'string' ? course.courseNumber : null) : null,
    timestamp: e.eventTime,
    duration_seconds: dur ? durationSeconds(dur) : null,
    score: score ? score.scoreGiven : null,
    max_score: score && typeof score.maxScore === 'number' ? score.maxScore : null,
    passed: null,
  };
  return { kind: 'row', row, assessment: score !== null };
}
