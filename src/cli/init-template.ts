export const STARTER_CONFIG = `# learnpipe pipeline configuration. Paths are relative to this file.
# Validate with: learnpipe validate -c pipeline.yaml
version: 1

# The embedded DuckDB warehouse (a single file) and the folder published outputs go to.
warehouse: warehouse.duckdb
output_dir: out

# engine:
#   threads: 2            # default: all cores
#   memory_limit: 2GB     # DuckDB spills to disk beyond this

keys:
  # Learner identifiers are replaced by keyed pseudonyms (HMAC-SHA256) as they are loaded.
  # The key is read from the environment variable, else from the key file. Never put the key here.
  # Create a key file with: learnpipe keys create --out keys/pseudonym.key
  pseudonym: { env: LEARNPIPE_PSEUDONYM_KEY, file: keys/pseudonym.key }

identity:
  match_by_email: true    # people are matched by employee id first, then by normalised email
  # rules: [employee_id, email, mbox_sha1sum, account]   # tried in order; the rule that matched is kept

content:
  aliases: {}             # "New course name": "Old course name" keeps one stable id across a rename

defaults:
  lookback_days: 7        # late events up to this many days older than a source's watermark are admitted
  # timezone: Europe/London   # zone for naive local times when a source names none

sources:
  # One entry per input. format: csv | tsv | jsonl | parquet; path: a file or a glob.
  # target: events | users | enrollments | assessments | hr_records
  - name: lms_events
    format: csv
    path: data/events*.csv
    target: events
    fields:
      event_id: id                                  # a column name ...
      user: { column: user_id, kind: lms_id }       # kind: employee_id, email, or your own id namespace
      event_type:
        column: action
        map: { viewed: view, started_quiz: quiz_start, submitted: submit }   # source value -> canonical type
      object: { id_column: object_id, name_column: object_title }          # stable ids survive renames
      timestamp: { column: time, format: iso }      # iso (with offset) | local (+ timezone/timezone_column) | epoch_s | epoch_ms
      duration_seconds: { column: seconds }

# Built-in connectors (docs/connectors.md): xAPI statements from files or an LRS, Caliper envelopes.
# connectors:
#   - name: lrs
#     kind: xapi
#     path: data/statements/*.jsonl        # .json / .jsonl, optionally .gz
#     # lrs: { endpoint: https://lrs.example.com/xapi/, username_env: LRS_USER, password_env: LRS_PASSWORD }
#     verbs: { "http://example.com/verbs/watched": video_play }   # added to the built-in verb map
#     accounts: { "https://lms.example.com": lms_id }              # account homePage -> id namespace
#   - name: caliper
#     kind: caliper
#     path: data/caliper/*.json
`;
