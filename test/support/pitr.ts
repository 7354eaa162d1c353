/**
 * The archive's spec as the loader gives it for a prod stack on hanzo-k8s with pitrEnabled (test/stacks/pitr.test.ts
 * asserts it), which the renderer tests (render/pitr.ts, render/pitrPod.ts) start from: one fixture, each test's own
 * bucket.
 */
import type { PitrSpec } from "../../render/pitr";

/**
 * A stack's archive spec with `repo` as its bucket: PGDATA below the volume's mount, the image's socket, the
 * administrator, a week of full backups, a quarter of the 50Gi volume as the WAL budget, two processes.
 */
export function pitrSpec(repo: PitrSpec["repo"]): PitrSpec {
    return {
        repo,
        retentionDays: 7,
        pgdata: "/var/lib/postgresql/data/pgdata",
        socketPath: "/var/run/postgresql",
        port: 5432,
        user: "hanzo",
        spoolPath: "/var/spool/pgbackrest",
        archiveTimeoutSeconds: 60,
        // A quarter of the 50Gi volume.
        archiveQueueMaxBytes: (50 * 2 ** 30) / 4,
        processMax: 2,
    };
}
