import * as assert from "assert";
import { requiredExtensions, serverConfiguration } from "../../policies/server";
import { TYPE, find, inputs, planCopy, remove, violations } from "../support/policy";

const CM = "hanzo-sql-postgres-config (kubernetes:core/v1:ConfigMap)";
const BEYOND =
    "reaches beyond private address space; the standard admits the pod network only: a range inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7";
const conf = (plan: any) => inputs(find(plan, TYPE.configMap, "postgres-config")).data;

describe("required-extensions", () => {
    const P = "required-extensions";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(requiredExtensions, await planCopy(stack)), []);
        });
    }

    it("rejects a service database or template1 without the four extensions", async () => {
        const plan = await planCopy("lux-k8s");
        remove(
            plan,
            (r) =>
                r.type === TYPE.extension &&
                ((r.inputs.database === "gateway" && r.inputs.name !== "pg_trgm") ||
                    (r.inputs.database === "template1" && r.inputs.name === "vector")),
        );
        assert.deepStrictEqual(await violations(requiredExtensions, plan), [
            `${P}: hanzo-sql-gateway-database (postgresql:index/database:Database): database "gateway" lacks the extensions vector, uuid-ossp, pg_stat_statements; every service database must have vector, pg_trgm, uuid-ossp, pg_stat_statements.`,
            `${P}: lux-k8s (pulumi:pulumi:Stack): template1 lacks the extensions vector; a database created later by hand would not have them.`,
        ]);
    });

    it("rejects a postgresql.conf that does not preload pg_stat_statements", async () => {
        const plan = await planCopy();
        conf(plan)["postgresql.conf"] = conf(plan)["postgresql.conf"].replace(
            "shared_preload_libraries = 'pg_stat_statements'",
            "shared_preload_libraries = 'auto_explain'",
        );
        assert.deepStrictEqual(await violations(requiredExtensions, plan), [
            `${P}: ${CM}: ConfigMap "hanzo/postgres-config" postgresql.conf does not preload pg_stat_statements (shared_preload_libraries); its view fails until it is preloaded.`,
        ]);
    });
});

describe("server-configuration", () => {
    const P = "server-configuration";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "dev"]) {
        it(`passes the ${stack} stack (memory settings derived from its own limit)`, async () => {
            assert.deepStrictEqual(await violations(serverConfiguration, await planCopy(stack)), []);
        });
    }

    it("rejects a changed, missing or wrongly derived setting, and accepts equal values in other units", async () => {
        const plan = await planCopy();
        const text: string = conf(plan)["postgresql.conf"];
        conf(plan)["postgresql.conf"] = text
            .replace("max_connections = 200", "max_connections = 500")
            .replace(/^log_statement = .*$/m, "")
            .replace("shared_buffers = 512MB", "shared_buffers = 128MB")
            .replace("wal_keep_size = 1GB", "wal_keep_size = 1024MB")
            .replace("max_parallel_maintenance_workers = 1 ", "max_parallel_maintenance_workers = 2 ")
            .replace(/^autovacuum_work_mem = .*$/m, "");
        assert.deepStrictEqual(await violations(serverConfiguration, plan), [
            `${P}: ${CM}: ConfigMap "hanzo/postgres-config" postgresql.conf sets max_connections = 500; expected 200 (the standard's value).`,
            `${P}: ${CM}: ConfigMap "hanzo/postgres-config" postgresql.conf sets shared_buffers = 128MB; expected 512MB for the 2Gi memory limit.`,
            `${P}: ${CM}: ConfigMap "hanzo/postgres-config" postgresql.conf sets max_parallel_maintenance_workers = 2; expected 1 for the 2-core CPU limit.`,
            `${P}: ${CM}: ConfigMap "hanzo/postgres-config" postgresql.conf lacks log_statement; expected ddl (the standard's value).`,
            `${P}: ${CM}: ConfigMap "hanzo/postgres-config" postgresql.conf lacks autovacuum_work_mem; expected 128MB for the 2Gi memory limit.`,
        ]);
    });

    it("rejects pgvector settings that are missing, that pgvector would ignore, or that turn iterative scans off", async () => {
        const plan = await planCopy();
        const text: string = conf(plan)["postgresql.conf"];
        assert.match(text, /^hnsw\.iterative_scan = strict_order +# /m);
        conf(plan)["postgresql.conf"] = text
            .replace(/^hnsw\.iterative_scan = .*$/m, "hnsw.iterative_scan = off")
            .replace(/^hnsw\.ef_search = .*$/m, "")
            .replace(/^hnsw\.max_scan_tuples = .*$/m, "hnsw.max_scan_tuples = 0")
            .replace(/^ivfflat\.iterative_scan = .*$/m, "ivfflat.iterative_scan = 'strict_order'");
        const where = `${P}: ${CM}: ConfigMap "hanzo/postgres-config" postgresql.conf`;
        assert.deepStrictEqual(await violations(serverConfiguration, plan), [
            `${where} sets hnsw.iterative_scan = off: a filtered vector query (WHERE … ORDER BY distance LIMIT n) returns fewer than n rows; use strict_order (HNSW) or relaxed_order.`,
            `${where} lacks hnsw.ef_search; render it from the stack (filtered vector queries depend on it).`,
            `${where} sets hnsw.max_scan_tuples = 0: must be a whole number from 1 to 2147483647 (pgvector's range); pgvector would ignore it and use its default.`,
            `${where} sets ivfflat.iterative_scan = 'strict_order': must be one of off, relaxed_order; pgvector would ignore it and use its default.`,
        ]);
    });

    it("rejects trust and md5 over the network, the whole internet, and a missing final reject", async () => {
        const plan = await planCopy();
        conf(plan)["pg_hba.conf"] = [
            "local all all trust",
            "host all all 10.0.0.0/8 md5",
            "host all all 127.0.0.1/32 trust",
            "host all all 0.0.0.0/0 scram-sha-256",
        ].join("\n");
        const where = `${P}: ${CM}: ConfigMap "hanzo/postgres-config" pg_hba.conf`;
        assert.deepStrictEqual(await violations(serverConfiguration, plan), [
            `${where} authenticates with md5 ("host all all 10.0.0.0/8 md5"); use scram-sha-256 (passwords are stored as SCRAM).`,
            `${where} trusts network connections ("host all all 127.0.0.1/32 trust"); use scram-sha-256.`,
            `${where} admits "host all all 0.0.0.0/0 scram-sha-256": 0.0.0.0/0 ${BEYOND}.`,
            `${where} does not end by rejecting everything else; end it with "host all all 0.0.0.0/0 reject" (and "host all all ::/0 reject").`,
        ]);
    });

    it("rejects IPv6 ranges beyond private address space (::/0 admits every address), a mask form and `all`", async () => {
        const plan = await planCopy();
        conf(plan)["pg_hba.conf"] = [
            "local all all trust",
            "host all all ::1/128 scram-sha-256",
            "host all all fd00:10::/104 scram-sha-256",
            "host all all ::/0 scram-sha-256",
            "hostssl all all 2001:db8::/32 scram-sha-256",
            "host all all 10.0.0.0 255.0.0.0 scram-sha-256",
            "host all all 10.0.0.0 254.0.0.0 scram-sha-256",
            "host all all all scram-sha-256",
            "host all all 0.0.0.0/0 reject",
            "host all all ::/0 reject",
        ].join("\n");
        const where = `${P}: ${CM}: ConfigMap "hanzo/postgres-config" pg_hba.conf`;
        assert.deepStrictEqual(await violations(serverConfiguration, plan), [
            `${where} admits "host all all ::/0 scram-sha-256": ::/0 ${BEYOND}.`,
            `${where} admits "hostssl all all 2001:db8::/32 scram-sha-256": 2001:db8::/32 ${BEYOND}.`,
            `${where} admits "host all all 10.0.0.0 254.0.0.0 scram-sha-256": 10.0.0.0 254.0.0.0 ${BEYOND}.`,
            `${where} admits "host all all all scram-sha-256": all admits every address; the standard admits the pod network only.`,
        ]);
    });
});
