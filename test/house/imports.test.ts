import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

/**
 * The house's shape on the resolved import graph of every TypeScript file (import, import type, export … from,
 * require): no cycle, and the boundaries eslint.config.mjs also states (eslint sees import paths as written; this
 * sees the files they resolve to, require() included).
 */
const ROOT = path.resolve(__dirname, "..", "..", "..");
const SKIP = new Set(["node_modules", "build", ".git", "out", ".pulumi", "generated"]);

function tsFiles(dir = ""): string[] {
    return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
        const rel = dir ? `${dir}/${e.name}` : e.name;
        if (e.isDirectory()) {
            return SKIP.has(e.name) || e.name.startsWith(".") ? [] : tsFiles(rel);
        }
        return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [rel] : [];
    });
}

/** The repository's files a file imports (relative imports resolved; packages left out). */
function importsOf(file: string): string[] {
    const info = ts.preProcessFile(fs.readFileSync(path.join(ROOT, file), "utf8"), true, true);
    return info.importedFiles
        .map((f) => f.fileName)
        .filter((name) => name.startsWith("."))
        .flatMap((name) => {
            const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), name));
            const found = [`${base}.ts`, `${base}/index.ts`, base].find((f) => f.endsWith(".ts") && fs.existsSync(path.join(ROOT, f)));
            return found ? [found] : [];
        });
}

/** The graph, by file. */
export function importGraph(): Map<string, string[]> {
    return new Map(tsFiles().map((f) => [f, importsOf(f)]));
}

/** Every cycle's strongly connected component (Tarjan), each as one cycle through its files. */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
    let next = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const found: string[][] = [];
    const visit = (v: string) => {
        index.set(v, next);
        low.set(v, next++);
        stack.push(v);
        onStack.add(v);
        for (const w of graph.get(v) ?? []) {
            if (!index.has(w)) {
                visit(w);
                low.set(v, Math.min(low.get(v)!, low.get(w)!));
            } else if (onStack.has(w)) {
                low.set(v, Math.min(low.get(v)!, index.get(w)!));
            }
        }
        if (low.get(v) === index.get(v)) {
            const scc: string[] = [];
            let w: string;
            do {
                w = stack.pop()!;
                onStack.delete(w);
                scc.push(w);
            } while (w !== v);
            if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) {
                found.push(cycleThrough(graph, new Set(scc), [...scc].sort()[0]));
            }
        }
    };
    for (const v of [...graph.keys()].sort()) {
        if (!index.has(v)) {
            visit(v);
        }
    }
    return found;
}

/** A shortest cycle from `start` back to it inside the component (breadth first). */
function cycleThrough(graph: ReadonlyMap<string, readonly string[]>, scc: ReadonlySet<string>, start: string): string[] {
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
        const v = queue.shift()!;
        for (const w of graph.get(v) ?? []) {
            if (w === start) {
                const path = [v];
                while (path[0] !== start) {
                    path.unshift(previous.get(path[0])!);
                }
                return [...path, start];
            }
            if (scc.has(w) && !previous.has(w)) {
                previous.set(w, v);
                queue.push(w);
            }
        }
    }
    return [start];
}

/**
 * The graph between the layers: the top-level folders (the root's files are `.`), and test/harness apart from
 * the tests (the benches use the harness, and the tests check the benches' command lines).
 */
export function folderGraph(graph: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
    const folder = (f: string) => (f.startsWith("test/harness/") ? "test/harness" : f.includes("/") ? f.slice(0, f.indexOf("/")) : ".");
    const folders = new Map<string, Set<string>>();
    for (const [from, tos] of graph) {
        const set = folders.get(folder(from)) ?? new Set<string>();
        tos.map(folder)
            .filter((to) => to !== folder(from))
            .forEach((to) => set.add(to));
        folders.set(folder(from), set);
    }
    return new Map([...folders].map(([f, tos]) => [f, [...tos].sort()]));
}

const PROGRAM = /^(index\.ts|program\.ts|components\/|stacks\/|render\/|policies\/)/;
/** [who, what they may not import, why]. */
const BOUNDARIES: readonly [RegExp, RegExp, string][] = [
    [PROGRAM, /^cli\//, "the program never imports the CLIs"],
    [PROGRAM, /^test\//, "the program never imports the tests or their harness"],
    [/^cli\//, /^test\//, "the CLIs never import the test harness (or the tests)"],
    [/^render\//, /^stacks\//, "renderers never import the configuration layer"],
    [/^policies\//, /^(?!policies\/)/, "the policy pack publishes alone: nothing from outside policies/"],
];

/** Every import that crosses a boundary, as `from -> to (why)`. */
export function crossings(graph: ReadonlyMap<string, readonly string[]>): string[] {
    return [...graph].flatMap(([from, tos]) =>
        tos.flatMap((to) =>
            BOUNDARIES.filter(([who, what]) => who.test(from) && what.test(to)).map(([, , why]) => `${from} -> ${to} (${why})`),
        ),
    );
}

describe("the house: the import graph", () => {
    const graph = importGraph();

    it("reads every TypeScript file of the repository and resolves its imports", () => {
        assert.ok(graph.size >= 140, `${graph.size} files`);
        assert.deepStrictEqual(graph.get("program.ts")?.includes("components/hanzoSql.ts"), true);
        // import type counts: a type-only cycle is still two files that cannot be understood apart.
        assert.deepStrictEqual(graph.get("stacks/spec.ts")?.includes("stacks/services.ts"), true);
    });

    it("has no import cycle", () => {
        assert.deepStrictEqual(
            cycles(graph).map((c) => c.join(" -> ")),
            [],
        );
    });

    it("has no cycle between the top-level folders (as stacks/ <-> render/ was)", () => {
        assert.deepStrictEqual(
            cycles(folderGraph(graph)).map((c) => c.join(" -> ")),
            [],
        );
        assert.deepStrictEqual(
            folderGraph(
                new Map([
                    ["render/a.ts", ["stacks/b.ts"]],
                    ["stacks/c.ts", ["render/d.ts"]],
                ]),
            ),
            new Map([
                ["render", ["stacks"]],
                ["stacks", ["render"]],
            ]),
        );
    });

    it("finds a cycle and names its files (the check itself)", () => {
        const g = new Map([
            ["a.ts", ["b.ts"]],
            ["b.ts", ["c.ts"]],
            ["c.ts", ["a.ts", "d.ts"]],
            ["d.ts", []],
            ["e.ts", ["e.ts"]],
        ]);
        assert.deepStrictEqual(cycles(g), [
            ["a.ts", "b.ts", "c.ts", "a.ts"],
            ["e.ts", "e.ts"],
        ]);
    });

    it("crosses no boundary: program ∌ cli/, test/; cli/ ∌ test/; render/ ∌ stacks/; policies/ only policies/", () => {
        assert.deepStrictEqual(crossings(graph), []);
    });

    it("names a crossing (the check itself)", () => {
        const g = new Map([
            ["render/x.ts", ["stacks/spec.ts", "policies/standard/rules.ts"]],
            ["cli/plan.ts", ["test/harness/pod/runner.ts", "program.ts"]],
            ["policies/standard/a.ts", ["render/labels.ts"]],
            ["test/harness/pg/server.ts", ["cli/cli.ts"]],
        ]);
        assert.deepStrictEqual(crossings(g), [
            "render/x.ts -> stacks/spec.ts (renderers never import the configuration layer)",
            "cli/plan.ts -> test/harness/pod/runner.ts (the CLIs never import the test harness (or the tests))",
            "policies/standard/a.ts -> render/labels.ts (the policy pack publishes alone: nothing from outside policies/)",
        ]);
    });
});
