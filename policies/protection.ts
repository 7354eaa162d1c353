import type { PolicyResourceOptions, StackValidationPolicy } from "@pulumi/policy";
import { DATA_HOLDERS } from "./standard/replacement";
import { TEST_ENVIRONMENT } from "./standard/rules";
import {
    ENVIRONMENT_SCHEMA,
    EnvironmentConfig,
    T,
    configOf,
    environmentOf,
    k8sName,
    ofType,
    pgName,
    plainStack,
    postgresServers,
} from "./lib";

/**
 * The analyzer sees `protect` (pulumi/pulumi AnalyzerResourceOptions has no retainOnDelete), so protect is
 * what this policy can know and require; the program sets retainOnDelete beside it.
 */
function guarded(opts: PolicyResourceOptions): boolean {
    return opts.protect === true;
}

/**
 * data-protection: outside the test environment, every Database, the PostgreSQL StatefulSet and the backup
 * bucket are protected, so `pulumi destroy`, a rename or a replace-forcing change cannot drop their data
 * (STANDARD defect 12); and the StatefulSet ignores the changes that would replace it although they should
 * not (its claim template: the disk grows through the claim instead). What forces a replacement, per
 * resource, is listed in policies/standard/replacement.ts. An unknown environment is treated as production.
 *
 * Instead: `protect: true` (the program sets it, with retainOnDelete, in every non-test environment) and
 * the ignoreChanges of policies/standard/replacement.ts. To remove a database on purpose: docs/operations.md, "Remove
 * a service" (`pulumi state unprotect`, reassign, then remove it).
 */
export const dataProtection: StackValidationPolicy = {
    name: "data-protection",
    description:
        "Outside the test environment, Databases, the PostgreSQL StatefulSet and the backup bucket are protected from deletion and replacement.",
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
                report(
                    `database "${pgName(db)}" is not protected; in a ${envText} environment a destroy, rename or replacement would drop its data. Set protect: true.`,
                    db.urn,
                );
            }
        }
        for (const sts of postgresServers(args)) {
            if (!guarded(sts.opts)) {
                report(
                    `StatefulSet "${k8sName(sts)}" is not protected; in a ${envText} environment a destroy or replacement would take the server down with its data. Set protect: true.`,
                    sts.urn,
                );
            }
            const ignored = DATA_HOLDERS[T.statefulSet].ignoreChanges.filter((p) => !(sts.opts.ignoreChanges ?? []).includes(p));
            if (ignored.length > 0) {
                report(
                    `StatefulSet "${k8sName(sts)}" does not ignore changes to ${ignored.join(", ")}: a storage size or class change would replace it, and its claim would keep the old size. Set ignoreChanges: ${JSON.stringify(DATA_HOLDERS[T.statefulSet].ignoreChanges)} and grow the claim with a PersistentVolumeClaimPatch.`,
                    sts.urn,
                );
            }
        }
        for (const bucket of ofType(args, T.spacesBucket)) {
            if (!guarded(bucket.opts)) {
                report(
                    `bucket "${pgName(bucket)}" is not protected; in a ${envText} environment a destroy or replacement would delete the backups. Set protect: true.`,
                    bucket.urn,
                );
            }
        }
    },
};
