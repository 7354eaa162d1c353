/**
 * npm run verify -- --stack <name> --url <admin URL> [--json]
 *
 * Checks a running server against the stack (ADR-60 automated validation) and prints a report; exits 1 when
 * any check fails, 2 when it cannot run (bad arguments, no connection). The URL is the administrator's,
 * e.g. postgresql://hanzo:<password>@127.0.0.1:5432/postgres through a port-forward.
 */
import { Command, Flag, Parsed, UsageError, runCommand } from "./cli";
import { listStacks, specOf, stackConfig } from "./plan/stackFile";
import { redactUrl, report, verify } from "./verify/checks";

/** The verifier's command line (`npm run verify -- --help` prints it). */
export const VERIFY_COMMAND = {
    name: "npm run verify --",
    summary:
        "Checks a running server against the stack (settings, roles, databases, extensions, grants) and prints a report. " +
        "Exits 1 when any check fails, 2 when it cannot run (a bad command line, no connection).",
    flags: {
        stack: {
            type: "string",
            value: "<name>",
            required: true,
            description: "the stack the server should match",
            hint: () => `stacks: ${listStacks().join(", ")}`,
        },
        url: {
            type: "string",
            value: "<admin URL>",
            description: "the administrator's URL, e.g. postgresql://hanzo:<password>@127.0.0.1:5432/postgres (or VERIFY_DATABASE_URL)",
        },
        json: { type: "boolean", description: "print the report as JSON" },
    },
} as const satisfies Command<Record<string, Flag>>;

async function cli({ values }: Parsed<typeof VERIFY_COMMAND.flags>): Promise<number> {
    const { stack, json } = values;
    const url = values.url ?? process.env.VERIFY_DATABASE_URL;
    if (!url) {
        throw new UsageError("--url (or VERIFY_DATABASE_URL) is required: the administrator's URL (--help shows its form)");
    }
    const spec = specOf(stackConfig(stack));
    const results = await verify(spec, url);
    const failed = results.filter((r) => !r.ok).length;
    process.stdout.write(
        json ? JSON.stringify({ stack, url: redactUrl(url), failed, checks: results }, null, 2) + "\n" : report(stack, url, results),
    );
    return failed > 0 ? 1 : 0;
}

if (require.main === module) {
    // Every message may quote the arguments (a URL, a DSN): never a password.
    runCommand(VERIFY_COMMAND, { prefix: "verify failed to run", code: 2, redact: redactUrl }, cli);
}
