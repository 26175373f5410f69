// @ts-check
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const nodeGlobals = Object.fromEntries(
  [
    'process', 'console', 'Buffer', 'URL', 'fetch', 'performance', 'TextDecoder', 'TextEncoder', 'AbortController',
    'AbortSignal', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'queueMicrotask',
    'structuredClone',
  ].map((name) => [name, 'readonly']),
)

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'helm/', 'bench-results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: nodeGlobals },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  // TypeScript checks names itself.
  { files: ['**/*.ts'], rules: { 'no-undef': 'off' } },
)
