/**
 * The services' own clients, run against real components: Go's lib/pq and pgx v4 (built once per test run
 * from Debian's packages, offline), node-postgres, postgres.js, knex and Prisma 7 with @prisma/adapter-pg
 * (its client generated offline into build/).
 *
 * Every exercise does what a service does at start: connect, query who it is, run a migration-like DDL as
 * its role (a table, a new column, an index), then work from SESSIONS concurrent sessions × ROUNDS rounds
 * with named prepared statements (the statements a transaction pooler used to lose).
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client, ClientConfig } from "pg";
import { PASSWORD_SPECIALS } from "../../components/serviceDatabase";
import { PROJECT_DIR } from "../../cli/plan/stackFile";

export const SESSIONS = 6;
export const ROUNDS = 5;

/** What an exercise reports: who the client was, the table its DDL made, and its rounds. */
export interface Exercise {
    readonly user: string;
    readonly database: string;
    readonly columns: string[];
    readonly ok: number;
    readonly failures: string[];
}

/** The generator's alphabet (ServiceDatabase's RandomPassword: letters, digits, PASSWORD_SPECIALS). */
export const PASSWORD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + PASSWORD_SPECIALS;

/**
 * A password the generator can produce and that trips every parser it can: `://` (hanzoai/xorm took any DSN
 * containing it for a URL), then every special character, then random ones; 32 characters like the program's.
 */
export function hostilePassword(): string {
    const head = `Aa1://${PASSWORD_SPECIALS}`;
    return head + Array.from(crypto.randomBytes(32 - head.length), (b) => PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length]).join("");
}

const GO_SOURCE = path.join(PROJECT_DIR, "test", "clients", "go", "hanzoclient");
let goBinary: string | undefined;

/**
 * The Go client, compiled once per test run (and kept, keyed by its source, for the next run):
 * GO111MODULE=off against Debian's golang-github-lib-pq-dev and golang-github-jackc-pgx-v4-dev.
 */
export function goClient(): string {
    if (goBinary) {
        return goBinary;
    }
    const source = fs.readFileSync(path.join(GO_SOURCE, "main.go"));
    const bin = path.join(os.tmpdir(), `hanzo-sql-go-client-${crypto.createHash("sha256").update(source).digest("hex").slice(0, 16)}`);
    if (!fs.existsSync(bin)) {
        const gopath = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-gopath-"));
        try {
            const r = spawnSync("go", ["build", "-o", `${bin}.tmp`, "."], {
                cwd: GO_SOURCE,
                encoding: "utf8",
                env: { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:/usr/share/gocode`, GOFLAGS: "" },
            });
            if (r.status !== 0) {
                throw new Error(
                    `go build of the Go clients failed (golang-go, golang-github-lib-pq-dev, golang-github-jackc-pgx-v4-dev installed?):\n${r.stderr}`,
                );
            }
            fs.renameSync(`${bin}.tmp`, bin);
        } finally {
            fs.rmSync(gopath, { recursive: true, force: true });
        }
    }
    goBinary = bin;
    return bin;
}

/** lib/pq (database/sql) or pgx v4 (default statement cache) with a DSN, as a Go service opens it. */
export function goExercise(driver: "pq" | "pgx", dsn: string, table: string): Exercise {
    const r = spawnSync(goClient(), [driver, "exercise"], {
        encoding: "utf8",
        env: { PATH: process.env.PATH!, CLIENT_DSN: dsn, CLIENT_TABLE: table },
        timeout: 90_000,
    });
    if (r.stdout.trim() === "") {
        return { user: "", database: "", columns: [], ok: 0, failures: [`${driver} exited ${r.status}: ${r.stderr.trim()}`] };
    }
    return JSON.parse(r.stdout) as Exercise;
}

/** What the Go parsers read from DSNs: pgx's pgconn.ParseConfig, lib/pq's NewConnector, the xorm rules. */
export interface GoParsed {
    readonly pgx: Parsed;
    readonly pq: Parsed;
    readonly xormIo: Parsed;
    readonly hanzoXorm: Parsed;
    readonly searchPath: string;
}
export interface Parsed {
    readonly user?: string;
    readonly password?: string;
    readonly host?: string;
    readonly port?: string;
    readonly database?: string;
    readonly error?: string;
}

/** Parses many DSNs in one run of the Go client. */
export function goParse(dsns: readonly string[]): GoParsed[] {
    const r = spawnSync(goClient(), ["parse"], {
        input: dsns.map((dsn) => JSON.stringify({ dsn })).join("\n") + "\n",
        encoding: "utf8",
        maxBuffer: 256 << 20,
    });
    if (r.status !== 0) {
        throw new Error(`hanzoclient parse exited ${r.status}: ${r.stderr}`);
    }
    return r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as GoParsed);
}

const ddl = (table: string) => [
    `CREATE TABLE IF NOT EXISTS ${table} (id bigserial PRIMARY KEY, session int NOT NULL, round int NOT NULL)`,
    `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS created timestamptz NOT NULL DEFAULT now()`,
    `CREATE INDEX IF NOT EXISTS ${table}_session ON ${table} (session, round)`,
];
const columnsSql = (table: string) =>
    `SELECT column_name FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`;

/** Runs `round(session, n)` for every session and round concurrently; collects failures instead of throwing. */
async function sessions(
    run: (session: number) => Promise<(round: number) => Promise<boolean>>,
    close: () => Promise<void>,
): Promise<{ ok: number; failures: string[] }> {
    let ok = 0;
    const failures: string[] = [];
    await Promise.all(
        Array.from({ length: SESSIONS }, async (_, s) => {
            try {
                const round = await run(s);
                for (let n = 1; n <= ROUNDS; n++) {
                    try {
                        if (await round(n)) {
                            ok++;
                        }
                    } catch (e) {
                        failures.push((e as Error).message);
                    }
                }
            } catch (e) {
                failures.push((e as Error).message);
            }
        }),
    );
    await close();
    return { ok, failures };
}

/** node-postgres: a Client per session, named statements (`{ name, text, values }`: Parse once, Bind after). */
export async function nodePgExercise(config: string | ClientConfig, table: string): Promise<Exercise> {
    const cfg: ClientConfig = typeof config === "string" ? { connectionString: config } : config;
    const c = new Client(cfg);
    await c.connect();
    const who = (await c.query("SELECT current_user AS user, current_database() AS database")).rows[0];
    for (const s of ddl(table)) {
        await c.query(s);
    }
    const columns = (await c.query(columnsSql(table))).rows.map((r) => r.column_name as string);
    await c.end();
    const clients: Client[] = [];
    const r = await sessions(
        async (s) => {
            const client = new Client(cfg);
            clients.push(client);
            await client.connect();
            return async (n) => {
                await client.query({
                    name: `insert_${table}`,
                    text: `INSERT INTO ${table} (session, round) VALUES ($1, $2) RETURNING id`,
                    values: [s, n],
                });
                const count = await client.query({
                    name: `count_${table}`,
                    text: `SELECT count(*)::int AS n FROM ${table} WHERE session = $1`,
                    values: [s],
                });
                return count.rows[0].n >= n;
            };
        },
        async () => void (await Promise.all(clients.map((c) => c.end()))),
    );
    return { user: who.user, database: who.database, columns, ...r };
}

/** postgres.js: a connection per session; it prepares every parameterised query under a name by default. */
export async function postgresJsExercise(config: string | ClientConfig, table: string): Promise<Exercise> {
    const postgres = (await import("postgres")).default;
    const open = (options: { max: number; prepare?: boolean }) => {
        const o = { ...options, onnotice: () => undefined };
        return typeof config === "string"
            ? postgres(config, o)
            : postgres({
                  ...o,
                  host: config.host,
                  port: config.port,
                  user: config.user,
                  pass: config.password as string,
                  database: config.database,
              });
    };
    const sql = open({ max: 1 });
    const [who] = await sql<{ user: string; database: string }[]>`SELECT current_user AS user, current_database() AS database`;
    for (const s of ddl(table)) {
        await sql.unsafe(s);
    }
    const columns = (await sql.unsafe<{ column_name: string }[]>(columnsSql(table))).map((r) => r.column_name);
    await sql.end();
    const all: ReturnType<typeof postgres>[] = [];
    const r = await sessions(
        async (s) => {
            const one = open({ max: 1, prepare: true });
            all.push(one);
            return async (n) => {
                await one.unsafe(`INSERT INTO ${table} (session, round) VALUES ($1, $2) RETURNING id`, [s, n], { prepare: true });
                const [count] = await one.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table} WHERE session = $1`, [s], {
                    prepare: true,
                });
                return count.n >= n;
            };
        },
        async () => void (await Promise.all(all.map((x) => x.end()))),
    );
    return { user: who.user, database: who.database, columns, ...r };
}

/**
 * knex as Infisical configures it (backend/src/db/instance.ts: client "pg", `connectionString` from
 * DB_CONNECTION_URI beside DB_HOST/DB_PORT/DB_USER/DB_NAME/DB_PASSWORD, ssl off); DDL through its schema
 * builder, as its migrations do.
 */
export async function knexExercise(secret: Record<string, string>, table: string): Promise<Exercise> {
    const knex = (await import("knex")).default;
    const db = knex({
        client: "pg",
        connection: {
            connectionString: secret.DB_CONNECTION_URI,
            host: secret.DB_HOST,
            port: Number(secret.DB_PORT),
            user: secret.DB_USER,
            database: secret.DB_NAME,
            password: secret.DB_PASSWORD,
            ssl: false,
        },
        pool: { min: 0, max: SESSIONS },
    });
    try {
        const who = (await db.raw("SELECT current_user AS user, current_database() AS database")).rows[0];
        if (!(await db.schema.hasTable(table))) {
            await db.schema.createTable(table, (t) => {
                t.bigIncrements("id").primary();
                t.integer("session").notNullable();
                t.integer("round").notNullable();
            });
        }
        if (!(await db.schema.hasColumn(table, "created"))) {
            await db.schema.alterTable(table, (t) => t.timestamp("created", { useTz: true }).notNullable().defaultTo(db.fn.now()));
        }
        await db.raw(`CREATE INDEX IF NOT EXISTS ${table}_session ON ${table} (session, round)`);
        const columns = (await db.raw(columnsSql(table))).rows.map((r: { column_name: string }) => r.column_name);
        const r = await sessions(
            async (s) => async (n) => {
                await db(table).insert({ session: s, round: n }).returning("id");
                const [{ n: count }] = await db(table).where({ session: s }).count<{ n: number }[]>({ n: "*" });
                return Number(count) >= n;
            },
            async () => undefined,
        );
        return { user: who.user, database: who.database, columns, ...r };
    } finally {
        await db.destroy();
    }
}

/** The Prisma client generated from test/clients/prisma/schema.prisma (once per test run, offline). */
let prismaModule: { PrismaClient: new (opts: unknown) => any } | undefined;
export function prismaClientModule(): { PrismaClient: new (opts: unknown) => any } {
    if (prismaModule) {
        return prismaModule;
    }
    const schema = path.join("test", "clients", "prisma", "schema.prisma");
    const out = path.join(PROJECT_DIR, "build", "prisma-client");
    const stamp = path.join(out, ".schema-sha256");
    const hash = crypto
        .createHash("sha256")
        .update(fs.readFileSync(path.join(PROJECT_DIR, schema)))
        .update(fs.readFileSync(path.join(PROJECT_DIR, "package-lock.json")))
        .digest("hex");
    if (!fs.existsSync(stamp) || fs.readFileSync(stamp, "utf8") !== hash) {
        const r = spawnSync(path.join(PROJECT_DIR, "node_modules", ".bin", "prisma"), ["generate", "--schema", schema], {
            cwd: PROJECT_DIR,
            encoding: "utf8",
            // Any file as the schema engine: generate then needs no download (engines cannot be downloaded here).
            env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: "/bin/true", PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" },
        });
        if (r.status !== 0) {
            throw new Error(`prisma generate failed: ${r.stderr}${r.stdout}`);
        }
        fs.writeFileSync(stamp, hash);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    prismaModule = require(out) as { PrismaClient: new (opts: unknown) => any };
    return prismaModule;
}

/** Prisma 7 through @prisma/adapter-pg (how Prisma 7 services connect): model queries from every session. */
export async function prismaExercise(url: string): Promise<Exercise> {
    const { PrismaPg } = await import("@prisma/adapter-pg");
    const { PrismaClient } = prismaClientModule();
    const table = "client_prisma";
    const main = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
    try {
        const [who] = (await main.$queryRawUnsafe("SELECT current_user AS user, current_database() AS database")) as {
            user: string;
            database: string;
        }[];
        for (const s of ddl(table)) {
            await main.$executeRawUnsafe(s);
        }
        const columns = ((await main.$queryRawUnsafe(columnsSql(table))) as { column_name: string }[]).map((r) => r.column_name);
        const clients: any[] = [];
        const r = await sessions(
            async (s) => {
                const p = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 1 }) });
                clients.push(p);
                return async (n) => {
                    await p.clientCheck.create({ data: { session: s, round: n } });
                    return (await p.clientCheck.count({ where: { session: s } })) >= n;
                };
            },
            async () => void (await Promise.all(clients.map((p) => p.$disconnect()))),
        );
        return { user: who.user, database: who.database, columns, ...r };
    } finally {
        await main.$disconnect();
    }
}
