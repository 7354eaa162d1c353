/**
 * The images the manifests name, stood in by Debian's packages on this machine. An image here is the host's
 * root filesystem (read through an overlay, so nothing of the host is ever written) plus a small layer of
 * the upstream image's own files (its entrypoint, its users in /etc/passwd and /etc/group) and the image
 * config the kubelet would take from the registry: Entrypoint, Cmd, Env, User, StopSignal.
 *
 * | image (repository)                         | stand-in                                              | upstream config reproduced                       |
 * |--------------------------------------------|-------------------------------------------------------|--------------------------------------------------|
 * | postgres, pgvector/pgvector, hanzoai/sql    | /usr/lib/postgresql/15/bin (+ pgvector built here; pgbackrest 2.45 from Debian for hanzoai/sql) | docker-entrypoint.sh (test/harness/pod/docker-entrypoint.sh, same behaviour), Cmd postgres, STOPSIGNAL SIGINT, user postgres = 999:999, PGDATA=/var/lib/postgresql/data |
 * | quay.io/prometheuscommunity/postgres-exporter | /usr/bin/prometheus-postgres-exporter (0.11.1)     | Entrypoint /bin/postgres_exporter, USER nobody (65534) |
 * | edoburu/pgbouncer (any `…/pgbouncer`)      | the PgBouncer >= 1.21 scripts/install-test-deps.sh builds (test/harness/pg/pgbouncer.ts PGBOUNCER_BIN) | user postgres = 70:70 (alpine), Entrypoint /entrypoint.sh: runs `pgbouncer /etc/pgbouncer/pgbouncer.ini` when the file exists (the env-to-ini generation is not reproduced) |
 * | amazon/aws-cli                             | /usr/bin/aws (Debian's awscli 1.x)                    | Entrypoint /usr/local/bin/aws, user root          |
 *
 * What cannot be checked with stand-ins: the upstream binaries' versions (PostgreSQL 15 stands in for 16;
 * awscli 1 for 2), the images' architectures, the registry's digests, libraries the images lack or have
 * (the host has both bash and coreutils, so a missing shell in an image would not show), and the locale:
 * the postgres image sets LANG=en_US.utf8, the stand-in C.UTF-8 (the host has no en_US locale).
 */
import * as fs from "fs";
import * as path from "path";
import { PGBOUNCER_BIN } from "../pg/pgbouncer";

/** The image config the kubelet reads from the registry (OCI image config), plus the files of its own layer. */
export interface ImageConfig {
    /** Which stand-in (for messages and docs). */
    readonly standIn: string;
    readonly entrypoint: readonly string[];
    readonly cmd: readonly string[];
    readonly env: Readonly<Record<string, string>>;
    /** uid:gid the image runs as when the pod does not say. */
    readonly user: { readonly uid: number; readonly gid: number };
    readonly stopSignal: NodeJS.Signals;
    readonly workingDir: string;
    /** The users the image's /etc/passwd defines (name → uid:gid), replacing the host's entry of that name. */
    readonly users: Readonly<Record<string, { readonly uid: number; readonly gid: number; readonly home: string }>>;
    /** Files of the image's own layer: path in the container → content (executable when `mode` says). */
    readonly files: Readonly<Record<string, { readonly content?: string; readonly symlink?: string; readonly mode: number }>>;
}

const PATH_DEFAULT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PG_BIN = "/usr/lib/postgresql/15/bin";

const postgres: ImageConfig = {
    standIn: `PostgreSQL 15 from Debian (${PG_BIN}) with test/harness/pod/docker-entrypoint.sh`,
    entrypoint: ["docker-entrypoint.sh"],
    cmd: ["postgres"],
    env: { PATH: `${PATH_DEFAULT}:${PG_BIN}`, PGDATA: "/var/lib/postgresql/data", LANG: "C.UTF-8" },
    user: { uid: 0, gid: 0 },
    stopSignal: "SIGINT",
    workingDir: "/",
    users: { postgres: { uid: 999, gid: 999, home: "/var/lib/postgresql" } },
    files: {
        "/usr/local/bin/docker-entrypoint.sh": {
            content: fs.readFileSync(path.join(sourceDir(), "docker-entrypoint.sh"), "utf8"),
            mode: 0o755,
        },
        "/docker-entrypoint-initdb.d": { mode: 0o755 },
    },
};

const exporter: ImageConfig = {
    standIn: "Debian's prometheus-postgres-exporter 0.11.1",
    entrypoint: ["/bin/postgres_exporter"],
    cmd: [],
    env: { PATH: PATH_DEFAULT },
    user: { uid: 65534, gid: 65534 },
    stopSignal: "SIGTERM",
    workingDir: "/",
    users: {},
    files: { "/usr/bin/postgres_exporter": { symlink: "/usr/bin/prometheus-postgres-exporter", mode: 0o777 } },
};

const pgbouncer: ImageConfig = {
    standIn: `the PgBouncer the tests run (${PGBOUNCER_BIN})`,
    entrypoint: ["/entrypoint.sh"],
    cmd: ["/usr/bin/pgbouncer", "/etc/pgbouncer/pgbouncer.ini"],
    env: { PATH: PATH_DEFAULT },
    user: { uid: 70, gid: 70 },
    stopSignal: "SIGTERM",
    workingDir: "/",
    users: { postgres: { uid: 70, gid: 70, home: "/var/lib/postgresql" } },
    files: {
        // First on PATH and the image's Cmd: the PgBouncer the tests run (>= 1.21, test/harness/pg/pgbouncer.ts).
        "/usr/local/bin/pgbouncer": { symlink: PGBOUNCER_BIN, mode: 0o777 },
        "/usr/bin/pgbouncer": { symlink: PGBOUNCER_BIN, mode: 0o777 },
        "/entrypoint.sh": {
            content: [
                "#!/bin/sh",
                "# Stand-in for edoburu/pgbouncer's entrypoint: with an ini in place it only execs its arguments.",
                "set -e",
                '[ -f /etc/pgbouncer/pgbouncer.ini ] || { echo "entrypoint stand-in: /etc/pgbouncer/pgbouncer.ini missing (generation from env is not reproduced)" >&2; exit 1; }',
                'exec "$@"',
                "",
            ].join("\n"),
            mode: 0o755,
        },
    },
};

const awsCli: ImageConfig = {
    standIn: "Debian's awscli (/usr/bin/aws)",
    entrypoint: ["/usr/local/bin/aws"],
    cmd: [],
    env: { PATH: PATH_DEFAULT },
    user: { uid: 0, gid: 0 },
    stopSignal: "SIGTERM",
    workingDir: "/aws",
    users: {},
    files: { "/usr/local/bin/aws": { symlink: "/usr/bin/aws", mode: 0o777 }, "/aws": { mode: 0o755 } },
};

/** test/harness/pod in the source tree (the build runs from build/test/harness/pod). */
function sourceDir(): string {
    const fromBuild = path.resolve(__dirname, "..", "..", "..", "..", "test", "harness", "pod");
    return fs.existsSync(path.join(fromBuild, "docker-entrypoint.sh")) ? fromBuild : __dirname;
}

/** The repository part of an image reference: registry host and tag or digest removed. */
export function repositoryOf(image: string): string {
    let ref = image.split("@")[0];
    const slash = ref.lastIndexOf("/");
    const colon = ref.lastIndexOf(":");
    if (colon > slash) {
        ref = ref.slice(0, colon);
    }
    const parts = ref.split("/");
    if (parts.length > 1 && (parts[0].includes(".") || parts[0].includes(":") || parts[0] === "localhost")) {
        parts.shift();
    }
    return parts.join("/");
}

/** The stand-in for an image reference; throws naming the image when there is none. */
export function imageConfig(image: string): ImageConfig {
    const repo = repositoryOf(image);
    const last = repo.split("/").pop()!;
    // Hanzo's own image (image/Containerfile: postgres:16-bookworm + pgvector + pgBackRest): the same stand-in,
    // whose host filesystem carries Debian's pgbackrest (scripts/install-test-deps.sh).
    if (repo === "postgres" || repo === "library/postgres" || repo === "pgvector/pgvector" || repo === "hanzoai/sql") {
        return postgres;
    }
    if (last === "postgres-exporter") {
        return exporter;
    }
    if (last === "pgbouncer") {
        return pgbouncer;
    }
    if (repo === "amazon/aws-cli") {
        return awsCli;
    }
    throw new Error(`pod runner: no stand-in for image ${image} (repository ${repo}); add one to test/harness/pod/images.ts`);
}
