/** Loading a stack spec from plain config values in tests, and reading back the problems it reports. */
import * as assert from "assert";
import { StackConfigError } from "../../stacks/load";
import type { On } from "../../stacks/spec";
import { specOf, stackConfig } from "../../cli/plan/stackFile";

export const VALID = { environment: "prod", clusterName: "hanzo-k8s", services: ["iam"] };
export const TOKEN = { DIGITALOCEAN_TOKEN: "t", SPACES_ACCESS_KEY_ID: "i", SPACES_SECRET_ACCESS_KEY: "k" };

export interface LoadOptions {
    /** Extra fully qualified keys to mark secret. */
    readonly secret?: string[];
    /** Environment variables (the DigitalOcean token, Spaces keys); TOKEN by default. */
    readonly env?: Record<string, string>;
}

/** Loads a spec from config values (Pulumi.yaml defaults applied, as the engine does). */
export function load(values: Record<string, unknown>, opts: LoadOptions = {}) {
    const cfg = stackConfig("t", values);
    return specOf({ ...cfg, secretKeys: [...cfg.secretKeys, ...(opts.secret ?? [])] }, opts.env ?? TOKEN);
}

/** Every problem line ("key = value: rule") of an invalid configuration; fails when it is accepted. */
export function problems(values: Record<string, unknown>, opts?: LoadOptions): string[] {
    try {
        load(values, opts);
    } catch (e) {
        assert.ok(e instanceof StackConfigError, `expected StackConfigError, got ${e}`);
        return e.message
            .split("\n")
            .slice(1)
            .map((l) => l.replace(/^ {2}- /, ""));
    }
    assert.fail("configuration was accepted");
}

/** A feature of the spec that must be on, typed as such. */
export function on<T extends { readonly enabled: boolean }>(feature: T): On<T> {
    assert.ok(feature.enabled, "expected the feature to be enabled");
    return feature as On<T>;
}

/** A pooled stack: PgBouncer in front of one pooled service, beside one direct one; no backups or monitoring. */
export const POOLED = {
    environment: "prod",
    clusterName: "hanzo-k8s",
    backupEnabled: false,
    monitoringEnabled: false,
    poolingEnabled: true,
    poolReplicas: 1,
    services: [{ name: "commerce", pooled: true }, "cloud"],
};

export const withServices = (...services: unknown[]) => ({ ...VALID, services });

/** Two pooled services (one of them IAM's beego shape), one direct, two standbys (one synchronous). */
export const POOLED_STANDBYS = {
    environment: "prod",
    clusterName: "hanzo-k8s",
    poolingEnabled: true,
    standbys: 2,
    synchronousStandbys: 1,
    services: [{ name: "iam", pooled: true, connection: "beego" }, { name: "cloud", pooled: true }, "console"],
};
