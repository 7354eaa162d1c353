/**
 * The connection-string rules of render/connection.ts, as a property: for thousands of random passwords from
 * the generator's alphabet, every URL-shaped key the program renders is read back intact by every parser
 * on the services' paths (Go: pgx's pgconn.ParseConfig, lib/pq's NewConnector, the two xorm rules with Go's
 * net/url; Node: pg-connection-string, which node-postgres, knex and @prisma/adapter-pg use, and postgres.js).
 */
import * as assert from "assert";
import * as crypto from "crypto";
import { parse as pgParse } from "pg-connection-string";
import { connectionSecretData, PRISMA_POOLER_KEY } from "../../render/connection";
import { mockPassword } from "../../cli/plan/runner";
import { planOf, TYPES, resource, revealed } from "../support/plan";
import { PASSWORD_ALPHABET, goParse } from "./support";

const SPECIALS = PASSWORD_ALPHABET.slice(62);
const SERVICES = ["iam", "cloud", "console", "hanzo_cloud", "kms", "platform", "commerce", "gateway", "hanzo"];

/** A seeded generator (SHA-256 of seed and counter), so that a failure names the seed that reproduces it. */
function prng(seed: number): () => number {
    let n = 0;
    return () => crypto.createHash("sha256").update(`${seed}:${n++}`).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * A password as the program's RandomPassword makes them: 32 characters of the alphabet with at least one
 * upper, lower, digit and special; one in four also holds `://` somewhere (about 1 in 19,000 real ones do).
 */
function generated(rand: () => number): string {
    const pick = (set: string) => set[Math.floor(rand() * set.length)];
    const chars = [pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), pick("abcdefghijklmnopqrstuvwxyz"), pick("0123456789"), pick(SPECIALS)];
    while (chars.length < 32) {
        chars.push(pick(PASSWORD_ALPHABET));
    }
    for (let i = chars.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [chars[i], chars[j]] = [chars[j], chars[i]];
    }
    if (rand() < 0.25) {
        chars.splice(Math.floor(rand() * 29), 3, ":", "/", "/");
    }
    return chars.join("");
}

describe("connection-string rules over random generated passwords (real parsers)", function () {
    this.timeout(120_000);
    const seed = Number(process.env.HANZO_SQL_SEED ?? Date.now() % 2 ** 31);
    const N = 3000;
    const rand = prng(seed);
    const cases = Array.from({ length: N }, (_, i) => {
        const service = SERVICES[i % SERVICES.length];
        const password = generated(rand);
        const direct = { user: `${service}_user`, password, host: "postgres.hanzo.svc", port: 5432, database: service, sslmode: "disable" };
        // The beego shape, pooled, has every URL-shaped key: DATABASE_URL, dataSourceName, IAM_DATABASE_URL, DIRECT_DATABASE_URL.
        const data = {
            ...connectionSecretData(direct, "beego", { host: "pgbouncer.hanzo.svc", port: 6432 }),
            ...connectionSecretData(direct, "infisical"),
            ...connectionSecretData(direct, "krakend"),
        };
        const urls = Object.entries(data).filter(([k, v]) => v.startsWith("postgresql://") && k !== PRISMA_POOLER_KEY);
        return { service, password, urls };
    });
    const expected = (service: string, password: string, url: string) => ({
        user: `${service}_user`,
        password,
        database: service,
        host: url.includes("@pgbouncer.") ? "pgbouncer.hanzo.svc" : "postgres.hanzo.svc",
        port: url.includes(":6432/") ? "6432" : "5432",
    });
    const where = (i: number, key: string) => `seed ${seed}, password #${i} (${JSON.stringify(cases[i].password)}), key ${key}`;

    it("draws passwords that hold every special character and `://`", () => {
        const all = cases.map((c) => c.password).join("");
        assert.deepStrictEqual(
            [...SPECIALS].filter((c) => !all.includes(c)),
            [],
        );
        assert.ok(cases.filter((c) => c.password.includes("://")).length > N / 5);
        assert.deepStrictEqual(cases[0].urls.map(([k]) => k).sort(), [
            "DATABASE_URL",
            "DB_CONNECTION_URI",
            "DIRECT_DATABASE_URL",
            "IAM_DATABASE_URL",
            "dataSourceName",
            "dsn",
        ]);
    });

    it("encodes userinfo and database to unreserved characters and %XX only (nothing JSON, INI, YAML or a shell treats specially)", () => {
        cases.forEach((c, i) => {
            for (const [key, url] of c.urls) {
                assert.match(
                    url,
                    /^postgresql:\/\/[A-Za-z0-9._~%-]+:[A-Za-z0-9._~%-]+@[a-z.]+:\d+\/[A-Za-z0-9._~%-]+\?sslmode=disable$/,
                    where(i, key),
                );
            }
        });
    });

    it("reads back user, password, host, port and database with Go's pgx and lib/pq, and the database with both xorm rules", () => {
        const flat = cases.flatMap((c, i) => c.urls.map(([key, url]) => ({ i, key, url })));
        const parsed = goParse(flat.map((f) => f.url));
        assert.strictEqual(parsed.length, flat.length);
        parsed.forEach((p, n) => {
            const { i, key, url } = flat[n];
            const want = expected(cases[i].service, cases[i].password, url);
            assert.deepStrictEqual(p.pgx, want, `pgx: ${where(i, key)}`);
            assert.deepStrictEqual(p.pq, want, `lib/pq: ${where(i, key)}`);
            assert.deepStrictEqual(p.xormIo, { database: cases[i].service }, `xorm-io/xorm: ${where(i, key)}`);
            assert.deepStrictEqual(p.hanzoXorm, { database: cases[i].service }, `hanzoai/xorm: ${where(i, key)}`);
            assert.strictEqual(p.searchPath, "", `hanzoai/iam search_path: ${where(i, key)}`);
        });
    });

    it("reads them back with pg-connection-string (node-postgres, knex, adapter-pg) and postgres.js", async () => {
        const postgres = (await import("postgres")).default;
        cases.forEach((c, i) => {
            for (const [key, url] of c.urls) {
                const want = expected(c.service, c.password, url);
                const p = pgParse(url);
                assert.deepStrictEqual(
                    { user: p.user, password: p.password, host: p.host, port: p.port, database: p.database },
                    want,
                    `pg-connection-string: ${where(i, key)}`,
                );
                if (key !== "DATABASE_URL" && key !== "DIRECT_DATABASE_URL") {
                    continue; // the other keys are the same string as one of these two; postgres.js is slow to construct
                }
                const o = postgres(url, { max: 1 }).options;
                assert.deepStrictEqual(
                    { user: o.user, password: o.pass, host: o.host[0], port: String(o.port[0]), database: o.database },
                    want,
                    `postgres.js: ${where(i, key)}`,
                );
            }
        });
    });
});

describe("xorm's rules (xorm-io/xorm and hanzoai/xorm dialects/postgres.go) against IAM's rendered DSN", () => {
    it("takes the production stack's dataSourceName and IAM_DATABASE_URL as URLs naming the database iam", async () => {
        const plan = await planOf("hanzo-k8s");
        const data = revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-iam-connection")).stringData as Record<string, string>;
        const password = mockPassword("hanzo-sql-iam-password", true);
        const [dsn, url] = goParse([data.dataSourceName, data.IAM_DATABASE_URL]);
        for (const p of [dsn, url]) {
            assert.deepStrictEqual(p, {
                pgx: { user: "iam_user", password, host: "postgres.hanzo.svc", port: "5432", database: "iam" },
                pq: { user: "iam_user", password, host: "postgres.hanzo.svc", port: "5432", database: "iam" },
                xormIo: { database: "iam" },
                hanzoXorm: { database: "iam" },
                searchPath: "",
            });
        }
    });

    it("refuses the keyword DSN the program used to render, once a password holds a space or `://`", () => {
        const [spaced, url] = goParse([
            "user='iam_user' password='a b' host='postgres.hanzo.svc' port='5432' dbname='iam' sslmode='disable'",
            "user='iam_user' password='a://b' host='postgres.hanzo.svc' port='5432' dbname='iam' sslmode='disable'",
        ]);
        assert.deepStrictEqual(spaced.xormIo, { error: `invalid option: "b'"` });
        assert.deepStrictEqual(url.hanzoXorm, { error: "unsupported protocol" });
    });
});
