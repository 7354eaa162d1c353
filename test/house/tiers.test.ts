import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";

/** The test tiers (test/tiers/tiers.cjs): every test file in exactly one, the unit tier free of servers and pods. */
const { TIERS } = require("../../../test/tiers/tiers.cjs") as { TIERS: Record<string, { spec: string[]; ignore?: string[] }> };
const ROOT = path.resolve(__dirname, "..", "..", "..");

/** A glob of the tiers (`**` any folders, `*` within a name) as a regular expression. */
function globRegExp(glob: string): RegExp {
    const body = glob
        .split("/")
        .map((part) => (part === "**" ? "(?:[^/]+/)*" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*") + "/"))
        .join("");
    return new RegExp(`^${body.slice(0, -1)}$`);
}

function testFiles(dir = "build/test"): string[] {
    return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
        const rel = `${dir}/${e.name}`;
        return e.isDirectory() ? testFiles(rel) : e.name.endsWith(".test.js") ? [rel] : [];
    });
}

/** The tiers a built test file is in. */
function tiersOf(file: string): string[] {
    return Object.entries(TIERS)
        .filter(([, t]) => t.spec.some((g) => globRegExp(g).test(file)) && !(t.ignore ?? []).some((g) => globRegExp(g).test(file)))
        .map(([name]) => name);
}

describe("the house: test tiers", () => {
    it("matches the tiers' globs as mocha does (the matcher itself)", () => {
        assert.ok(globRegExp("build/test/db/**/*.test.js").test("build/test/db/server.test.js"));
        assert.ok(globRegExp("build/test/db/**/*.test.js").test("build/test/db/a/b.test.js"));
        assert.ok(!globRegExp("build/test/db/**/*.test.js").test("build/test/dbx/server.test.js"));
        assert.ok(!globRegExp("build/test/standard/once.test.js").test("build/test/standard/onceXtest.js"));
    });

    it("puts every test file in exactly one tier, so the tiers together are `npm test`", () => {
        const files = testFiles();
        assert.ok(files.length > 50, `${files.length} test files`);
        const wrong = files.map((f) => [f, tiersOf(f)] as const).filter(([, t]) => t.length !== 1);
        assert.deepStrictEqual(
            wrong.map(([f, t]) => `${f}: ${t.length === 0 ? "in no tier" : t.join(", ")}`),
            [],
        );
    });

    it("keeps the unit tier free of servers and pods: none of its tests loads the harness or the server helpers", () => {
        const unit = testFiles().filter((f) => tiersOf(f).includes("unit"));
        const loads = unit.filter((f) => {
            const text = fs.readFileSync(path.join(ROOT, f), "utf8");
            return /require\("[./]*(?:harness\/(?:pg|local|pod\/runner)|support\/(?:db|pods))/.test(text);
        });
        assert.deepStrictEqual(loads, []);
    });
});
