import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "./policies/standard/types";
import { HanzoSql } from "./components/hanzoSql";
import { StackConfigError, loadStackSpec } from "./stacks/load";
import { pulumiConfigSource } from "./stacks/pulumiConfig";
import type { StackSpec } from "./stacks/spec";

/** The stack outputs: names of Secrets and objects, never a password. */
export interface StackOutputs {
    readonly environment: string;
    readonly namespace: string;
    /** Host:port services connect to. */
    readonly endpoint: string;
    /** `<namespace>/<name>` of the superuser Secret (for administrators only). */
    readonly adminSecret: pulumi.Output<string>;
    /** service → database. */
    readonly databases: Record<string, string>;
    /** service → login role. */
    readonly roles: Record<string, string>;
    /** service → `<namespace>/<name>` of its connection Secret. */
    readonly connectionSecrets: Record<string, pulumi.Output<string>>;
    /** `s3://<bucket>/<prefix>` of the backups, when the stack has them. */
    readonly backups?: pulumi.Output<string>;
}

/** Declares a stack's resources from its spec. */
export function defineStack(spec: StackSpec): StackOutputs {
    const adminPassword = spec.admin.password === undefined ? undefined : pulumi.secret(spec.admin.password);
    const sql = new HanzoSql(PROJECT, { spec, adminPassword });
    const by = <T>(f: (s: StackSpec["services"][number]) => T) => Object.fromEntries(spec.services.map((s) => [s.name, f(s)]));
    return {
        environment: spec.environment,
        namespace: spec.namespace,
        endpoint: `${spec.instance.host}:${spec.instance.port}`,
        adminSecret: sql.adminSecret,
        databases: by((s) => s.database),
        roles: by((s) => s.role),
        // A service that keeps its password (adopted) has no Secret from the program: its KMS sync is its source.
        connectionSecrets: Object.fromEntries(
            spec.services.flatMap((s) => {
                const ref = sql.services[s.name].secretRef;
                return ref ? [[s.name, ref]] : [];
            }),
        ),
        ...(sql.backups && spec.backup.enabled ? { backups: pulumi.interpolate`s3://${sql.backups.bucket}/${spec.backup.prefix}` } : {}),
    };
}

/**
 * Reads and validates the stack's configuration, then declares its resources. Bad configuration stops
 * here with every problem listed, before any resource is declared. `env` is where a DigitalOcean token
 * may come from (the offline plan passes a placeholder).
 */
export function main(env: Readonly<Record<string, string | undefined>> = process.env): StackOutputs {
    let spec: StackSpec;
    try {
        spec = loadStackSpec(pulumiConfigSource(env));
    } catch (e) {
        if (e instanceof StackConfigError) {
            // RunError: the CLI prints the message alone, without a stack trace.
            throw new pulumi.RunError(e.message);
        }
        throw e;
    }
    return defineStack(spec);
}
