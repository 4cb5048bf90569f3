import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderRpcReference } from './schema-doc.ts';

describe('docs/rpc.md', () => {
  it('is the reference rendered from the schema (run `npm run docs:rpc` after changing the schema)', () => {
    const onDisk = readFileSync(new URL('../../docs/rpc.md', import.meta.url), 'utf8');
    expect(onDisk).toBe(renderRpcReference());
  });
});
