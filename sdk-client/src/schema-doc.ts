/**
 * Renders the RPC schema as the Markdown reference in docs/rpc.md. A test compares the file with
 * this output, so the reference cannot drift from the schema; `npm run docs:rpc` rewrites it.
 */
import { ErrorCode, methods, notifications } from './schema.ts';
import type { Schema } from './schema-types.ts';

function typeOf(schema: Schema): string {
  switch (schema.kind) {
    case 'string':
      return schema.what ?? 'string';
    case 'number':
      return schema.integer ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'literal':
      return JSON.stringify(schema.value);
    case 'array':
      return `array of ${typeOf(schema.items)}`;
    case 'tuple':
      return schema.items.length === 0 ? 'none (`[]`)' : `[${schema.items.map(typeOf).join(', ')}]`;
    case 'object': {
      const fields = Object.entries(schema.properties).map(([k, v]) => `${k}${schema.optional?.includes(k) ? '?' : ''}: ${typeOf(v)}`);
      return fields.length ? `{ ${fields.join('; ')} }` : '{}';
    }
    case 'union':
      return schema.options.map(typeOf).join(' | ');
  }
}

export function renderRpcReference(): string {
  const lines = [
    '# Wallet JSON-RPC reference',
    '',
    '<!-- Generated from sdk-client/src/schema.ts by `npm run docs:rpc`; a test keeps it in sync. -->',
    '',
    'JSON-RPC 2.0 over `postMessage` between the dapp (through `@channel-wallet/sdk-client`) and the wallet iframe.',
    '`permitted` methods answer only an origin the user connected; others get error 4100.',
    '',
    '## Methods',
    '',
    '| method | params | result | access | waits on the user |',
    '|---|---|---|---|---|',
  ];
  for (const [name, m] of Object.entries(methods)) {
    lines.push(`| \`${name}\` | ${typeOf(m.params)} | ${typeOf(m.result as Schema)} | ${m.access} | ${m.interactive ? 'yes' : 'no'} |`);
  }
  lines.push('', '| method | what it does |', '|---|---|');
  for (const [name, m] of Object.entries(methods)) lines.push(`| \`${name}\` | ${m.description} |`);
  lines.push('', '## Notifications (wallet → dapp)', '', '| notification | params |', '|---|---|');
  for (const [name, schema] of Object.entries(notifications)) lines.push(`| \`${name}\` | ${typeOf(schema)} |`);
  lines.push('', '## Error codes', '', '| code | name |', '|---|---|');
  for (const [name, code] of Object.entries(ErrorCode)) lines.push(`| ${code} | ${name} |`);
  lines.push('');
  return lines.join('\n');
}
