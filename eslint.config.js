import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['native/*/build/', 'dist/', 'dist-bench/', 'node_modules/', 'data/', 'web/dist/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // The native addon's loader is a CommonJS package (native/malloc-trim).
  { files: ['native/**/*.js'], languageOptions: { sourceType: 'commonjs' }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
  {
    ignores: ['src/adapters/db/sqlite-driver.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'better-sqlite3', allowTypeImports: true, message: 'Load SQLite from src/adapters/db/sqlite-driver.ts: it picks the release this Node.js can run.' }, { name: 'better-sqlite3-napi', message: 'Load SQLite from src/adapters/db/sqlite-driver.ts.' }] },
      ],
    },
  },
);
