/**
 * The archive's spec from a validated configuration (docs/pitr.md): where pgBackRest archives (the backup
 * bucket, under `<backupPrefix>-pitr`, beside the dumps' `<backupPrefix>/` so the dumps' pruning never sees it),
 * the WAL budget (a quarter of the volume), the server pod's paths. Undefined when pitrEnabled is off.
 */
import { ADMIN_ROLE } from "../policies/standard/rules";
import { POSTGRES_PORT } from "../policies/standard/ports";
import { parseQuantity } from "../policies/standard/quantity";
import { PitrSpec, walBudgetBytes } from "../render/pitr";
import { SPOOL } from "../render/pods/pitr";
import { pgdataOf } from "../render/pods/server";
import type { Config } from "./schema";
import type { PitrBackupsSpec } from "./spec";

/** Where the server pod and the backup Jobs find pitrEndpointCa (a key of the pgbackrest ConfigMap). */
export const PITR_ENDPOINT_CA_FILE = "/etc/pgbackrest/endpoint-ca.crt";

/** The repository's key prefix in the bucket. */
export function pitrRepoPrefix(backupPrefix: string): string {
    return `/${backupPrefix.replace(/^\/+|\/+$/g, "")}-pitr`;
}

export function archiveSpecOf(c: Config): PitrSpec | undefined {
    if (!c.pitrEnabled || !c.backupEnabled) {
        return undefined;
    }
    const spaces = c.backupEndpoint === undefined;
    return {
        repo: {
            endpoint: spaces ? `https://${c.backupRegion}.digitaloceanspaces.com` : c.backupEndpoint!.replace(/\/$/, ""),
            region: spaces ? c.backupRegion : "us-east-1",
            bucket: c.backupBucket!,
            prefix: pitrRepoPrefix(c.backupPrefix),
            uriStyle: spaces ? "host" : "path",
            ...(c.pitrEndpointCa !== undefined ? { caFile: PITR_ENDPOINT_CA_FILE } : {}),
        },
        retentionDays: c.pitrRetentionDays,
        pgdata: pgdataOf(c.adopt),
        socketPath: "/var/run/postgresql",
        port: POSTGRES_PORT,
        user: ADMIN_ROLE,
        spoolPath: SPOOL,
        archiveTimeoutSeconds: c.pitrArchiveTimeoutSeconds,
        archiveQueueMaxBytes: walBudgetBytes(parseQuantity(c.storageSize) ?? 0),
        processMax: 2,
    };
}

export function pitrBackupsOf(c: Config): PitrBackupsSpec | undefined {
    return c.pitrEnabled && c.backupEnabled
        ? {
              fullSchedule: c.pitrFullSchedule,
              diffSchedule: c.pitrDiffSchedule,
              ...(c.pitrEndpointCa !== undefined ? { endpointCa: c.pitrEndpointCa } : {}),
          }
        : undefined;
}
