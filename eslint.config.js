// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', '.local/**', 'test-results/**', 'playwright-report/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.property.name='only']", message: 'No .only in committed tests.' },
        { selector: "CallExpression[callee.property.name='skip']", message: 'No skipped tests.' },
      ],
    },
  },
  {
    // The protocol core is shared by the browser wallet and the Node hub: no DOM, storage or provider.
    // Its tests may use ethers as an independent reference implementation.
    files: ['core/**/*.ts'],
    ignores: ['core/**/*.test.ts', 'core/src/testing/ethers-reference.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['dexie', 'ethers', 'ethers/*', 'node:*', '../wallet/*', '../hub/*'] },
      ],
      'no-restricted-globals': ['error', 'window', 'document', 'indexedDB', 'localStorage', 'fetch'],
    },
  },
);
