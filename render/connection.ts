/**
 * Connection settings of a service (STANDARD §5) in every shape its client reads.
 *
 * ## The rules, per shape (which characters are encoded where, and the parser that needs it)
 *
 * Generated passwords draw from letters, digits and PASSWORD_SPECIALS (components/serviceDatabase.ts); user
 * and database names are `[a-z0-9_]` (stacks/rules.ts). Every shape below carries any such password intact
 * to the server; test/clients/parsers.test.ts checks it over thousands of random passwords with the real
 * parsers, and test/clients/ connects with each service's own client.
 *
 * | shape (keys) | encoding | why (the parser that reads it) |
 * |---|---|---|
 * | URL: DATABASE_URL, DIRECT_DATABASE_URL, DB_CONNECTION_URI, dsn, dataSourceName, IAM_DATABASE_URL | user, password and database percent-encoded: every byte outside RFC 3986 `unreserved` (`A-Za-z0-9-._~`) becomes `%XX` | WHATWG URL (pg-connection-string → node-postgres, knex, Prisma's adapter-pg) and postgres.js's own split (first `@` after `://`, ends at `?` or `/`) decode `%XX` in userinfo; Go's net/url (`url.Parse`: userinfo may only hold unreserved, sub-delims, `:` `@` `%`; `#` `?` `/` end it) is what lib/pq's `ParseURL`, pgx's `pgconn.ParseConfig` and both xorm forks run |
 * | split: DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, DB_SSLMODE | none: each value is the value | clients pass them as separate fields (node-postgres config, knex `connection`, libpq keywords set one by one) |
 * | `.pgpass` line: pgpass | `\` → `\\`, `:` → `\:` | libpq's passwordFromFile (src/interfaces/libpq/fe-connect.c): fields split on unescaped `:` |
 * | PRISMA_PGBOUNCER_URL (pooled only) | as the URL, plus `&pgbouncer=true` | only Prisma's own query engine reads `pgbouncer`; libpq refuses it ("invalid URI query parameter") and postgres.js sends it as a startup parameter, which PgBouncer refuses; so it is named for Prisma |
 *
 * Why IAM gets a URL, never a keyword DSN: hanzoai/iam reads `IAM_DATABASE_URL`, else `dataSourceName`
 * (env first, then conf/app.conf; hanzoai/iam conf/conf.go `GetConfigDataSourceName`), and hands it to
 * xorm, which parses it itself before lib/pq sees it:
 * - xorm-io/xorm dialects/postgres.go `pqDriver.Parse`: a DSN starting `postgres://` or `postgresql://` goes
 *   through `url.Parse` and the database is the path without its `/`; any other DSN is split on every space
 *   and each part on every `=` (a quoted value keeps its quotes, a space inside quotes breaks it);
 * - hanzoai/xorm dialects/postgres.go `pqDriver.Parse`: any DSN *containing* `://` must start with one of
 *   those two schemes and then goes through `url.Parse` (so a keyword DSN whose password holds `://` was
 *   refused); other DSNs go through a quote-aware scanner that rejects a value starting or ending with `'`
 *   that is not wholly quoted, and has no `\` escapes;
 * - hanzoai/iam object/ormer.go then reads `search_path=([^ ]+)` from the DSN (util.GetValueFromDataSourceName):
 *   the percent-encoded password can never contain `=`.
 * The URL form passes all of them with every generated password: test/clients/parsers.test.ts runs these rules,
 * in Go with the real net/url, against the rendered DSNs.
 */
import { readPoolDatabase } from "./pgbouncer";

/** How a service reads its connection settings (STANDARD §5); every shape also gets DATABASE_URL and DB_*. */
export const CONNECTION_SHAPES = ["url", "beego", "infisical", "krakend"] as const;
export type ConnectionShape = (typeof CONNECTION_SHAPES)[number];

export interface ConnectionParams {
    readonly user: string;
    readonly password: string;
    readonly host: string;
    readonly port: number;
    readonly database: string;
    /** `disable` inside the cluster (traffic stays on the CNI). */
    readonly sslmode: string;
}

/** RFC 3986 percent-encoding of a URL component: everything but `A-Za-z0-9-._~` becomes `%XX` (UTF-8). */
export function percentEncode(s: string): string {
    return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `postgresql://user:password@host:port/db?sslmode=…`: every URL-shaped key (see the table above). */
export function databaseUrl(p: ConnectionParams): string {
    return `postgresql://${percentEncode(p.user)}:${percentEncode(p.password)}@${p.host}:${p.port}/${percentEncode(p.database)}?sslmode=${p.sslmode}`;
}

/** A `.pgpass` line: `host:port:database:user:password`, `:` and `\` escaped. */
export function pgpassLine(p: ConnectionParams): string {
    return pgpassFields([p.host, p.port, p.database, p.user, p.password]);
}

/** A `.pgpass` line for any host and port (`*`), e.g. the replication role's for the `replication` pseudo-database. */
export function pgpassAnyHost(database: string, user: string, password: string): string {
    return ["*", "*", pgpassFields([database, user, password])].join(":");
}

function pgpassFields(fields: (string | number)[]): string {
    return fields.map((v) => String(v).replace(/\\/g, "\\\\").replace(/:/g, "\\:")).join(":");
}

/** The keys a service's client reads besides DATABASE_URL and DB_*, by its connection shape (all URLs). */
export const SHAPE_KEYS: Readonly<Record<ConnectionShape, readonly string[]>> = {
    url: [],
    // hanzoai/iam: IAM_DATABASE_URL first (its production app.conf also says `dataSourceName = ${IAM_DATABASE_URL}`),
    // then dataSourceName (Casdoor's key, env before app.conf).
    beego: ["dataSourceName", "IAM_DATABASE_URL"],
    infisical: ["DB_CONNECTION_URI"],
    krakend: ["dsn"],
};

/** The URL of the standbys' read-only Service (or of the read-only pool, for a pooled service), present when the stack has standbys. */
export const READ_URL_KEY = "DATABASE_READ_URL";
/** A pooled service's URL to the standbys' own port, for reads that need a session (cursors WITH HOLD, SET). */
export const DIRECT_READ_URL_KEY = "DIRECT_DATABASE_READ_URL";

/** The pooled URL for Prisma's own query engine (Prisma ≤ 6 without a driver adapter); nothing else reads it. */
export const PRISMA_POOLER_KEY = "PRISMA_PGBOUNCER_URL";

/**
 * Every key of a service's connection Secret. With a pooler, DATABASE_URL, DB_HOST/DB_PORT and the shape's
 * keys lead to it (PgBouncer ≥ 1.21 keeps protocol-level prepared statements, so every driver works
 * unchanged); DIRECT_DATABASE_URL still reaches the server (for migrations and anything needing a session:
 * advisory locks, LISTEN, SET), and PRISMA_PGBOUNCER_URL adds `pgbouncer=true` for Prisma's engine only.
 */
export function connectionSecretData(
    direct: ConnectionParams,
    shape: ConnectionShape,
    pooler?: { host: string; port: number },
    readHost?: string,
): Record<string, string> {
    const p = pooler ? { ...direct, host: pooler.host, port: pooler.port } : direct;
    const url = databaseUrl(p);
    const data: Record<string, string> = {
        DATABASE_URL: url,
        DB_HOST: p.host,
        DB_PORT: String(p.port),
        DB_USER: p.user,
        DB_PASSWORD: p.password,
        DB_NAME: p.database,
        DB_SSLMODE: p.sslmode,
        pgpass: pgpassLine(p),
    };
    for (const key of SHAPE_KEYS[shape]) {
        data[key] = url;
    }
    if (pooler) {
        data.DIRECT_DATABASE_URL = databaseUrl(direct);
        data[PRISMA_POOLER_KEY] = `${url}&pgbouncer=true`;
    }
    if (readHost !== undefined) {
        // The standbys (docs/standbys.md "Reads"): read-only sessions, a little behind the primary; the same role
        // (a standby is a copy of the primary). A pooled service reads through PgBouncer's read-only pool
        // `<database>-ro` (render/pgbouncer.ts), and DIRECT_DATABASE_READ_URL still reaches the standbys' port.
        const directRead = { ...direct, host: readHost };
        const read = pooler ? { ...p, database: readPoolDatabase(direct.database) } : directRead;
        data[READ_URL_KEY] = databaseUrl(read);
        data.DB_READ_HOST = read.host;
        data.DB_READ_PORT = String(read.port);
        data.DB_READ_NAME = read.database;
        if (pooler) {
            data[DIRECT_READ_URL_KEY] = databaseUrl(directRead);
        }
    }
    return data;
}

/**
 * Text with every password a connection string can carry replaced by `***`, wherever it occurs: a URL's
 * userinfo (up to its last `@`, so an unencoded `@` or `/` in the password is covered too), `password=` or
 * `sslpassword=` in a URL's query, and the keyword/value form (`password='…'` with `\'` escapes, or bare).
 * For reports, errors and logs of the tools; never needed for a Secret.
 */
export function redactSecrets(text: string): string {
    return (
        text
            .replace(/([a-z][a-z0-9+.-]*:\/\/)(\S*)@/gi, (whole, scheme: string, userinfo: string) => {
                const colon = userinfo.indexOf(":");
                return colon < 0 ? whole : `${scheme}${userinfo.slice(0, colon)}:***@`;
            })
            // Keyword form first (not a query's `?password=`/`&password=`, which the next line takes).
            .replace(/(?<![?&])(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s']+)/gi, "$1***")
            .replace(/([?&](?:ssl)?password=)[^&#\s]*/gi, "$1***")
    );
}
