import type { PolicyResourceOptions, StackValidationPolicy } from "@pulumi/policy";
import { TEST_ENVIRONMENT } from "./standard/rules";
import { ENVIRONMENT_SCHEMA, EnvironmentConfig, T, configOf, environmentOf, k8sName, ofType, pgName, plainStack, postgresServers } from "./lib";

/**
 * The analyzer sees `protect` (pulumi/pulumi AnalyzerResourceOptions has no retainOnDelete), so protect is
 * what this policy can know and require; the program sets retainOnDelete beside it.
 */
function guarded(opts: PolicyResourceOptions): boolean {
    return opts.protect === true;
}

/**
 * data-protection: outside the test environment, every Database and the PostgreSQL StatefulSet are
 * protected, so `pulumi destroy`, a rename or a replace-forcing change cannot drop
 * their data (STANDARD defect 12). An unknown environment is treated as production.
 *
 * Instead: `protect: true` (the program sets it, with retainOnDelete, in every non-test environment). To
 * remove a database on purpose: `pulumi state unprotect`, then remove it.
 */
export const dataProtection: StackValidationPolicy = {
    name: "data-protection",
    description: "Outside the test environment, Databases and the PostgreSQL StatefulSet are protected from deletion and replacement.",
    configSchema: { properties: { ...ENVIRONMENT_SCHEMA } },
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const env = environmentOf(args, configOf<EnvironmentConfig>(args, {}).environment);
        if (env === TEST_ENVIRONMENT) {
            return;
        }
        const envText = env ?? "non-test (environment unknown)";
        for (const db of ofType(args, T.database)) {
            if (!guarded(db.opts)) {
                report(`database "${pgName(db)}" is not protected; in a ${envText} environment a destroy, rename or replacement would drop its data. Set protect: true.`, db.urn);
            }
        }
        for (const sts of postgresServers(args)) {
            if (!guarded(sts.opts)) {
                report(`StatefulSet "${k8sName(sts)}" is not protected; in a ${envText} environment a destroy or replacement would take the server down with its data. Set protect: true.`, sts.urn);
            }
        }
    },
};
