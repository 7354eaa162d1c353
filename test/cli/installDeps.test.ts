import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import { COMMAND_PACKAGES, NOT_COMMANDS, PREREQUISITES, SPAWN_EXPRESSIONS, WRAPPED } from "../harness/commands";

/**
 * A fresh machine runs every test (issue 22, point 6): every command the tests, the harness, the benchmarks
 * and the CLI run is in test/harness/commands.ts with its Debian package, and scripts/install-test-deps.sh
 * installs that package unless every Debian system has it.
 */
const PG_BIN = "/usr/lib/postgresql/15/bin";
const PATH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", PG_BIN];
const INSTALL_SCRIPT = path.join(PROJECT_DIR, "scripts", "install-test-deps.sh");
/** The shell scripts the tests run: the backup scripts (in pods and on the host), the image stand-in's entrypoint, the install script. */
const SHELL_SCRIPTS = [
    ...fs.readdirSync(path.join(PROJECT_DIR, "render", "scripts")).map((f) => path.join("render", "scripts", f)),
    "test/harness/pod/docker-entrypoint.sh",
    "scripts/install-test-deps.sh",
];
/** TypeScript that holds shell run by a test (`bash -c`): the admin password's init container. */
const INLINE_SHELL = ["render/adminPassword.ts"];
const SHELL_WORDS = new Set(
    "if then else elif fi for while until do done case esac in function select time return local export readonly declare set unset shift exit trap source eval exec true false echo printf read cd test wait break continue type command builtin let kill".split(
        " ",
    ),
);

function sources(dir: string, ext: string): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(path.join(PROJECT_DIR, dir), { withFileTypes: true })) {
        const rel = path.join(dir, entry.name);
        if (entry.isDirectory() && entry.name !== "node_modules") {
            out.push(...sources(rel, ext));
        } else if (entry.isFile() && entry.name.endsWith(ext)) {
            out.push(rel);
        }
    }
    return out;
}

/** Every executable of that name on this machine (PATH, then PostgreSQL's bin). */
function whichAll(command: string): string[] {
    return PATH_DIRS.map((d) => path.join(d, command)).filter((p) => {
        try {
            return fs.statSync(p).isFile() && (fs.statSync(p).mode & 0o111) !== 0;
        } catch {
            return false;
        }
    });
}

const which = (command: string): string | undefined => whichAll(command)[0];

/** Command → where it is run, for every command the TypeScript spawns (first arguments, and pod execs). */
function spawnedByTypeScript(found: Map<string, Set<string>>, unknown: string[]): void {
    const add = (command: string, where: string) => found.set(command, (found.get(command) ?? new Set()).add(where));
    for (const file of [...sources("test", ".ts"), ...sources("bench", ".ts"), ...sources("cli", ".ts")]) {
        const text = fs.readFileSync(path.join(PROJECT_DIR, file), "utf8");
        for (const m of text.matchAll(/\b(?:execFileSync|execFile|spawnSync|spawn|execSync)\(\s*([^,]+?)\s*,/g)) {
            const arg = m[1];
            const where = `${file}:${text.slice(0, m.index).split("\n").length}`;
            const literal = /^["'`]([\w.+-]+)["'`]$/.exec(arg) ?? /^`\$\{PG_BIN\}\/([\w.+-]+)`$/.exec(arg);
            if (literal) {
                add(literal[1], where);
            } else if (arg in SPAWN_EXPRESSIONS) {
                SPAWN_EXPRESSIONS[arg].forEach((c) => add(c, where));
            } else {
                unknown.push(`${where}: ${arg}`);
            }
        }
        // A container's exec in the pod runner: an exec call whose argv array starts with a literal.
        for (const m of text.matchAll(/\bexec\(\s*\[\s*"([\w.+-]+)"/g)) {
            add(m[1], `${file}:${text.slice(0, m.index).split("\n").length}`);
        }
    }
}

/**
 * Commands at a command position of shell text (after a line start, `|`, `&&`, `||`, `;`, `$(`, a backtick,
 * `{`, `(`, `then`, `do`, `else`, leading assignments and `!`/`exec`/`if`/`while`), kept when an executable of
 * that name is on this machine: that leaves the words of SQL, awk programs and messages out.
 */
function shellCommands(text: string): string[] {
    const out = new Set<string>();
    // Array assignments (`missing+=(pkg …)`) hold words, not commands.
    for (const raw of text.replace(/\b\w+\+?=\([^()$]*\)/g, "").split("\n")) {
        const line = raw.replace(/(^|\s)#.*$/, "");
        for (const segment of line.split(/\|\||&&|[|;{(`]|\$\(|\bthen\b|\bdo\b|\belse\b/)) {
            const words = segment.trim().split(/\s+/);
            while (
                words.length > 0 &&
                (/^[A-Za-z_]\w*=/.test(words[0]) || ["!", "exec", "command", "if", "while", "until", "elif"].includes(words[0]))
            ) {
                words.shift();
            }
            const word = (words[0] ?? "").replace(/[)"']+$/, "");
            if (/^[A-Za-z][\w.+-]*$/.test(word) && !SHELL_WORDS.has(word) && !(word in NOT_COMMANDS) && which(word) !== undefined) {
                out.add(word);
            }
        }
    }
    return [...out];
}

/** The packages install-test-deps.sh installs: every word of its `missing+=(…)` lines, PG_MAJOR as 15. */
function installedByScript(): Set<string> {
    const text = fs.readFileSync(INSTALL_SCRIPT, "utf8");
    return new Set(
        [...text.matchAll(/missing\+=\(([^)]*)\)/g)].flatMap((m) =>
            m[1]
                .replace(/"?\$\{PG_MAJOR\}"?/g, "15")
                .replace(/"/g, "")
                .split(/\s+/)
                .filter(Boolean),
        ),
    );
}

function dpkgField(pkg: string, field: string): string {
    return spawnSync("dpkg-query", ["-W", `-f=\${${field}}`, pkg], { encoding: "utf8" }).stdout.trim();
}

describe("scripts/install-test-deps.sh installs every command the tests run", () => {
    const found = new Map<string, Set<string>>();
    const unknown: string[] = [];
    before(() => {
        spawnedByTypeScript(found, unknown);
        for (const [command, file] of Object.entries(WRAPPED)) {
            if (fs.readFileSync(path.join(PROJECT_DIR, file), "utf8").includes(`"${command}"`)) {
                found.set(command, (found.get(command) ?? new Set()).add(file));
            }
        }
        for (const file of [...SHELL_SCRIPTS, ...INLINE_SHELL]) {
            for (const c of shellCommands(fs.readFileSync(path.join(PROJECT_DIR, file), "utf8"))) {
                found.set(c, (found.get(c) ?? new Set()).add(file));
            }
        }
    });

    it("knows what every spawn runs: a literal command, or an expression listed with its commands", () => {
        assert.deepStrictEqual(unknown, []);
    });

    it("lists every command found, with its package, and nothing that is no longer run", () => {
        const missing = [...found.keys()].filter((c) => !(c in COMMAND_PACKAGES) && !(c in PREREQUISITES));
        assert.deepStrictEqual(
            missing.map((c) => `${c} (${[...found.get(c)!].join(", ")})`),
            [],
            "add these to COMMAND_PACKAGES in test/harness/commands.ts",
        );
        const stale = Object.keys(COMMAND_PACKAGES).filter((c) => !found.has(c));
        assert.deepStrictEqual(stale, [], "no source runs these any more");
    });

    it("names, for each command, the package that holds it on this machine (dpkg -S)", () => {
        // Either copy (PostgreSQL's own bin, or Debian's wrapper on PATH), by its path or its target, /usr-merged or
        // not. PgBouncer's binary is built from the newer suite; Debian's package of the same command is beside it.
        const paths = (command: string) =>
            (command === "pgbouncer" ? ["/usr/sbin/pgbouncer"] : whichAll(command))
                .flatMap((p) => [p, fs.realpathSync(p)])
                .flatMap((p) => [p, p.replace(/^\/usr\//, "/")]);
        const all = [...new Set(Object.keys(COMMAND_PACKAGES).flatMap(paths))];
        // One query for all: "pkg[, pkg]: path" per path some package holds (the others go to stderr).
        const owners = new Map<string, string[]>();
        for (const line of spawnSync("dpkg", ["-S", ...all], { encoding: "utf8" })
            .stdout.split("\n")
            .filter(Boolean)) {
            const at = line.indexOf(": ");
            owners.set(
                line.slice(at + 2),
                line
                    .slice(0, at)
                    .split(", ")
                    .map((p) => p.replace(/:[\w-]+$/, "")),
            );
        }
        for (const [command, pkg] of Object.entries(COMMAND_PACKAGES)) {
            const at = paths(command);
            assert.ok(at.length > 0, `${command} is not installed here`);
            const held = [...new Set(at.flatMap((p) => owners.get(p) ?? []))];
            assert.ok(held.includes(pkg), `${command} (${at.join(", ")}) belongs to ${held.join(", ") || "no package"}, not ${pkg}`);
        }
    });

    it("installs each package, unless every Debian system has it (Essential, or Priority required)", () => {
        const script = installedByScript();
        assert.ok(script.has("shellcheck"), "test/db/backup.test.ts runs shellcheck");
        const notInstalled = [...new Set(Object.values(COMMAND_PACKAGES))].filter(
            (pkg) => !script.has(pkg) && dpkgField(pkg, "Essential") !== "yes" && dpkgField(pkg, "Priority") !== "required",
        );
        assert.deepStrictEqual(notInstalled, [], "add these to scripts/install-test-deps.sh");
    });
});
