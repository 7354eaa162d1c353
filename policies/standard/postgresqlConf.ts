/**
 * postgresql.conf: rendered from the standard's settings for a pod's memory limit, and parsed back (the
 * policy pack and the live verifier read the rendered text, so a hand-edited ConfigMap is checked too).
 */
import { Setting, serverSettings } from "./settings";

/** The postgresql.conf text for a pod with this memory limit. */
export function renderPostgresqlConf(memoryLimitBytes: number, settings: Setting[] = serverSettings(memoryLimitBytes)): string {
    const lines = [
        "# postgresql.conf rendered by hanzo-sql from the Hanzo SQL standard (HIP-29 §Configuration).",
        "# Edit the stack configuration, not this file: a change here is overwritten and rolls the pod.",
        "",
    ];
    const width = Math.max(...settings.map((s) => `${s.name} = ${s.value}`.length));
    for (const s of settings) {
        lines.push(`${`${s.name} = ${s.value}`.padEnd(width)}  # ${s.why}`);
    }
    return lines.join("\n") + "\n";
}

/** name → raw value (quotes kept) of every setting in a postgresql.conf text; later lines win, as in PostgreSQL. */
export function parsePostgresqlConf(text: string): Map<string, string> {
    const settings = new Map<string, string>();
    for (const rawLine of text.split("\n")) {
        const line = stripComment(rawLine).trim();
        if (line === "") {
            continue;
        }
        const m = /^([A-Za-z_][A-Za-z0-9_.]*)\s*(?:=\s*|\s+)(.*)$/.exec(line);
        if (m) {
            settings.set(m[1].toLowerCase(), m[2].trim());
        }
    }
    return settings;
}

/** Removes a trailing `# comment`, leaving a `#` inside a quoted value alone. */
function stripComment(line: string): string {
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
        if (line[i] === "'") {
            quoted = !quoted;
        } else if (line[i] === "#" && !quoted) {
            return line.slice(0, i);
        }
    }
    return line;
}
