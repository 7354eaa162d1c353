import * as assert from "assert";
import { databaseUrl, percentEncode, pgpassLine, connectionSecretData } from "../../render/connection";
import { hbaRules, parsePgHba } from "../../policies/standard/pgHba";
import { renderPgHba } from "../../render/pgHba";
import { parsePostgresqlConf } from "../../policies/standard/postgresqlConf";
import { renderPostgresqlConf } from "../../render/postgresqlConf";
import { SEED_SETTINGS, VECTOR_DEFAULTS, serverSettings } from "../../policies/standard/settings";

const GiB = 2 ** 30;

describe("postgresql.conf", () => {
    it("renders the standard's settings for the standard's 2Gi pod, with pg_stat_statements preloaded", () => {
        assert.strictEqual(
            renderPostgresqlConf(2 * GiB),
            [
                "# postgresql.conf rendered by hanzo-sql from the Hanzo SQL standard (HIP-29 §Configuration).",
                "# Edit the stack configuration, not this file: a change here is overwritten and rolls the pod.",
                "",
                "listen_addresses = '*'                           # reachable on the pod network; pg_hba.conf decides who may connect",
                "port = 5432                                      # the standard's port",
                "password_encryption = 'scram-sha-256'            # SCRAM, as pg_hba.conf requires (STANDARD defect 9)",
                "shared_preload_libraries = 'pg_stat_statements'  # pg_stat_statements works only when preloaded (STANDARD defect 2)",
                "lo_compat_privileges = on                        # the backup role reads large objects, which pg_read_all_data does not cover (STANDARD defect 18; docs/backups.md)",
                "max_connections = 200                            # the standard's value",
                "shared_buffers = 512MB                           # 1/4 of the 2Gi memory limit",
                "effective_cache_size = 1536MB                    # 3/4 of the 2Gi memory limit (planner hint; allocates nothing)",
                "work_mem = 4MB                                   # the standard's value",
                "maintenance_work_mem = 1024MB                    # 1/2 of the 2Gi memory limit, so HNSW index builds stay in memory",
                "wal_level = replica                              # the standard's value",
                "max_wal_senders = 3                              # the standard's value",
                "wal_keep_size = 1GB                              # the standard's value",
                "max_parallel_maintenance_workers = 1             # the 2-core CPU limit less the leader, which builds too",
                "max_parallel_workers_per_gather = 2              # the standard's value",
                "log_min_duration_statement = 1000                # the standard's value",
                "log_statement = 'ddl'                            # the standard's value",
                "log_connections = on                             # the standard's value",
                "log_disconnections = on                          # the standard's value",
                "checkpoint_completion_target = 0.9               # the standard's value",
                "checkpoint_timeout = 10min                       # the standard's value",
                "autovacuum_work_mem = 128MB                      # 1/16 of the 2Gi memory limit (at most 1GB), not maintenance_work_mem per autovacuum worker",
                "hnsw.iterative_scan = strict_order               # filtered queries return their LIMIT: off gave 5 of 5 rows for 26 of 57 tenants, strict 57 of 57, in exact order",
                "hnsw.ef_search = 200                             # 1M entries, filters keeping 0.1-100%: at 100 strict lost full answers at 10% and 50% (recall@5 0.950, 0.968), at 200 none (>= 0.980)",
                "hnsw.max_scan_tuples = 20000                     # pgvector's: 2000 bounds latency but lost rows (53 of 57 full answers); small tenants belong on a B-tree",
                "ivfflat.iterative_scan = relaxed_order           # the same for IVFFlat (pgvector has no strict order there); not benchmarked",
                "",
            ].join("\n"),
        );
    });

    it("derives the memory settings from a different memory limit and keeps every other standard value", () => {
        const conf = parsePostgresqlConf(renderPostgresqlConf(4 * GiB));
        assert.strictEqual(conf.get("shared_buffers"), "1024MB");
        assert.strictEqual(conf.get("effective_cache_size"), "3072MB");
        assert.strictEqual(conf.get("maintenance_work_mem"), "2048MB");
        assert.strictEqual(conf.get("autovacuum_work_mem"), "256MB");
        assert.strictEqual(conf.get("max_parallel_maintenance_workers"), "1");
        for (const [name, value] of Object.entries(SEED_SETTINGS)) {
            if (!["shared_buffers", "effective_cache_size", "maintenance_work_mem", "max_parallel_maintenance_workers"].includes(name)) {
                assert.strictEqual(conf.get(name)?.replace(/'/g, ""), value, name);
            }
        }
    });

    it("derives max_parallel_maintenance_workers from the CPU limit (the build's leader works too) and caps autovacuum_work_mem at 1GB", () => {
        const workers = (cores: number) =>
            serverSettings(2 * GiB, undefined, { cpuLimitCores: cores }).find((s) => s.name === "max_parallel_maintenance_workers");
        assert.deepStrictEqual(
            [0.5, 1, 1.5, 2, 4, 16].map((cores) => workers(cores)?.value),
            ["0", "0", "1", "1", "3", "8"],
        );
        assert.strictEqual(workers(4)?.why, "the 4-core CPU limit less the leader, which builds too");
        assert.strictEqual(parsePostgresqlConf(renderPostgresqlConf(64 * GiB)).get("autovacuum_work_mem"), "1024MB");
    });

    it("renders a stack's own pgvector values, saying which default was measured", () => {
        const conf = renderPostgresqlConf(
            2 * GiB,
            serverSettings(2 * GiB, { ...VECTOR_DEFAULTS, hnswIterativeScan: "relaxed_order", hnswEfSearch: 300 }),
        );
        const lines = conf.split("\n").filter((l) => /^(hnsw|ivfflat)[.]/.test(l));
        assert.deepStrictEqual(lines.slice(0, 2), [
            "hnsw.iterative_scan = relaxed_order              # stack value; the measured default is strict_order",
            "hnsw.ef_search = 300                             # stack value; the measured default is 200",
        ]);
        assert.match(lines[2], /^hnsw\.max_scan_tuples = 20000 +# pgvector's: 2000 bounds latency/);
    });

    it("parses back what it renders, comments and quoted # included", () => {
        const conf = parsePostgresqlConf("a = 1  # one\nb 'x#y' # two\n# c = 3\nA = 2\n");
        assert.deepStrictEqual(
            [...conf],
            [
                ["a", "2"],
                ["b", "'x#y'"],
            ],
        );
    });
});

describe("pg_hba.conf", () => {
    it("trusts the socket, asks loopback and the pod network for SCRAM, and rejects everything else", () => {
        assert.strictEqual(
            renderPgHba(hbaRules(["10.0.0.0/8"])),
            [
                "# pg_hba.conf rendered by hanzo-sql from the Hanzo SQL standard (HIP-29 §Security); first match wins.",
                "# TYPE  DATABASE  USER  ADDRESS  METHOD",
                "# the local socket, inside the pod only (probes, administration)",
                "local  all  all  trust",
                "# loopback: kubectl port-forward and sidecars",
                "host  all  all  127.0.0.1/32  scram-sha-256",
                "# loopback over IPv6",
                "host  all  all  ::1/128  scram-sha-256",
                "# the pod network, with a password",
                "host  all  all  10.0.0.0/8  scram-sha-256",
                "# everything else over IPv4 is rejected",
                "host  all  all  0.0.0.0/0  reject",
                "# everything else over IPv6 is rejected",
                "host  all  all  ::/0  reject",
                "",
            ].join("\n"),
        );
    });

    it("parses back the rules it renders", () => {
        const rules = hbaRules(["10.244.0.0/16", "10.245.0.0/16"]);
        assert.deepStrictEqual(
            parsePgHba(renderPgHba(rules)),
            rules.map(({ why: _why, ...r }) => r),
        );
    });
});

describe("connection strings", () => {
    const params = {
        user: "iam_user",
        password: "a@b:c/d#e?f%g h'i\\j!",
        host: "postgres.hanzo.svc",
        port: 5432,
        database: "iam",
        sslmode: "disable",
    };

    it("percent-encodes every reserved character of the password in DATABASE_URL", () => {
        assert.strictEqual(percentEncode("!'()*"), "%21%27%28%29%2A");
        const url = databaseUrl(params);
        assert.strictEqual(
            url,
            "postgresql://iam_user:a%40b%3Ac%2Fd%23e%3Ff%25g%20h%27i%5Cj%21@postgres.hanzo.svc:5432/iam?sslmode=disable",
        );
        const parsed = new URL(url);
        assert.strictEqual(decodeURIComponent(parsed.password), params.password);
        assert.strictEqual(parsed.hostname, "postgres.hanzo.svc");
        assert.strictEqual(parsed.pathname, "/iam");
    });

    it("escapes .pgpass lines", () => {
        assert.strictEqual(pgpassLine(params), "postgres.hanzo.svc:5432:iam:iam_user:a@b\\:c/d#e?f%g h'i\\\\j!");
    });

    it("gives every shape DATABASE_URL and DB_*, plus the URL-shaped keys its client reads", () => {
        const base = ["DATABASE_URL", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "DB_SSLMODE", "pgpass"];
        assert.deepStrictEqual(Object.keys(connectionSecretData(params, "url")), base);
        assert.deepStrictEqual(Object.keys(connectionSecretData(params, "beego")), [...base, "dataSourceName", "IAM_DATABASE_URL"]);
        assert.deepStrictEqual(connectionSecretData(params, "infisical").DB_CONNECTION_URI, databaseUrl(params));
        assert.deepStrictEqual(connectionSecretData(params, "krakend").dsn, databaseUrl(params));
        // IAM: a URL, never a keyword DSN (xorm parses keyword DSNs itself and breaks on quotes, spaces and `://`).
        assert.deepStrictEqual(connectionSecretData(params, "beego").dataSourceName, databaseUrl(params));
        assert.deepStrictEqual(connectionSecretData(params, "beego").IAM_DATABASE_URL, databaseUrl(params));
    });

    it("points a pooled service's keys at the pooler, keeps a direct URL, and a Prisma-only pooled URL", () => {
        const data = connectionSecretData(params, "beego", { host: "pgbouncer.hanzo.svc", port: 6432 });
        const pooled = "postgresql://iam_user:a%40b%3Ac%2Fd%23e%3Ff%25g%20h%27i%5Cj%21@pgbouncer.hanzo.svc:6432/iam?sslmode=disable";
        assert.deepStrictEqual(
            [data.DATABASE_URL, data.dataSourceName, data.IAM_DATABASE_URL, data.DB_HOST, data.DB_PORT],
            [pooled, pooled, pooled, "pgbouncer.hanzo.svc", "6432"],
        );
        assert.strictEqual(data.DIRECT_DATABASE_URL, databaseUrl(params));
        assert.strictEqual(data.PRISMA_PGBOUNCER_URL, `${pooled}&pgbouncer=true`);
        assert.strictEqual(data.PRISMA_DATABASE_URL, undefined);
    });
});
