// Built-in verb map: xAPI verb IRIs of ADL and common profiles → canonical event types. A connector's
// `verbs:` adds to and overrides it; a verb in neither is rejected (unknown_verb) naming the IRI.
import type { EventType } from '../../schema/canonical.js';

const ADL = 'http://adlnet.gov/expapi/verbs/';
const VIDEO = 'https://w3id.org/xapi/video/verbs/';
const ACROSSX = 'https://w3id.org/xapi/acrossx/verbs/';

export const DEFAULT_VERBS: Readonly<Record<string, EventType>> = {
  // ADL vocabulary (xAPI 1.0 verbs).
  [ADL + 'launched']: 'view',
  [ADL + 'initialized']: 'view',
  [ADL + 'experienced']: 'view',
  [ADL + 'interacted']: 'view',
  [ADL + 'progressed']: 'view',
  [ADL + 'resumed']: 'view',
  [ADL + 'suspended']: 'view',
  [ADL + 'terminated']: 'view',
  [ADL + 'exited']: 'view',
  [ADL + 'attempted']: 'quiz_start',
  [ADL + 'answered']: 'answer',
  [ADL + 'responded']: 'answer',
  [ADL + 'scored']: 'submit',
  [ADL + 'completed']: 'complete',
  [ADL + 'mastered']: 'pass',
  [ADL + 'passed']: 'pass',
  [ADL + 'failed']: 'fail',
  [ADL + 'commented']: 'comment',
  [ADL + 'asked']: 'forum_post',
  [ADL + 'shared']: 'forum_post',
  [ADL + 'registered']: 'enroll',
  [ADL + 'attended']: 'attend',
  [ADL + 'logged-in']: 'login',
  // ADL vocabulary, newer IRIs.
  'https://w3id.org/xapi/adl/verbs/logged-in': 'login',
  'https://w3id.org/xapi/adl/verbs/satisfied': 'complete',
  'https://w3id.org/xapi/adl/verbs/abandoned': 'view',
  'https://w3id.org/xapi/adl/verbs/waived': 'complete',
  'http://id.tincanapi.com/verb/viewed': 'view',
  'http://id.tincanapi.com/verb/downloaded': 'view',
  'http://id.tincanapi.com/verb/unregistered': 'unenroll',
  'http://id.tincanapi.com/verb/replied': 'forum_post',
  'https://brindlewaye.com/xAPITerms/verbs/loggedin/': 'login',
  // Video profile: playing is video_play; pausing, seeking and the rest are views of the video.
  [VIDEO + 'played']: 'video_play',
  [VIDEO + 'paused']: 'view',
  [VIDEO + 'seeked']: 'view',
  [VIDEO + 'interacted']: 'view',
  // Open edX and the acrossx / dod-isd profiles it uses.
  [ACROSSX + 'posted']: 'forum_post',
  [ACROSSX + 'edited']: 'forum_post',
  [ACROSSX + 'evaluated']: 'submit',
  [ACROSSX + 'submitted']: 'submit',
  'https://w3id.org/xapi/dod-isd/verbs/navigated': 'view',
  'https://w3id.org/xapi/tla/verbs/explored': 'view',
  'https://w3id.org/xapi/dod-isd/verbs/registered': 'enroll',
  'http://id.tincanapi.com/verb/enrolled_onto_learning_plan': 'enroll',
};

/** Caliper 1.1 / 1.2 actions → event types (the action's last path segment, so full IRIs work too). */
export const DEFAULT_CALIPER_ACTIONS: Readonly<Record<string, EventType>> = {
  LoggedIn: 'login',
  NavigatedTo: 'view',
  Viewed: 'view',
  Launched: 'view',
  Started: 'quiz_start',
  Restarted: 'quiz_start',
  Submitted: 'submit',
  Completed: 'complete',
  Graded: 'submit',
  Posted: 'forum_post',
  Replied: 'forum_post',
  Commented: 'comment',
  Played: 'video_play',
  Resumed: 'video_play',
  Paused: 'view',
  JumpedTo: 'view',
  ForwardedTo: 'view',
  Enrolled: 'enroll',
  Unenrolled: 'unenroll',
  Registered: 'enroll',
  Subscribed: 'view',
  MarkedAsRead: 'view',
  Bookmarked: 'view',
  Highlighted: 'view',
  Tagged: 'view',
  Shared: 'forum_post',
  Used: 'view',
};
