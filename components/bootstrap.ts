import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { PITR_OBJECTS } from "../policies/standard/jobs";
import { labels as objectLabels } from "../render/labels";
import type { PitrSpec } from "../render/pitr";
import { BootstrapInput, pitrBootstrapFiles } from "../render/pods/bootstrap";
import type { BootstrapSpec, RestoredObjects } from "../stacks/pitrBootstrap";
import { archiveInput } from "./pitr";

/**
 * A stack bootstrapped from another stack's archive (pitrBootstrapFrom, docs/pitr.md "Into a new stack"), in the
 * order `pulumi up` runs it:
 *
 * 1. The Kubernetes side is created; the StatefulSet's pod runs the `pitr-bootstrap` init container on its
 *    empty volume (the source's base backup and WAL to the target), then `apply-admin-password` (this stack's
 *    administrator), and the Kubernetes provider waits until it is Ready.
 * 2. The postgresql provider connects only then (components/hanzoSql.ts: it depends on the StatefulSet), and the
 *    roles and databases the restore brought, listed in `pitrBootstrapFrom.restored`, are imported: the engine's
 *    ImportStep Reads each one (pulumi/pulumi pkg/resource/deploy/step.go `ImportStep.Apply`; a missing one fails
 *    "resource '<name>' does not exist") and, from CLI 3.174, diffs and updates it in the same `up`
 *    (`continueStepsFromImport`, step_generator.go): each role gets this stack's password (`ALTER ROLE …
 *    PASSWORD`), as an adoption's do. Everything else (a service the source lacked) is created.
 *
 * In `preview` of that first `up` the provider's configuration is not known (the administrator's password is
 * generated, stacks/ refuses a configured one with the key), and an unconfigured provider's Read returns an
 * empty bag (pkg/resource/plugin/provider_plugin.go `Read`: "If the provider is not fully configured"), so the
 * imports preview without a server. Later `up`s find the same import IDs in the state and import nothing again
 * (step_generator.go `isImport`); removing the key drops the `import` options, which is no step.
 */

/** Import options of a restored role or database (the postgresql provider's ID of both is the name). */
export function restoredImport(
    restored: RestoredObjects | undefined,
    kind: "roles" | "databases",
    name: string,
): pulumi.CustomResourceOptions {
    return restored?.[kind].includes(name) ? { import: name } : {};
}

/**
 * The bootstrap ConfigMap (`postgres-pitr-bootstrap`: the script and the source repository's pgbackrest.conf) and
 * what the server pod needs to run the step: the bucket's key from the archive's own Secret, as archive_command.
 */
export function bootstrapInput(
    name: string,
    args: {
        readonly namespace: pulumi.Input<string>;
        readonly bootstrap: BootstrapSpec;
        readonly archive: PitrSpec;
        readonly endpointCa?: string;
    },
    opts: pulumi.CustomResourceOptions,
): BootstrapInput {
    const config = new k8s.core.v1.ConfigMap(
        name,
        {
            metadata: {
                name: PITR_OBJECTS.bootstrap,
                namespace: args.namespace,
                labels: objectLabels({ name: PITR_OBJECTS.bootstrap }),
            },
            data: pitrBootstrapFiles(args.archive, args.bootstrap, args.endpointCa),
        },
        opts,
    );
    const keys = archiveInput();
    return {
        source: args.bootstrap.source,
        target: args.bootstrap.target,
        configMap: config.metadata.name,
        secret: keys.secret,
        accessKeyIdKey: keys.accessKeyIdKey,
        secretAccessKeyKey: keys.secretAccessKeyKey,
    };
}
