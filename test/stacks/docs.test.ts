/**
 * The README's configuration table documents exactly the keys the loader knows, with the defaults it applies.
 * (Pulumi.yaml is kept in step by test/program/stacks.test.ts.)
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { CONFIG_KEYS } from "../../stacks/load";
import { PROJECT_DIR } from "../../tools/plan/stackFile";

interface Row {
    readonly keys: string[];
    /** Backticked values of the default column, in order. */
    readonly defaults: string[];
}

/** The rows of the table under "## Configuration". */
function configurationTable(): Row[] {
    const readme = fs.readFileSync(path.join(PROJECT_DIR, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("\n## Configuration\n"));
    const lines = section.split("\n").slice(2);
    const rows: Row[] = [];
    for (const line of lines.slice(lines.findIndex((l) => l.startsWith("|---")) + 1)) {
        if (!line.startsWith("|")) {
            break;
        }
        const [keys, defaults] = line.split("|").slice(1, 3);
        const ticked = (cell: string) => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
        rows.push({ keys: ticked(keys), defaults: ticked(defaults) });
    }
    return rows;
}

/** How the table writes a default: lists as `[a, b]`, everything else as is. */
function written(value: unknown): string {
    return Array.isArray(value) ? `[${value.join(", ")}]` : String(value);
}

describe("README configuration table", () => {
    const rows = configurationTable();

    it("lists every key the loader knows, once, and no other", () => {
        const documented = rows.flatMap((r) => r.keys);
        assert.deepStrictEqual([...documented].sort(), Object.keys(CONFIG_KEYS).sort());
        assert.strictEqual(new Set(documented).size, documented.length, "a key is documented twice");
    });

    it("gives each key the default the loader applies", () => {
        const mismatches: string[] = [];
        for (const row of rows.filter((r) => r.defaults.length === r.keys.length)) {
            row.keys.forEach((key, i) => {
                const declared = CONFIG_KEYS[key]?.default;
                if (declared !== undefined && written(declared) !== row.defaults[i]) {
                    mismatches.push(`${key}: README says ${row.defaults[i]}, the loader uses ${written(declared)}`);
                }
            });
        }
        // Every key with a default is in a row that states its defaults one by one.
        for (const [key, decl] of Object.entries(CONFIG_KEYS)) {
            const row = rows.find((r) => r.keys.includes(key));
            if (decl.default !== undefined && row && row.defaults.length !== row.keys.length) {
                mismatches.push(`${key}: its row does not state one default per key`);
            }
        }
        assert.deepStrictEqual(mismatches, []);
    });
});
