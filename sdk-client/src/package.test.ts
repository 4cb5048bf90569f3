import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const src = new URL('./', import.meta.url);
const sources = readdirSync(src).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

describe('the package', () => {
  it('has no runtime dependencies: its sources import only each other', () => {
    expect(sources).toContain('schema.ts');
    for (const file of sources) {
      const text = readFileSync(new URL(file, src), 'utf8');
      const specifiers = [...text.matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'/g)].map((m) => m[1] ?? m[2]);
      for (const specifier of specifiers) expect(specifier, `${file} imports ${specifier}`).toMatch(/^\.\/[\w-]+\.ts$/);
    }
  });

  it('is an ESM package with typed exports from dist and no dependencies', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', src), 'utf8')) as Record<string, unknown>;
    const root = JSON.parse(readFileSync(new URL('../../package.json', src), 'utf8')) as { version: string };
    expect(pkg).toMatchObject({
      name: '@channel-wallet/sdk-client',
      version: root.version,
      type: 'module',
      exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } },
      files: ['dist'],
      sideEffects: false,
    });
    expect(pkg).not.toHaveProperty('dependencies');
  });
});
