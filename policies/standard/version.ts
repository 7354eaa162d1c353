/**
 * The PostgreSQL major version of the stacks' data, written once: a server of another major cannot open the
 * data directory (the server refuses it: "database files are incompatible with server … initialized by
 * PostgreSQL version 16, which is not compatible with this version 15") and crash-loops, so the configuration
 * refuses such an image until an upgrade procedure (pg_upgrade, or dump and restore) exists. Imports nothing.
 */

/** The major version every stack's data directory was initialised with (STANDARD §7: PostgreSQL 16). */
export const DATA_MAJOR = 16;

/** Repositories whose tag starts with the PostgreSQL version (`postgres:16.4-bookworm`, `hanzoai/sql:16.4`). */
const VERSION_FIRST_REPOSITORIES = ["postgres", "postgresql", "sql"];

/**
 * The PostgreSQL major version an image reference names in its tag, or undefined when it names none: a
 * `pg<major>` part (`pgvector/pgvector:0.8.0-pg16`), or, for the PostgreSQL images themselves, the tag's
 * leading number (`postgres:16.4-bookworm`, `postgres:16`). A digest alone names no version.
 */
export function postgresMajorOf(image: string): number | undefined {
    const ref = image.split("@")[0];
    const slash = ref.lastIndexOf("/");
    const colon = ref.indexOf(":", slash + 1);
    if (colon < 0) {
        return undefined;
    }
    const repository = ref.slice(slash + 1, colon);
    const tag = ref.slice(colon + 1);
    const pg = /(?:^|[-_.])pg-?([0-9]{1,2})(?=$|[-_.])/.exec(tag);
    if (pg) {
        return Number(pg[1]);
    }
    const leading = /^([0-9]{1,2})(?=$|[-_.])/.exec(tag);
    return leading && VERSION_FIRST_REPOSITORIES.includes(repository) ? Number(leading[1]) : undefined;
}

/** Why an image cannot run the stack's server on its data, or undefined. */
export function serverImageMajorProblem(image: string): string | undefined {
    const major = postgresMajorOf(image);
    if (major === undefined) {
        return `must name its PostgreSQL major version in its tag (e.g. pgvector/pgvector:0.8.0-pg${DATA_MAJOR} or postgres:${DATA_MAJOR}.4, a digest may follow), so the stack can check it is ${DATA_MAJOR}, the data's`;
    }
    if (major !== DATA_MAJOR) {
        return `runs PostgreSQL ${major}, but the stack's data is PostgreSQL ${DATA_MAJOR}: the server would refuse the data directory and crash-loop; use a PostgreSQL ${DATA_MAJOR} image (a major upgrade needs pg_upgrade or a dump and restore, not an image change)`;
    }
    return undefined;
}

/** Why an image's client tools cannot dump the stack's server, or undefined: pg_dump refuses a newer server. */
export function dumpImageMajorProblem(image: string): string | undefined {
    const major = postgresMajorOf(image);
    if (major === undefined) {
        return `must name its PostgreSQL major version in its tag (e.g. postgres:${DATA_MAJOR}.4-bookworm), so the stack can check pg_dump is at least ${DATA_MAJOR}`;
    }
    if (major < DATA_MAJOR) {
        return `has PostgreSQL ${major}'s pg_dump, which refuses a PostgreSQL ${DATA_MAJOR} server ("server version mismatch"); use a PostgreSQL ${DATA_MAJOR} (or newer) client image`;
    }
    return undefined;
}

/** The oldest PgBouncer (PgBouncer's version, not PostgreSQL's; render/pgbouncer.ts says why) that keeps prepared statements in transaction pooling. */
export const PGBOUNCER_MIN_VERSION = [1, 21] as const;

/**
 * Why an image's tag names a PgBouncer older than 1.21, or undefined. Reads the version the usual tags carry
 * (`1.18.0`, `v1.25.2-p0`, `1.24.1-alpine`); a tag without one (or a digest) is the operator's call.
 */
export function pgbouncerVersionProblem(image: string): string | undefined {
    const tag = /:([^:/@]+)(@|$)/.exec(image)?.[1];
    const m = tag === undefined ? null : /^v?(\d+)\.(\d+)(?:[.-]|$)/.exec(tag);
    if (!m) {
        return undefined;
    }
    const [major, minor] = [Number(m[1]), Number(m[2])];
    const [minMajor, minMinor] = PGBOUNCER_MIN_VERSION;
    if (major > minMajor || (major === minMajor && minor >= minMinor)) {
        return undefined;
    }
    return (
        `is PgBouncer ${major}.${minor}, which loses prepared statements in transaction pooling ` +
        `(pgx, lib/pq, node-postgres and Prisma then fail with "prepared statement … does not exist"); ` +
        `use ${minMajor}.${minMinor} or later, e.g. edoburu/pgbouncer:v1.25.2-p0`
    );
}
