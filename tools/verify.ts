/**
 * npm run verify -- --stack <name> --url <admin URL> [--json]
 *
 * Checks a running server against the stack (ADR-60 automated validation) and prints a report; exits 1 when
 * any check fails, 2 when it cannot run (bad arguments, no connection). The URL is the administrator's,
 * e.g. postgresql://hanzo:<password>@127.0.0.1:5432/postgres through a port-forward.
 */
import { listStacks, specOf, stackConfig } from "./plan/stackFile";
import { redactUrl, report, verify } from "./verify/checks";

async function cli(argv: string[]): Promise<number> {
    let stack: string | undefined;
    let url = process.env.VERIFY_DATABASE_URL;
    let json = false;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack") {
            stack = argv[++i];
        } else if (argv[i] === "--url") {
            url = argv[++i];
        } else if (argv[i] === "--json") {
            json = true;
        } else {
            throw new Error(`unknown argument ${argv[i]}; usage: verify --stack <name> --url <admin URL> [--json]`);
        }
    }
    if (!stack) {
        throw new Error(`--stack is required; stacks: ${listStacks().join(", ")}`);
    }
    if (!url) {
        throw new Error("--url (or VERIFY_DATABASE_URL) is required: the administrator's URL, e.g. postgresql://hanzo:<password>@127.0.0.1:5432/postgres");
    }
    const spec = specOf(stackConfig(stack));
    const results = await verify(spec, url);
    const failed = results.filter((r) => !r.ok).length;
    process.stdout.write(json ? JSON.stringify({ stack, url: redactUrl(url), failed, checks: results }, null, 2) + "\n" : report(stack, url, results));
    return failed > 0 ? 1 : 0;
}

if (require.main === module) {
    cli(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (e: Error) => {
            // The message may quote the arguments (a URL, a DSN): never a password.
            process.stderr.write(`verify failed to run: ${redactUrl(e.message)}\n`);
            process.exitCode = 2;
        },
    );
}
