/**
 * The command line of every tool and bench, declared once: `node:util` parseArgs reads it, `--help` is written
 * from the same declaration, and a usage error (an unknown flag, a flag without its value, a value out of its
 * choices, a missing required flag, an argument nobody takes) is reported on stderr with the usage line and
 * exit code 2, before the command does anything.
 */
import { parseArgs } from "node:util";

/** One flag of a command. */
export interface Flag {
    /** A string takes a value (`--stack dev` or `--stack=dev`); a boolean takes none. */
    readonly type: "string" | "boolean";
    /** What `--help` says it does. */
    readonly description: string;
    /** The value's placeholder in the usage line, e.g. `<name>` (strings only). */
    readonly value?: string;
    /** The command cannot run without it. */
    readonly required?: boolean;
    /** The only values it takes (strings only). */
    readonly choices?: readonly string[];
    /** What the usage error adds when a required flag is missing, e.g. the stacks there are. */
    readonly hint?: () => string;
}

/** A command: its name as typed, what it does, its flags and the positional arguments it takes. */
export interface Command<F extends Record<string, Flag>> {
    /** As the user types it, e.g. `npm run plan --`. */
    readonly name: string;
    /** One paragraph: what it does and what its exit codes mean. */
    readonly summary: string;
    readonly flags: F;
    /** The positional arguments, in order (each optional unless `required`). */
    readonly positionals?: readonly { readonly name: string; readonly description: string; readonly required?: boolean }[];
}

/** The parsed command line: each flag's value (undefined when absent) and the positional arguments. */
export interface Parsed<F extends Record<string, Flag>> {
    readonly values: {
        readonly [K in keyof F]: F[K]["type"] extends "boolean" ? boolean : F[K]["required"] extends true ? string : string | undefined;
    };
    readonly positionals: readonly string[];
}

/** A command line the command does not take: exit code 2, with the usage line. */
export class UsageError extends Error {}

function flagSynopsis(name: string, f: Flag): string {
    const text = f.type === "string" ? `--${name} ${f.value ?? "<value>"}` : `--${name}`;
    return f.required ? text : `[${text}]`;
}

/** `usage: npm run plan -- --stack <name> [--json] ...`. */
export function usage<F extends Record<string, Flag>>(cmd: Command<F>): string {
    const positionals = (cmd.positionals ?? []).map((p) => (p.required ? p.name : `[${p.name}]`));
    const flags = Object.entries(cmd.flags).map(([name, f]) => flagSynopsis(name, f));
    return ["usage:", cmd.name, ...positionals, ...flags].join(" ");
}

/** The text `--help` prints: usage, summary, then one line per argument and flag. */
export function help<F extends Record<string, Flag>>(cmd: Command<F>): string {
    const rows: [string, string][] = [
        ...(cmd.positionals ?? []).map((p): [string, string] => [p.name, p.description]),
        ...Object.entries(cmd.flags).map(([name, f]): [string, string] => [
            f.type === "string" ? `--${name} ${f.value ?? "<value>"}` : `--${name}`,
            f.description + (f.choices ? ` (one of: ${f.choices.join(", ")})` : "") + (f.required ? " (required)" : ""),
        ]),
        ["-h, --help", "prints this help"],
    ];
    const width = Math.max(...rows.map(([l]) => l.length));
    return `${usage(cmd)}\n\n${wrap(cmd.summary, 100)}\n\n${rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`).join("\n")}\n`;
}

function wrap(text: string, width: number): string {
    const lines: string[] = [];
    for (const word of text.split(" ")) {
        if (lines.length > 0 && lines[lines.length - 1].length + 1 + word.length <= width) {
            lines[lines.length - 1] += ` ${word}`;
        } else {
            lines.push(word);
        }
    }
    return lines.join("\n");
}

/**
 * Parses a command line; `undefined` when it asks for help. Throws a UsageError naming the flag (never a
 * value given to an unknown flag: it may be a password).
 */
export function parseCommand<F extends Record<string, Flag>>(cmd: Command<F>, argv: readonly string[]): Parsed<F> | undefined {
    const options = Object.fromEntries([
        ...Object.entries(cmd.flags).map(([name, f]) => [name, { type: f.type }]),
        ["help", { type: "boolean", short: "h" }],
    ]) as Record<string, { type: "string" | "boolean"; short?: string }>;
    // Not strict: every token is checked below, with messages that say what to type instead.
    const { values, tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
    const positionals: string[] = [];
    const declared = cmd.positionals ?? [];
    for (const t of tokens) {
        if (t.kind === "positional") {
            if (positionals.length >= declared.length) {
                throw new UsageError(`unexpected argument "${t.value}"${declared.length === 0 ? ": this command takes flags only" : ""}`);
            }
            positionals.push(t.value);
        } else if (t.kind === "option") {
            const f: Flag | undefined = t.name === "help" ? { type: "boolean", description: "" } : cmd.flags[t.name];
            if (f === undefined || !Object.hasOwn(options, t.name)) {
                throw new UsageError(`unknown flag ${t.rawName}`);
            }
            if (f.type === "boolean" && t.value !== undefined) {
                throw new UsageError(`${t.rawName} takes no value`);
            }
            if (f.type === "string" && (t.value === undefined || t.value === "" || (!t.inlineValue && t.value.startsWith("-")))) {
                throw new UsageError(`${t.rawName} needs a value: ${t.rawName} ${f.value ?? "<value>"}`);
            }
            if (f.type === "string" && f.choices && !f.choices.includes(t.value!)) {
                throw new UsageError(`${t.rawName} takes one of ${f.choices.join(", ")}, not "${t.value}"`);
            }
        }
    }
    if (values.help === true) {
        return undefined;
    }
    for (const [name, f] of Object.entries(cmd.flags)) {
        if (f.required && values[name] === undefined) {
            throw new UsageError(`--${name} is required${f.hint ? `; ${f.hint()}` : ""}`);
        }
    }
    const missing = declared.slice(positionals.length).find((p) => p.required);
    if (missing) {
        throw new UsageError(`${missing.name} is required`);
    }
    const out = Object.fromEntries(
        Object.entries(cmd.flags).map(([name, f]) => [name, f.type === "boolean" ? values[name] === true : values[name]]),
    );
    return { values: out as Parsed<F>["values"], positionals };
}

/** How a command reports a failure that is not a usage error. */
export interface Failure {
    /** Starts every error line, e.g. `plan failed`. */
    readonly prefix: string;
    /** The exit code of a failure to run (a usage error is always 2). */
    readonly code: number;
    /** Exit at once on a failure (what a failed run leaves open, a pod or a server, would keep the process alive). */
    readonly exit?: boolean;
    /** Print the error's stack, not only its message (the benches: a failure deep in a run says where). */
    readonly trace?: boolean;
    /** Applied to every message before it is printed (the arguments may hold a password). */
    readonly redact?: (message: string) => string;
}

/**
 * Runs a command with this process's arguments: `--help` to stdout (exit 0), a usage error to stderr with the
 * usage line (exit 2), any other error as `<prefix>: <message>` with the failure's code; otherwise the exit
 * code `run` returns (0 when it returns nothing). Sets process.exitCode instead of exiting, so a pipe receives
 * all of stdout.
 */
export function runCommand<F extends Record<string, Flag>>(
    cmd: Command<F>,
    failure: Failure,
    run: (args: Parsed<F>) => Promise<number | void>,
): void {
    const redact = failure.redact ?? ((m: string) => m);
    const fail = (e: unknown) => {
        const message = redact(e instanceof Error ? e.message : String(e));
        if (e instanceof UsageError) {
            process.stderr.write(`${failure.prefix}: ${message}\n${usage(cmd)} (--help says more)\n`);
            process.exitCode = 2;
        } else {
            const trace = failure.trace && e instanceof Error && e.stack ? redact(e.stack) : message;
            process.stderr.write(`${failure.prefix}: ${trace}\n`);
            process.exitCode = failure.code;
            if (failure.exit) {
                process.exit();
            }
        }
    };
    let args: Parsed<F> | undefined;
    try {
        args = parseCommand(cmd, process.argv.slice(2));
    } catch (e) {
        fail(e);
        return;
    }
    if (args === undefined) {
        process.stdout.write(help(cmd));
        return;
    }
    const parsed = args;
    // Through a promise, so that a usage error `run` throws before its first await is reported as one.
    Promise.resolve()
        .then(() => run(parsed))
        .then((code) => {
            process.exitCode = code ?? 0;
        }, fail);
}

/** A whole number of at least `min` from a flag's value, or the default when the flag is absent. */
export function integerFlag(name: string, value: string | undefined, fallback: number, min = 1): number {
    if (value === undefined) {
        return fallback;
    }
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
        throw new UsageError(`--${name} takes a whole number of at least ${min}, not "${value}"`);
    }
    return n;
}

/** A comma-separated list of whole numbers (`40,100`) from a flag's value, or the default when absent. */
export function integerListFlag(name: string, value: string | undefined, fallback: number[]): number[] {
    return value === undefined ? fallback : value.split(",").map((v) => integerFlag(name, v.trim(), 0, 1));
}
