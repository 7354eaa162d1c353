// eslint 9 flat config: typescript-eslint's recommended rules over every TypeScript file of the program, the
// policy pack (linted from here: it has no config of its own), the tools, the benches and the tests; a few
// type-aware rules where a mistake is silent at run time (a promise nobody awaits, an async callback where a
// sync one is expected); formatting is prettier's alone (eslint-config-prettier turns off every rule it owns).
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import tseslint from "typescript-eslint";

/** no-restricted-imports for `files`: each group is [gitignore-style patterns of import paths, the message]. */
function boundary(files, groups) {
    return { files, rules: { "no-restricted-imports": ["error", { patterns: groups.map(([group, message]) => ({ group, message })) }] } };
}
const NO_CLI = [["**/cli", "**/cli/**"], "the program never imports the CLIs (cli/)"];
const NO_TEST = [["**/test", "**/test/**"], "the program and the CLIs never import the tests or their harness (test/)"];
const NO_STACKS = [["**/stacks", "**/stacks/**"], "renderers never import the configuration layer (stacks/): take plain typed inputs"];
const OWN_PACK = "the policy pack publishes alone: it imports nothing from outside policies/";

export default tseslint.config(
    {
        // Build output, dependencies and what the tools write (plan files, Prisma's generated client).
        ignores: ["build/", "**/node_modules/", "out/", ".pulumi/", "test/clients/prisma/generated/"],
    },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            // A promise nobody awaits loses its rejection: under the Pulumi mocks that surfaces in another test.
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-misused-promises": "error",
            "@typescript-eslint/await-thenable": "error",
            "@typescript-eslint/no-unnecessary-type-assertion": "error",
            "@typescript-eslint/only-throw-error": "error",
            // `_` marks a parameter an interface requires but the implementation does not use (tsc's
            // noUnusedParameters already checks the rest).
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
            // tools/ and test/ load built modules and optional ones by path at run time.
            "@typescript-eslint/no-require-imports": ["error", { allow: ["^\\.\\.?/", "/build/"] }],
        },
    },
    // The house's boundaries (issue 20): what users run (cli/) and what tests run (test/) stay out of the program;
    // the CLIs never load the test harness; renderers (render/, its pod builders in render/pods/) never read the
    // configuration layer (stacks/); the policy pack (policies/) loads nothing from outside it, as it publishes
    // alone. test/house/imports.test.ts checks the same on the resolved import graph (require() included), and
    // that the graph has no cycle.
    boundary(["index.ts", "program.ts", "components/**/*.ts", "stacks/**/*.ts"], [NO_CLI, NO_TEST]),
    boundary(["render/**/*.ts"], [NO_CLI, NO_TEST, NO_STACKS]),
    boundary(["cli/**/*.ts"], [NO_TEST]),
    boundary(["policies/*.ts"], [[["../*"], OWN_PACK]]),
    boundary(["policies/standard/**/*.ts"], [[["../../*"], OWN_PACK]]),
    {
        // Tests read what the mocks registered and what real servers answered: untyped by nature, asserted exactly.
        files: ["test/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
    {
        files: ["**/*.mjs", "**/*.js"],
        ...tseslint.configs.disableTypeChecked,
    },
    {
        // CommonJS configuration (the test tiers' mocha configs, test/tiers/).
        files: ["**/*.cjs"],
        ...tseslint.configs.disableTypeChecked,
        languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable" } },
        rules: { ...tseslint.configs.disableTypeChecked.rules, "@typescript-eslint/no-require-imports": "off" },
    },
    prettier,
);
