/**
 * postgresql.conf parsed (the policy pack and the live verifier read the rendered text, so a hand-edited
 * ConfigMap is checked too); render/postgresqlConf.ts renders it from the standard's settings.
 */
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
