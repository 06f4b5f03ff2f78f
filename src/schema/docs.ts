// Renders the canonical schema as Markdown (docs/schema.md is generated from it; a test keeps it current).
import { BOOKKEEPING_TABLES, CANONICAL_TABLES, DERIVED_TABLES, EVENT_TYPES, SCHEMA_VERSION, type TableDef } from './canonical.js';

function tableMd(t: TableDef): string {
  const rows = t.columns.map((c) => `| \`${c.name}\` | ${c.type} | ${c.nullable ? 'yes' : 'no'} | ${c.sensitivity} | ${c.description.replaceAll('|', '\\|')} |`);
  return [`### \`${t.name}\``, '', t.description, '', `Key: ${t.key.map((k) => `\`${k}\``).join(', ')}`, '', '| column | type | nullable | sensitivity | description |', '|---|---|---|---|---|', ...rows, ''].join('\n');
}

export function schemaMarkdown(): string {
  return [
    '# Canonical schema',
    '',
    `<!-- generated from src/schema/canonical.ts by \`npm run docs\`; do not edit by hand -->`,
    '',
    `Schema version ${SCHEMA_VERSION}. Timestamps are \`TIMESTAMP\` values in UTC; the original offset of event times is kept in \`tz_offset_minutes\`.`,
    'Sensitivity: `pseudonym` columns hold keyed pseudonyms only, `sensitive` HR fields are left out of outputs unless allowed by name, `raw` columns may hold source text and are never published.',
    '',
    `Canonical event types: ${EVENT_TYPES.map((t) => `\`${t}\``).join(', ')}.`,
    '',
    '## Canonical tables',
    '',
    ...CANONICAL_TABLES.map(tableMd),
    '## Bookkeeping tables',
    '',
    ...BOOKKEEPING_TABLES.map(tableMd),
    '## Derived tables (feature tiles, spine, labels, runs)',
    '',
    ...DERIVED_TABLES.map(tableMd),
  ].join('\n');
}
