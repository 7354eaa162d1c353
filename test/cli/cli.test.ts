import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { COMMAND as BENCH_BACKUP } from "../../bench/backup";
import { COMMAND as BENCH_PLAN } from "../../bench/plan";
import { COMMAND as BENCH_PODS } from "../../bench/pods";
import { COMMAND as BENCH_POOL } from "../../bench/pool";
import { COMMAND as BENCH_STANDBY } from "../../bench/standby";
import { COMMAND as BENCH_VECTOR } from "../../bench/vector";
import { Command, Flag, UsageError, help, integerFlag, integerListFlag, parseCommand, usage } from "../../cli/cli";
import { FORWARD_COMMAND } from "../../cli/forward";
import { GATE_COMMAND } from "../../cli/gate";
import { INIT_SQL_COMMAND } from "../../cli/initSql";
import { PLAN_COMMAND } from "../../cli/plan";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import { FAILOVER_COMMAND } from "../../cli/failover";
import { VERIFY_COMMAND } from "../../cli/verify";
import { docFiles } from "../support/docs";

/** Every command line tool, by its npm script. */
const COMMANDS: Record<string, Command<Record<string, Flag>>> = {
    plan: PLAN_COMMAND,
    gate: GATE_COMMAND,
    verify: VERIFY_COMMAND,
    "init-sql": INIT_SQL_COMMAND,
    forward: FORWARD_COMMAND,
    failover: FAILOVER_COMMAND,
    "bench:backup": BENCH_BACKUP,
    "bench:plan": BENCH_PLAN,
    "bench:pods": BENCH_PODS,
    "bench:pool": BENCH_POOL,
    "bench:standby": BENCH_STANDBY,
    "bench:vector": BENCH_VECTOR,
};

const SCRIPTS: Record<string, string> = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")).scripts;

/** The built JS an npm script runs (`tsc -p . && node build/cli/plan.js` → build/cli/plan.js). */
function scriptOf(npmScript: string): string {
    const m = /&& node (build\/\S+\.js)$/.exec(SCRIPTS[npmScript] ?? "");
    assert.ok(m, `package.json has no script ${npmScript} running a built file: ${SCRIPTS[npmScript]}`);
    return path.join(PROJECT_DIR, m[1]);
}

function run(npmScript: string, args: string[], env: Record<string, string> = {}) {
    return spawnSync(process.execPath, [scriptOf(npmScript), ...args], {
        encoding: "utf8",
        env: { ...process.env, ...env },
        timeout: 60_000,
    });
}

const FAILED: Record<string, string> = {
    plan: "plan failed",
    gate: "gate failed",
    verify: "verify failed to run",
    "init-sql": "init-sql failed",
};

/** Splits a shell word list as the documented lines write them (double quotes group). */
function words(line: string): string[] {
    return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

/**
 * Each documented command line: `npm run X -- args` in the README, every docs/*.md, the workflow and the tools' own header
 * comments, with placeholders (<name>, …, ${{ matrix.stack }}) filled in and optional parts ([--preview]) taken.
 */
function documentedCommandLines(): { where: string; script: string; args: string[] }[] {
    const sources = [
        ...docFiles(),
        ".github/workflows/policy.yml",
        ...["cli/plan.ts", "cli/gate.ts", "cli/verify.ts", "cli/initSql.ts", "cli/forward.ts", "cli/failover.ts"],
        ...fs
            .readdirSync(path.join(PROJECT_DIR, "bench"))
            .filter((f) => f.endsWith(".ts"))
            .map((f) => `bench/${f}`),
    ];
    const found: { where: string; script: string; args: string[] }[] = [];
    for (const file of sources) {
        const text = fs.readFileSync(path.join(PROJECT_DIR, file), "utf8");
        // In a source file, the command line its header opens with (` * npm run plan -- ...`).
        for (const line of text.split("\n").filter((l) => !file.endsWith(".ts") || l.startsWith(" * npm run "))) {
            for (const part of line.split(/ && |`/)) {
                const m = /npm run (?:-s )?([\w:-]+)(?: \[?-- (.*))?/.exec(part);
                if (!m || !(m[1] in COMMANDS) || m[2] === undefined) {
                    continue;
                }
                const args = m[2]
                    .replace(/\s+#.*$/, "")
                    .replace(/\s+\(.*\)\s*$/, "")
                    .split(/ [|>] /)[0]
                    .replace(/\$\{\{ matrix\.stack \}\}/g, "hanzo-k8s")
                    .replace(/<[^>]*>|…/g, "x")
                    .replace(/[[\]]/g, "");
                found.push({ where: `${file}: ${line.trim()}`, script: m[1], args: words(args) });
            }
        }
    }
    return found;
}

describe("command lines: node:util parseArgs for every tool and bench, --help, exit 2 on a bad flag", () => {
    it("every file that reads process.argv declares its command line through cli/cli", () => {
        const dirs = ["cli", "test/harness", "bench", "index.ts", "program.ts", "components", "stacks", "render", "policies"];
        const walk = (p: string): string[] => {
            const full = path.join(PROJECT_DIR, p);
            if (fs.statSync(full).isDirectory()) {
                return fs.readdirSync(full).flatMap((f) => (f === "node_modules" ? [] : walk(path.join(p, f))));
            }
            return p.endsWith(".ts") ? [p] : [];
        };
        const files = dirs.flatMap(walk);
        const readers = files.filter((f) => fs.readFileSync(path.join(PROJECT_DIR, f), "utf8").includes("process.argv"));
        assert.deepStrictEqual(readers, ["cli/cli.ts"]);
        const mains = files.filter((f) => /require\.main === module/.test(fs.readFileSync(path.join(PROJECT_DIR, f), "utf8")));
        assert.deepStrictEqual(
            mains.sort(),
            Object.values(SCRIPTS)
                .flatMap((s) => /node build\/(\S+)\.js/.exec(s)?.[1] ?? [])
                .map((f) => `${f}.ts`)
                .sort(),
        );
    });

    for (const [script, cmd] of Object.entries(COMMANDS)) {
        it(`${script}: --help prints the usage and every flag (exit 0); an unknown flag exits 2 naming it`, () => {
            const h = run(script, ["--help"]);
            assert.strictEqual(h.status, 0, h.stderr);
            assert.strictEqual(h.stdout, help(cmd));
            assert.ok(h.stdout.startsWith(`usage: npm run ${script} --`), h.stdout);
            for (const name of Object.keys(cmd.flags)) {
                assert.match(h.stdout, new RegExp(`^  --${name}\\b`, "m"));
            }
            assert.strictEqual(run(script, ["-h"]).stdout, h.stdout);
            const bad = run(script, ["--no-such-flag=hunter2"]);
            assert.strictEqual(bad.status, 2, bad.stderr);
            assert.strictEqual(bad.stdout, "");
            assert.strictEqual(
                bad.stderr,
                `${FAILED[script] ?? `${script} failed`}: unknown flag --no-such-flag\n${usage(cmd)} (--help says more)\n`,
            );
        });
    }

    it("every documented command line parses (README, docs/*.md, workflow, the tools' headers)", () => {
        const lines = documentedCommandLines();
        for (const file of ["docs/operations.md", "docs/backups.md", "docs/policies.md", "docs/vector-search.md"]) {
            assert.ok(
                lines.some((l) => l.where.startsWith(`${file}: `)),
                `no command line of ${file} was parsed`,
            );
        }
        for (const script of ["plan", "gate", "verify", "init-sql", "bench:vector", "bench:backup", "bench:pool"]) {
            assert.ok(
                lines.some((l) => l.script === script && l.args.length > 0),
                `no documented command line of ${script} with arguments`,
            );
        }
        for (const l of lines) {
            assert.doesNotThrow(() => parseCommand(COMMANDS[l.script], l.args), `${l.where} → ${JSON.stringify(l.args)}`);
        }
        assert.deepStrictEqual(parseCommand(PLAN_COMMAND, ["--stack", "hanzo-k8s", "--json", "--preview"])!.values, {
            stack: "hanzo-k8s",
            json: true,
            out: undefined,
            policy: false,
            preview: true,
            from: undefined,
            live: undefined,
            "cli-version": undefined,
        });
        assert.deepStrictEqual(parseCommand(GATE_COMMAND, ["plan.json", "--config=pack.json"]), {
            values: { config: "pack.json", preview: false },
            positionals: ["plan.json"],
        });
    });

    it("usage errors name the flag and say what to type", () => {
        const cases: [Command<Record<string, Flag>>, string[], string][] = [
            [PLAN_COMMAND, [], "--stack is required; stacks: dev, hanzo-k8s, lux-k8s, staging, test"],
            [PLAN_COMMAND, ["--stack"], "--stack needs a value: --stack <name>"],
            [PLAN_COMMAND, ["--stack", "--json"], "--stack needs a value: --stack <name>"],
            [PLAN_COMMAND, ["--stack", "dev", "--out="], "--out needs a value: --out <dir>"],
            [PLAN_COMMAND, ["--stack", "dev", "--json=false"], "--json takes no value"],
            [PLAN_COMMAND, ["--stack", "dev", "extra"], 'unexpected argument "extra": this command takes flags only'],
            [PLAN_COMMAND, ["--stack", "dev", "-x"], "unknown flag -x"],
            [PLAN_COMMAND, ["--constructor"], "unknown flag --constructor"],
            [PLAN_COMMAND, ["--__proto__"], "unknown flag --__proto__"],
            [PLAN_COMMAND, ["--no-json"], "unknown flag --no-json"],
            [INIT_SQL_COMMAND, ["--stack", "dev", "--passwords", "plain"], '--passwords takes one of omit, env, not "plain"'],
            [GATE_COMMAND, [], "<plan.json> is required"],
            [GATE_COMMAND, ["a.json", "b.json"], 'unexpected argument "b.json"'],
            [GATE_COMMAND, ["a.json", "--config"], "--config needs a value: --config <pack-config.json>"],
        ];
        for (const [cmd, argv, message] of cases) {
            assert.throws(
                () => parseCommand(cmd, argv),
                (e: Error) => e instanceof UsageError && e.message === message,
                `${cmd.name} ${argv.join(" ")}`,
            );
        }
        // A value starting with a dash is still a value when written --flag=value.
        assert.strictEqual(parseCommand(PLAN_COMMAND, ["--stack", "dev", "--out=-dir"])!.values.out, "-dir");
        assert.strictEqual(parseCommand(PLAN_COMMAND, ["--help"]), undefined, "--help wins over a missing required flag");
    });

    it("numbers of the benches: whole and positive, lists comma-separated", () => {
        assert.strictEqual(integerFlag("rows", undefined, 330_000), 330_000);
        assert.strictEqual(integerFlag("rows", "1000", 330_000), 1000);
        for (const bad of ["", "0", "1e5", "1.5", "-3", "12x", "99999999999999999999"]) {
            assert.throws(() => integerFlag("rows", bad, 1), new UsageError(`--rows takes a whole number of at least 1, not "${bad}"`));
        }
        assert.deepStrictEqual(integerListFlag("ef-search", "40, 100", []), [40, 100]);
        assert.deepStrictEqual(integerListFlag("ef-search", undefined, [20]), [20]);
        assert.throws(() => integerListFlag("ef-search", "40,,100", []), /--ef-search takes a whole number/);
        const vector = run("bench:vector", ["--sections", "semantic,everything"]);
        assert.strictEqual(vector.status, 2);
        assert.match(vector.stderr, /^bench:vector failed: --sections takes matrix, semantic, lookup, build, not everything\n/);
        const pool = run("bench:pool", ["--seconds", "soon"]);
        assert.strictEqual(pool.status, 2);
        assert.match(pool.stderr, /^bench:pool failed: --seconds takes a whole number of at least 1, not "soon"\n/);
    });

    it("a password on the command line is never echoed: unknown flag values, stray URLs (verify)", () => {
        const secret = "s3cr3t-Pa55";
        for (const args of [
            ["--stack", "test", `--ur=postgresql://hanzo:${secret}@127.0.0.1:1/postgres`],
            ["--stack", "test", `postgresql://hanzo:${secret}@127.0.0.1:1/postgres`],
            ["--stack", "test", `--password=${secret}`],
        ]) {
            const r = run("verify", args);
            assert.strictEqual(r.status, 2, r.stderr);
            assert.match(r.stderr, /^verify failed to run: /);
            assert.ok(!(r.stdout + r.stderr).includes(secret), r.stderr);
        }
    });
});
