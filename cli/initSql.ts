/**
 * npm run init-sql -- --stack <name> [--passwords env] [--adopt] [--extensions]
 *
 * Prints the stack's initialisation SQL (roles, databases, grants, extensions) as one idempotent psql
 * script, rendered from the stack's plan:  npm run -s init-sql -- --stack dev | psql -v ON_ERROR_STOP=1 -d postgres
 * With `--passwords env`, each role's password is read from HANZO_SQL_PASSWORD_<ROLE> and the script sets its
 * SCRAM-SHA-256 verifier (the password itself never reaches the server). With `--adopt` (a server the seed
 * built), every object of each service database is also handed to its service role. With `--extensions`, only
 * the extensions at their pinned versions: an adoption runs that before its `pulumi up` (renderExtensionSql).
 */
import { Command, Flag, Parsed, runCommand } from "./cli";
import { planFromStackFile } from "./plan";
import { listStacks } from "./plan/stackFile";
import { renderExtensionSql, renderInitSql } from "./sql/initSql";

/** The command line of init-sql (`npm run init-sql -- --help` prints it). */
export const INIT_SQL_COMMAND = {
    name: "npm run init-sql --",
    summary:
        "Prints the stack's initialisation SQL (roles, databases, grants, extensions) as one idempotent psql script, rendered from the stack's plan. " +
        "Exits 1 when the stack or a password is bad, 2 on a bad command line.",
    flags: {
        stack: {
            type: "string",
            value: "<name>",
            required: true,
            description: "the stack to render",
            hint: () => `stacks: ${listStacks().join(", ")}`,
        },
        passwords: {
            type: "string",
            value: "<omit|env>",
            choices: ["omit", "env"],
            description: "env: set each role's SCRAM-SHA-256 verifier from HANZO_SQL_PASSWORD_<ROLE> (default omit: no password)",
        },
        adopt: {
            type: "boolean",
            description: "also hand every object of each service database to its service role (a server the seed built)",
        },
        extensions: {
            type: "boolean",
            description:
                "only the extensions, at their pinned versions: an adoption runs this before its `pulumi up`, so one `up` converges them",
        },
    },
} as const satisfies Command<Record<string, Flag>>;

async function cli({ values }: Parsed<typeof INIT_SQL_COMMAND.flags>): Promise<void> {
    const passwords = (values.passwords ?? "omit") as "omit" | "env";
    const { plan } = await planFromStackFile(values.stack);
    process.stdout.write(values.extensions ? renderExtensionSql(plan) : renderInitSql(plan, { passwords, adopt: values.adopt }));
}

if (require.main === module) {
    runCommand(INIT_SQL_COMMAND, { prefix: "init-sql failed", code: 1 }, cli);
}
