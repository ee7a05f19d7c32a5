// Lint: neostandard (the standard style, with TypeScript), plus the type-aware rules that catch
// a promise nobody awaits or handles. `npm test` runs it.
import neostandard from 'neostandard'
import tseslint from 'typescript-eslint'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', '.tap/**', 'bench/results/**', 'scratch/**'] }),
  {
    rules: {
      // `void promise` is how a promise is marked as handled elsewhere (no-floating-promises).
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // tap's subtests are run by tap itself, whether or not the file awaits them.
        allowForKnownSafePromises: [{ from: 'package', package: '@tapjs/core', name: 'PromiseWithSubtest' }]
      }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      // A TypeBox schema and its static type share a name on purpose (`const X = Type...;
      // type X = Static<typeof X>`); the compiler catches real redeclarations.
      '@typescript-eslint/no-redeclare': 'off'
    }
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests wait in loops on flags that a promise's callback sets while the loop awaits.
      'no-unmodified-loop-condition': 'off',
      // Browser tests send a function's source to run in the page.
      'no-new-func': 'off'
    }
  }
]
