// 140 columns, 4-space indent: the code is written to long lines (one error message, one assertion, one
// resource input per line); at 120 columns twice as many lines would be rewrapped (1,535 lines over 120 against
// 933 over 140 before the first format), splitting the exact-input assertions the tests read as one line each.
// JSON and YAML keep the 2 spaces npm, Pulumi and GitHub write them with.
export default {
    printWidth: 140,
    tabWidth: 4,
    overrides: [{ files: ["*.json", "*.yaml", "*.yml"], options: { tabWidth: 2 } }],
};
