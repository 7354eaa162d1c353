/**
 * Connection settings of a service (STANDARD §5) in every shape its client reads, percent-encoded or
 * quoted so that any generated password survives.
 */
import type { ConnectionShape } from "../stacks/spec";

export interface ConnectionParams {
    readonly user: string;
    readonly password: string;
    readonly host: string;
    readonly port: number;
    readonly database: string;
    /** `disable` inside the cluster (traffic stays on the CNI). */
    readonly sslmode: string;
}

/** RFC 3986 percent-encoding of a URL component, including the characters encodeURIComponent leaves alone. */
export function percentEncode(s: string): string {
    return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `postgresql://user:password@host:port/db?sslmode=…`: DATABASE_URL, Prisma, database/sql, Infisical. */
export function databaseUrl(p: ConnectionParams): string {
    return `postgresql://${percentEncode(p.user)}:${percentEncode(p.password)}@${p.host}:${p.port}/${percentEncode(p.database)}?sslmode=${p.sslmode}`;
}

/** libpq keyword/value form (Beego/xorm `dataSourceName`, lib/pq): values quoted, `\` and `'` escaped. */
export function keywordDsn(p: ConnectionParams): string {
    const q = (v: string | number) => `'${String(v).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
    return `user=${q(p.user)} password=${q(p.password)} host=${q(p.host)} port=${q(p.port)} dbname=${q(p.database)} sslmode=${q(p.sslmode)}`;
}

/** A `.pgpass` line: `host:port:database:user:password`, `:` and `\` escaped. */
export function pgpassLine(p: ConnectionParams): string {
    const e = (v: string | number) => String(v).replace(/\\/g, "\\\\").replace(/:/g, "\\:");
    return [p.host, p.port, p.database, p.user, p.password].map(e).join(":");
}

/** The key a service's client reads besides DATABASE_URL and DB_*, by its connection shape. */
export const SHAPE_KEYS: Readonly<Record<ConnectionShape, string | undefined>> = {
    url: undefined,
    beego: "dataSourceName",
    infisical: "DB_CONNECTION_URI",
    krakend: "dsn",
};

/**
 * Every key of a service's connection Secret. With a pooler, DATABASE_URL and DB_HOST/DB_PORT lead to it;
 * DIRECT_DATABASE_URL still reaches the server (migrations need a session, not a transaction pool), and
 * PRISMA_DATABASE_URL adds `pgbouncer=true` (Prisma then avoids prepared statements).
 */
export function connectionSecretData(direct: ConnectionParams, shape: ConnectionShape, pooler?: { host: string; port: number }): Record<string, string> {
    const p = pooler ? { ...direct, host: pooler.host, port: pooler.port } : direct;
    const data: Record<string, string> = {
        DATABASE_URL: databaseUrl(p),
        DB_HOST: p.host,
        DB_PORT: String(p.port),
        DB_USER: p.user,
        DB_PASSWORD: p.password,
        DB_NAME: p.database,
        DB_SSLMODE: p.sslmode,
        pgpass: pgpassLine(p),
    };
    const key = SHAPE_KEYS[shape];
    if (key !== undefined) {
        data[key] = shape === "beego" ? keywordDsn(p) : databaseUrl(p);
    }
    if (pooler) {
        data.DIRECT_DATABASE_URL = databaseUrl(direct);
        data.PRISMA_DATABASE_URL = `${databaseUrl(p)}&pgbouncer=true`;
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
    return text
        .replace(/([a-z][a-z0-9+.-]*:\/\/)(\S*)@/gi, (whole, scheme: string, userinfo: string) => {
            const colon = userinfo.indexOf(":");
            return colon < 0 ? whole : `${scheme}${userinfo.slice(0, colon)}:***@`;
        })
        .replace(/([?&](?:ssl)?password=)[^&#\s]*/gi, "$1***")
        .replace(/(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s'&]+)/gi, (whole, key: string, value: string) => (value === "***" ? whole : `${key}***`));
}
