/**
 * npm run init-sql -- --stack <name> [--passwords env]
 *
 * Prints the stack's initialisation SQL (roles, databases, grants, extensions) as one idempotent psql
 * script, rendered from the stack's plan:  npm run -s init-sql -- --stack dev | psql -v ON_ERROR_STOP=1 -d postgres
 * With `--passwords env`, each role's password is read from HANZO_SQL_PASSWORD_<ROLE> and the script sets its
 * SCRAM-SHA-256 verifier (the password itself never reaches the server).
 */
import { planFromStackFile } from "./plan";
import { listStacks } from "./plan/stackFile";
import { renderInitSql } from "./sql/initSql";

async function cli(argv: string[]): Promise<void> {
    let stack: string | undefined;
    let passwords: "omit" | "env" = "omit";
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack") {
            stack = argv[++i];
        } else if (argv[i] === "--passwords" && ["omit", "env"].includes(argv[i + 1])) {
            passwords = argv[++i] as "omit" | "env";
        } else {
            throw new Error(`unknown argument ${argv[i]}; usage: init-sql --stack <name> [--passwords env]`);
        }
    }
    if (!stack) {
        throw new Error(`--stack is required; stacks: ${listStacks().join(", ")}`);
    }
    const { plan } = await planFromStackFile(stack);
    process.stdout.write(renderInitSql(plan, { passwords }));
}

if (require.main === module) {
    cli(process.argv.slice(2)).catch((e: Error) => {
        process.stderr.write(`init-sql failed: ${e.message}\n`);
        process.exitCode = 1;
    });
}
