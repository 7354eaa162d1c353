/**
 * Each rule of the standard has one definition, in policies/standard/: this test reads the project's own
 * source (the files git tracks) and fails on a second definition of a name the standard exports, or on a
 * constant written out again (type tokens, ports, storage defaults, unit tables, role attributes, the role
 * suffix, hand-written address parsing).
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";

const STANDARD = "policies/standard/";

/** Tracked TypeScript files, with comments removed (a comment may mention a value; code may not). */
function sources(): { file: string; code: string }[] {
    return execFileSync("git", ["ls-files", "*.ts"], { cwd: PROJECT_DIR, encoding: "utf8" })
        .split("\n")
        .filter((f) => f !== "" && !f.includes("node_modules/") && fs.existsSync(path.join(PROJECT_DIR, f)))
        .map((file) => ({ file, code: stripComments(fs.readFileSync(path.join(PROJECT_DIR, file), "utf8")) }));
}

/** Removes block comments and whole-line or trailing `//` comments (not `//` inside a string such as a URL). */
function stripComments(text: string): string {
    return text
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/^\s*\/\/.*$/gm, "")
        .replace(/\s\/\/ .*$/gm, "");
}

/** `file:line: text` of every line of `files` that matches. */
function occurrences(files: { file: string; code: string }[], pattern: RegExp): string[] {
    return files.flatMap(({ file, code }) =>
        code.split("\n").flatMap((line, i) => (pattern.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
}

describe("the standard's rules are written once (policies/standard/)", () => {
    const all = sources();
    const program = all.filter((s) => !s.file.startsWith("test/") && !s.file.startsWith(STANDARD));
    const tests = all.filter((s) => s.file.startsWith("test/"));
    const standard = all.filter((s) => s.file.startsWith(STANDARD));

    it("no name the standard exports is defined anywhere else", () => {
        const names = new Set(
            standard.flatMap(({ code }) => [...code.matchAll(/^export (?:const|function|class|interface|type) (\w+)/gm)].map((m) => m[1])),
        );
        assert.ok(names.has("networkProblem") && names.has("TYPES") && names.has("POSTGRES_PORT"), [...names].join(", "));
        const redefined = [...all.filter((s) => !s.file.startsWith(STANDARD))].flatMap(({ file, code }) =>
            [...code.matchAll(/^\s*(?:export )?(?:const|let|function|class|interface|type) (\w+)\b/gm)]
                .filter((m) => names.has(m[1]))
                .map((m) => `${file}: ${m[1]}`),
        );
        assert.deepStrictEqual(redefined, []);
        // Inside the standard, each name has one module.
        const definitions = standard.flatMap(({ file, code }) =>
            [...code.matchAll(/^export (?:const|function|class|interface|type) (\w+)/gm)].map((m) => `${m[1]} ${file}`),
        );
        const twice = [...names].filter((n) => definitions.filter((d) => d.startsWith(`${n} `)).length > 1);
        assert.deepStrictEqual(twice, []);
        // The rules the issue found copied, by their old names.
        assert.deepStrictEqual(
            occurrences(
                all.filter((s) => s.file !== "test/standard/once.test.ts"),
                /\b(tooWide|pgBytes|PG_UNITS)\b|(function|const) cidrProblem\b/,
            ),
            [],
        );
    });

    it("type tokens: only policies/standard/types.ts spells them in the program, and no test keeps a table of them", () => {
        const token =
            /["'`](kubernetes:[\w.-]+\/\w+|postgresql:index\/\w+|digitalocean:index\/\w+|random:index\/\w+|pulumi:providers):\w+["'`]/;
        assert.deepStrictEqual(occurrences(program, token), []);
        // A test may assert an exact token; it may not declare its own table of them.
        assert.deepStrictEqual(occurrences(tests, new RegExp(`^\\s*\\w+: ${token.source},?$`)), []);
    });

    it("ports, storage defaults and setting units: one definition each", () => {
        const exceptions = [
            // The port of a private Unix socket of a temporary server inside the init container, not the service's.
            "render/adminPassword.ts",
            // Usage text of the CLI (an example URL).
            "cli/verify.ts",
        ];
        assert.deepStrictEqual(
            occurrences(
                program.filter((s) => !exceptions.includes(s.file)),
                /\b(5432|6432|9187)\b/,
            ),
            [],
        );
        assert.deepStrictEqual(occurrences(program, /["'`](50Gi|do-block-storage)["'`]/), []);
        assert.deepStrictEqual(occurrences(program, /\bkB\b\s*[:=]|["'`]kB["'`]|\bmin: 60_?000\b/), []);
    });

    it("role attributes, the role suffix and address parsing live in the standard only", () => {
        assert.deepStrictEqual(occurrences(program, /["'`](pg_trgm|uuid-ossp)["'`]/), []);
        assert.deepStrictEqual(
            occurrences(program, /\b(rolsuper|rolcreaterole|rolcreatedb|rolreplication|rolbypassrls)\b|SUPERUSER, CREATEROLE|NOSUPERUSER/),
            [],
        );
        assert.deepStrictEqual(occurrences(program, /["'`]_user["'`]|\}_user\b/), []);
        // IPv4 octets or masks parsed by hand (ipaddr.js parses addresses in policies/standard/network.ts).
        assert.deepStrictEqual(occurrences(program, /\[0-9\]\{1,3\}\\\.|\.split\("\."\)\.reduce|>>> ?0\)\.toString\(2\)/), []);
    });
});

describe("the policies type Kubernetes objects with kubernetes-models", () => {
    const policies = sources().filter((s) => s.file.startsWith("policies/"));

    it("no `any` in the policies' code", () => {
        assert.deepStrictEqual(occurrences(policies, /(:|<|as|=>)\s*any\b|\bany\[\]|<any>/), []);
    });

    it("imports them as types only (nothing extra loads at run time), from the pack's own dependency at the root's version", () => {
        const imports = occurrences(policies, /from "(@?kubernetes-models[^"]*)"/);
        assert.ok(imports.length > 0);
        assert.deepStrictEqual(
            imports.filter((l) => !/: import type \{/.test(l)),
            [],
        );
        const own = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "policies", "package.json"), "utf8")).dependencies;
        const root = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8"));
        assert.strictEqual(own["kubernetes-models"], root.devDependencies["kubernetes-models"] ?? root.dependencies["kubernetes-models"]);
        assert.strictEqual(own["ipaddr.js"], root.dependencies["ipaddr.js"]);
    });
});
