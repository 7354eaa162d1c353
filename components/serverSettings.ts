/**
 * The postgresql.conf settings of a stack's server, from its instance spec: the one call the server's
 * ConfigMap (components/postgresInstance.ts) and the live verifier (cli/verify/checks.ts) share, so the
 * standbys' settings (policies/standard/replication.ts) are rendered and checked alike.
 */
import { parseQuantity } from "../policies/standard/quantity";
import { Setting, serverSettings } from "../policies/standard/settings";
import type { InstanceSpec } from "../stacks/spec";
import { archiveSettings } from "../render/pitr";

export function instanceSettings(spec: InstanceSpec): Setting[] {
    return serverSettings(spec.memoryLimitBytes, spec.vector, {
        replication: { spec: spec.replication, storageBytes: parseQuantity(spec.storageSize) ?? 0 },
        // Continuous archiving (pitrEnabled): archive_mode, archive_command, … (render/pitr.ts, docs/pitr.md).
        ...(spec.archive ? { archive: archiveSettings(spec.archive) } : {}),
        cpuLimitCores: parseQuantity(spec.cpuLimit),
    });
}
