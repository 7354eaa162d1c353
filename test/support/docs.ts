/**
 * Reading the docs as a test needs them: the Markdown files (README.md and docs/*.md), a section by its heading,
 * the shell blocks of a procedure (so a test runs the steps exactly as written), headings and their anchors as
 * GitHub makes them, and the relative links.
 */
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";

/** README.md and every docs/*.md, as paths from the project's root. */
export function docFiles(): string[] {
    const docs = fs
        .readdirSync(path.join(PROJECT_DIR, "docs"))
        .filter((f) => f.endsWith(".md"))
        .sort()
        .map((f) => `docs/${f}`);
    return ["README.md", ...docs];
}

export function readDoc(file: string): string {
    return fs.readFileSync(path.join(PROJECT_DIR, file), "utf8");
}

const FENCE = /^\s*(```|~~~)/;

/** Each line with whether it is inside a fenced code block (the fence lines themselves count as inside). */
function linesWithFences(text: string): { line: string; code: boolean }[] {
    let inFence = false;
    return text.split("\n").map((line) => {
        if (FENCE.test(line)) {
            inFence = !inFence;
            return { line, code: true };
        }
        return { line, code: inFence };
    });
}

export interface Heading {
    level: number;
    /** As written, inline Markdown included (`code`, [links](x)). */
    text: string;
    line: number;
}

/** The ATX headings outside code blocks (a `# comment` in a shell block is none). */
export function headings(text: string): Heading[] {
    const found: Heading[] = [];
    linesWithFences(text).forEach(({ line, code }, i) => {
        const m = /^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
        if (!code && m) {
            found.push({ level: m[1].length, text: m[2], line: i });
        }
    });
    return found;
}

/**
 * The anchor GitHub gives a heading: github-slugger (Flet/github-slugger, the rule GitHub's renderer follows):
 * lowercased; every character removed that is in the Unicode categories its script/generate-regex.mjs lists
 * (Other_Number, every punctuation but the ASCII `-` and the connector `_`, every Symbol, Control, Private_Use,
 * Format, Unassigned, every Separator but the ASCII space) unless it is Alphabetic; each space becomes `-`.
 * The text is the heading as rendered: link targets and emphasis markers are not part of it. A slug already
 * taken in the file gets `-1`, `-2`, … (`slugs`, shared across one file's headings, keeps count).
 */
export function githubSlug(heading: string, slugs?: Map<string, number>): string {
    const rendered = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
    const removed = /[\p{No}\p{Pd}\p{Ps}\p{Pe}\p{Pi}\p{Pf}\p{Po}\p{S}\p{Cc}\p{Co}\p{Cf}\p{Cn}\p{Z}]/u;
    const base = [...rendered.toLowerCase()]
        .filter((c) => c === "-" || c === " " || /\p{Alphabetic}/u.test(c) || !removed.test(c))
        .join("")
        .replace(/ /g, "-");
    if (slugs === undefined) {
        return base;
    }
    let slug = base;
    while (slugs.has(slug)) {
        const n = slugs.get(base)! + 1;
        slugs.set(base, n);
        slug = `${base}-${n}`;
    }
    slugs.set(slug, 0);
    return slug;
}

/** Every anchor a file's headings get, in order. */
export function anchors(text: string): string[] {
    const slugs = new Map<string, number>();
    return headings(text).map((h) => githubSlug(h.text, slugs));
}

/**
 * The text of the section under `heading` (of any level), up to the next heading of the same or a higher level:
 * its subsections are part of it. Throws when the file has no such heading.
 */
export function section(text: string, heading: string): string {
    const all = headings(text);
    const at = all.findIndex((h) => h.text === heading);
    if (at < 0) {
        throw new Error(`no heading "${heading}"; headings: ${all.map((h) => h.text).join(" | ")}`);
    }
    const next = all.slice(at + 1).find((h) => h.level <= all[at].level);
    const lines = text.split("\n");
    return lines.slice(all[at].line + 1, next?.line ?? lines.length).join("\n");
}

/**
 * The fenced blocks of a language (```sh) in a text, in order, each without its fences and without the fence's
 * indentation (a block inside a numbered step is indented under it).
 */
export function codeBlocks(text: string, language: string): string[] {
    const blocks: string[] = [];
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
        const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]);
        if (!open) {
            continue;
        }
        const indent = open[1].length;
        const end = lines.findIndex((l, j) => j > i && /^\s*```\s*$/.test(l));
        if (end < 0) {
            throw new Error(`a code block opened at line ${i + 1} is never closed`);
        }
        if (open[2] === language) {
            blocks.push(
                lines
                    .slice(i + 1, end)
                    .map((l) => (l.slice(0, indent).trim() === "" ? l.slice(indent) : l))
                    .join("\n"),
            );
        }
        i = end;
    }
    return blocks;
}

/** The targets of the inline links outside code (fenced blocks and `code spans`), with their line. */
export function links(text: string): { target: string; line: number }[] {
    const found: { target: string; line: number }[] = [];
    linesWithFences(text).forEach(({ line, code }, i) => {
        if (code) {
            return;
        }
        const prose = line.replace(/`[^`]*`/g, "``");
        for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
            found.push({ target: m[1], line: i + 1 });
        }
    });
    return found;
}
