/**
 * The docs a newcomer navigates: every relative link of README.md and docs/*.md reaches a file (or folder) of
 * the repository and, with `#anchor`, a heading of that file by GitHub's slug; every docs file opens with a
 * contents list of its sections; the README stays short.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import { anchors, codeBlocks, docFiles, githubSlug, headings, links, readDoc, section } from "../support/docs";

/** Every link of `files` (path → text) that reaches no file, or no heading of it, as `file:line: target (why)`. */
function linkProblems(files: Map<string, string>, exists: (p: string) => boolean): string[] {
    const problems: string[] = [];
    for (const [file, text] of files) {
        for (const { target, line } of links(text)) {
            if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
                continue; // https:, mailto: — not a file of the repository
            }
            const [rel, anchor] = target.split("#", 2);
            const to = rel === "" ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), rel));
            const where = `${file}:${line}: ${target}`;
            if (to.startsWith("../") || !exists(to)) {
                problems.push(`${where} (no file ${to})`);
                continue;
            }
            if (anchor !== undefined) {
                const targetText = files.get(to) ?? (to.endsWith(".md") ? fs.readFileSync(path.join(PROJECT_DIR, to), "utf8") : undefined);
                if (targetText === undefined) {
                    problems.push(`${where} (an anchor into ${to}, which is not Markdown)`);
                } else if (!anchors(targetText).includes(anchor)) {
                    problems.push(`${where} (no heading of ${to} has the anchor #${anchor})`);
                }
            }
        }
    }
    return problems;
}

/**
 * How a file's contents list differs from its headings: the list is every `- [text](#anchor)` line between the
 * title (`# …`) and the first section; each `##` heading is an entry, each `###` an entry indented under it, with
 * the heading's own text and its anchor.
 */
function contentsProblems(file: string, text: string): string[] {
    const all = headings(text);
    const lines = text.split("\n");
    if (all.length === 0 || all[0].level !== 1 || all[0].line !== 0) {
        return [`${file}: does not open with a title (# …)`];
    }
    const firstSection = all.find((h) => h.level > 1);
    const head = lines.slice(1, firstSection?.line ?? lines.length);
    const listed = head
        .filter((l) => /^\s*- /.test(l))
        .map((l) => {
            const m = /^( *)- \[(.*)\]\((#[^)]*)\)$/.exec(l);
            return m ? `${"  ".repeat(m[1].length / 2)}${m[2]} → ${m[3]}` : `not a contents entry: ${l}`;
        });
    const slugs = new Map<string, number>();
    const expected = all
        .map((h) => ({ h, slug: githubSlug(h.text, slugs) }))
        .filter(({ h }) => h.level > 1)
        .map(({ h, slug }) => (h.level > 3 ? undefined : `${"  ".repeat(h.level - 2)}${h.text} → #${slug}`))
        .filter((x): x is string => x !== undefined);
    if (listed.length === 0) {
        return [`${file}: no contents list before its first section`];
    }
    if (JSON.stringify(listed) !== JSON.stringify(expected)) {
        return [`${file}: contents list\n${listed.join("\n")}\nbut headings\n${expected.join("\n")}`];
    }
    return [];
}

describe("docs: links, anchors and contents lists a newcomer can follow", () => {
    const files = new Map(docFiles().map((f) => [f, readDoc(f)]));
    const exists = (p: string) => fs.existsSync(path.join(PROJECT_DIR, p));

    it("has the docs by topic, each one linked from the README", () => {
        const readme = files.get("README.md")!;
        const docs = [...files.keys()].filter((f) => f.startsWith("docs/"));
        for (const topic of ["operations", "configuration", "backups", "pooling", "vector-search", "policies", "departures", "testing"]) {
            assert.ok(docs.includes(`docs/${topic}.md`), `docs/${topic}.md is missing`);
        }
        for (const doc of docs) {
            assert.ok(
                links(readme).some((l) => l.target === doc),
                `README.md does not link ${doc}`,
            );
        }
    });

    it("keeps the README within 200 lines", () => {
        const lines = files.get("README.md")!.replace(/\n$/, "").split("\n").length;
        assert.ok(lines <= 200, `README.md has ${lines} lines`);
    });

    it("every relative link reaches an existing file, and every #anchor a heading of it", () => {
        const all = [...files.values()].flatMap((t) => links(t));
        assert.ok(all.length > 50, `only ${all.length} links found`);
        assert.deepStrictEqual(linkProblems(files, exists), []);
    });

    it("every docs file (and the README) opens with a contents list of its sections, in order", () => {
        assert.deepStrictEqual(
            [...files].flatMap(([file, text]) => contentsProblems(file, text)),
            [],
        );
    });

    it("finds a broken link, a missing anchor, a stale contents list", () => {
        const fake = new Map([
            ["README.md", "# T\n\n- [A](#a)\n\n## A\n\nSee [ops](docs/ops.md#day-2), [gone](docs/gone.md), [x](#nope), `[code](no.md)`.\n"],
            [
                "docs/ops.md",
                "# Ops\n\n- [Day 2](#day-2)\n  - [Rotate](#rotate)\n\n## Day 2\n\n```sh\n# not a heading\n```\n\n### Rotate it\n",
            ],
        ]);
        const inFake = (p: string) => fake.has(p);
        assert.deepStrictEqual(linkProblems(fake, inFake), [
            "README.md:7: docs/gone.md (no file docs/gone.md)",
            "README.md:7: #nope (no heading of README.md has the anchor #nope)",
            "docs/ops.md:4: #rotate (no heading of docs/ops.md has the anchor #rotate)",
        ]);
        assert.deepStrictEqual(contentsProblems("docs/ops.md", fake.get("docs/ops.md")!), [
            "docs/ops.md: contents list\nDay 2 → #day-2\n  Rotate → #rotate\nbut headings\nDay 2 → #day-2\n  Rotate it → #rotate-it",
        ]);
        assert.deepStrictEqual(contentsProblems("README.md", fake.get("README.md")!), []);
    });

    it("makes anchors as GitHub does", () => {
        const cases: [string, string][] = [
            ["Rotate a service's password", "rotate-a-services-password"],
            ["`destroy` or `refresh` with an expired token", "destroy-or-refresh-with-an-expired-token"],
            ["Day 0: adopt the running deployment", "day-0-adopt-the-running-deployment"],
            ["`PRISMA_PGBOUNCER_URL`", "prisma_pgbouncer_url"],
            ["One source: the schema, and what is generated from it", "one-source-the-schema-and-what-is-generated-from-it"],
            ["Change the image (extensions follow it)", "change-the-image-extensions-follow-it"],
            ["`bench:plan`", "benchplan"],
            ["Links to [the docs](docs/x.md) — and ≤ 10 ms", "links-to-the-docs--and--10-ms"],
            ["Émigré Straße", "émigré-straße"],
        ];
        assert.deepStrictEqual(
            cases.map(([h]) => githubSlug(h)),
            cases.map(([, s]) => s),
        );
        assert.deepStrictEqual(anchors("# A\n## Metrics\n## Metrics\n## Metrics-1\n## Metrics\n"), [
            "a",
            "metrics",
            "metrics-1",
            "metrics-1-1",
            "metrics-2",
        ]);
    });

    it("reads a procedure's shell blocks from its section, indented or not", () => {
        const text =
            "# T\n\n## Do it\n\n1. First:\n   ```sh\n   a \\\n     b\n   ```\n2. Then:\n\n```sh\nc\n```\n\n```sql\nd\n```\n\n## Next\n\n```sh\ne\n```\n";
        assert.deepStrictEqual(codeBlocks(section(text, "Do it"), "sh"), ["a \\\n  b", "c"]);
        assert.throws(() => section(text, "Missing"), /no heading "Missing"/);
    });
});
