/**
 * Streaming standbys (issue 24): the stack keys and their messages, the rendered settings and pg_hba lines,
 * the replication role and its Secret in the plan, the services' read keys, and the policy pack over a stack
 * with standbys. The real-server behaviour of the same files is in test/db/replication.test.ts.
 */
import * as assert from "assert";
import { noSuperuserRoles } from "../../policies/roles";
import { serverConfiguration } from "../../policies/server";
import { credentialsConfined } from "../../policies/credentials";
import { serverShape } from "../../policies/serverShape";
import { hbaRules } from "../../policies/standard/pgHba";
import { renderPgHba } from "../../render/pgHba";
import { replicationHbaRules, replicationSettings } from "../../policies/standard/replication";
import { serverSettings } from "../../policies/standard/settings";
import { VALID, load, problems } from "../support/config";
import { TYPES, ofType, planWith, revealed } from "../support/plan";
import { TYPE, find, gateLines, inputs, mutable, violations } from "../support/policy";

const GiB = 2 ** 30;
const STANDBYS = { ...VALID, services: ["iam", "cloud"], standbys: 2, synchronousStandbys: 1 };

describe("standbys: configuration", () => {
    it("defaults to one server, asynchronous", () => {
        assert.deepStrictEqual(load(VALID).instance.replication, { standbys: 0, synchronousStandbys: 0 });
        assert.deepStrictEqual(load(STANDBYS).instance.replication, { standbys: 2, synchronousStandbys: 1 });
    });

    it("names the key and the fix for every impossible value", () => {
        assert.deepStrictEqual(problems({ ...VALID, standbys: 1, synchronousStandbys: 2 }), [
            "hanzo-sql:synchronousStandbys = 2: is 2 but the stack has 1 standbys: commits would wait forever; set synchronousStandbys to at most standbys (1), or raise standbys",
        ]);
        assert.deepStrictEqual(problems({ ...VALID, synchronousStandbys: 1 }), [
            "hanzo-sql:synchronousStandbys = 1: is 1 but the stack has 0 standbys: commits would wait forever; set synchronousStandbys to at most standbys (0), or raise standbys",
        ]);
        assert.deepStrictEqual(problems({ ...VALID, standbys: 6 }), [
            "hanzo-sql:standbys = 6: must be a whole number from 0 to 5 (0: one server, no standby)",
        ]);
        assert.deepStrictEqual(problems({ ...VALID, standbys: -1, synchronousStandbys: 1.5 }), [
            "hanzo-sql:standbys = -1: must be a whole number from 0 to 5 (0: one server, no standby)",
            `hanzo-sql:synchronousStandbys = "1.5": must be a whole number`,
        ]);
    });
});

describe("standbys: rendered settings and pg_hba", () => {
    it("adds nothing to a single server", () => {
        assert.deepStrictEqual(replicationSettings({ standbys: 0, synchronousStandbys: 0 }, 50 * GiB), []);
        assert.deepStrictEqual(
            serverSettings(2 * GiB),
            serverSettings(2 * GiB, undefined, { replication: { spec: { standbys: 0, synchronousStandbys: 0 }, storageBytes: 50 * GiB } }),
        );
        assert.deepStrictEqual(replicationHbaRules({ standbys: 0, synchronousStandbys: 0 }, ["10.0.0.0/8"]), []);
    });

    it("renders hot_standby_feedback, slots, the WAL bound, wal_log_hints and ANY k (…) from the stack", () => {
        const s = serverSettings(2 * GiB, undefined, {
            replication: { spec: { standbys: 2, synchronousStandbys: 1 }, storageBytes: 50 * GiB },
        });
        const value = (name: string) => s.filter((x) => x.name === name).map((x) => x.value);
        assert.deepStrictEqual(value("max_wal_senders"), ["4"]);
        assert.deepStrictEqual(value("hot_standby"), ["on"]);
        assert.deepStrictEqual(value("hot_standby_feedback"), ["on"]);
        assert.deepStrictEqual(value("max_replication_slots"), ["10"]);
        assert.deepStrictEqual(value("max_slot_wal_keep_size"), ["10240MB"]);
        assert.deepStrictEqual(value("wal_log_hints"), ["on"]);
        assert.deepStrictEqual(value("synchronous_standby_names"), ["'ANY 1 (postgres_0, postgres_standby_0, postgres_standby_1)'"]);
        const async = serverSettings(2 * GiB, undefined, {
            replication: { spec: { standbys: 1, synchronousStandbys: 0 }, storageBytes: 10 * GiB },
        });
        assert.deepStrictEqual(
            async
                .filter((x) => ["max_wal_senders", "synchronous_standby_names", "max_slot_wal_keep_size"].includes(x.name))
                .map((x) => `${x.name}=${x.value}`),
            ["max_wal_senders=3", "max_slot_wal_keep_size=2048MB", "synchronous_standby_names=''"],
        );
    });

    it("admits replication for the replication role from the pod network only, and keeps it out of every database", () => {
        const text = renderPgHba(hbaRules(["10.244.0.0/16"], { standbys: 1, synchronousStandbys: 0 }));
        assert.deepStrictEqual(
            text.split("\n").filter((l) => l !== "" && !l.startsWith("#")),
            [
                "local  all  all  trust",
                "host  all  hanzo_replication  0.0.0.0/0  reject",
                "host  all  hanzo_replication  ::/0  reject",
                "host  all  all  127.0.0.1/32  scram-sha-256",
                "host  all  all  ::1/128  scram-sha-256",
                "host  all  all  10.244.0.0/16  scram-sha-256",
                "host  replication  hanzo_replication  10.244.0.0/16  scram-sha-256",
                "host  all  all  0.0.0.0/0  reject",
                "host  all  all  ::/0  reject",
            ],
        );
    });
});

describe("standbys: the plan", () => {
    const plan = () => planWith("standbys", STANDBYS);

    it("declares the replication role with REPLICATION and LOGIN only, and its own Secret", async () => {
        const p = await plan();
        const roles = ofType(p, TYPES.role).filter((r) => r.inputs.name === "hanzo_replication");
        assert.strictEqual(roles.length, 1);
        const { password, ...rest } = roles[0].inputs;
        assert.match(String(revealed(p, roles[0]).password), /^SCRAM-SHA-256\$4096:/);
        assert.ok(password !== undefined);
        assert.deepStrictEqual(rest, {
            name: "hanzo_replication",
            login: true,
            superuser: false,
            createRole: false,
            createDatabase: false,
            replication: true,
            bypassRowLevelSecurity: false,
            inherit: true,
            // Its sessions resolve names in pg_catalog only, as every privileged role's (docs/security.md).
            searchPaths: ["pg_catalog", "pg_temp"],
        });
        const secret = ofType(p, TYPES.secret).filter((r) => (r.inputs.metadata as { name: string }).name === "postgres-replication");
        assert.strictEqual(secret.length, 1);
        const data = revealed(p, secret[0]).stringData as Record<string, string>;
        assert.deepStrictEqual(Object.keys(data).sort(), ["password", "pgpass", "username"]);
        assert.strictEqual(data.username, "hanzo_replication");
        assert.strictEqual(data.pgpass, `*:*:replication:hanzo_replication:${data.password}`);
    });

    it("gives every service's Secret DATABASE_READ_URL and DB_READ_* pointing at postgres-ro", async () => {
        const p = await plan();
        const secret = ofType(p, TYPES.secret).find((r) => (r.inputs.metadata as { name: string }).name === "iam-database")!;
        const data = revealed(p, secret).stringData as Record<string, string>;
        const direct = new URL(data.DATABASE_URL);
        const read = new URL(data.DATABASE_READ_URL);
        assert.strictEqual(read.host, "postgres-ro.hanzo.svc:5432");
        assert.strictEqual(direct.host, "postgres.hanzo.svc:5432");
        read.host = direct.host;
        assert.strictEqual(read.toString(), direct.toString());
        assert.strictEqual(data.DB_READ_HOST, "postgres-ro.hanzo.svc");
        assert.strictEqual(data.DB_READ_PORT, "5432");
        const single = await planWith("single", VALID);
        const one = ofType(single, TYPES.secret).find((r) => (r.inputs.metadata as { name: string }).name === "iam-database")!;
        assert.deepStrictEqual(
            Object.keys(revealed(single, one).stringData as object).filter((k) => k.includes("READ")),
            [],
        );
    });

    it("passes the whole policy pack, which allows REPLICATION to the replication role alone", async () => {
        const engine = mutable((await plan()).engine);
        assert.deepStrictEqual(await gateLines(engine), ["standbys: 0 mandatory and 0 advisory violations of 19 policies"]);
        Object.assign(inputs(find(engine, TYPE.role, "hanzo_replication")), { createDatabase: true });
        Object.assign(inputs(find(engine, TYPE.role, "iam_user")), { replication: true });
        assert.deepStrictEqual((await violations(noSuperuserRoles, engine)).sort(), [
            'no-superuser-roles: hanzo-sql-iam-role (postgresql:index/role:Role): role "iam_user" has REPLICATION; only "hanzo" administers the server, application roles have none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS.',
            'no-superuser-roles: hanzo-sql-replication-role (postgresql:index/role:Role): role "hanzo_replication" has CREATEDB; only "hanzo" administers the server, application roles have none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS.',
        ]);
    });

    it("accepts the servers' start script and pgpass mounts exactly as the program builds them, nothing wider", async () => {
        const engine = mutable((await plan()).engine);
        const standby = inputs(find(engine, TYPE.statefulSet, "postgres-standby"));
        // The whole administrator's Secret as a volume, not its pgpass key alone.
        const adminVolume = standby.spec.template.spec.volumes.find((v: { name: string }) => v.name === "admin-pgpass");
        delete adminVolume.secret.items;
        // A command that is not the start script the configuration carries.
        const primary = inputs(find(engine, TYPE.statefulSet, "postgres"));
        primary.spec.template.spec.containers[0].command = ["bash", "/tmp/other.sh"];
        assert.deepStrictEqual(await violations(credentialsConfined, engine), [
            `credentials-confined: hanzo-sql-standbys-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres-standby" container "postgres" mounts the administrator's Secret "postgres-credentials" (volume admin-pgpass); the server reads it through env only, remove the volume.`,
        ]);
        assert.deepStrictEqual(await violations(serverShape, engine), [
            `server-shape: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "postgres" replaces the image's entrypoint (command ["bash","/tmp/other.sh"]); start the server with args only.`,
            `server-shape: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "postgres" runs with args ["docker-entrypoint.sh","postgres","-c","config_file=/etc/postgresql/postgresql.conf","-c","hba_file=/etc/postgresql/pg_hba.conf"]; the server takes exactly ["postgres","-c","config_file=/etc/postgresql/postgresql.conf","-c","hba_file=/etc/postgresql/pg_hba.conf"].`,
        ]);
        // The start script's command is accepted only while the configuration ConfigMap carries the script.
        const engine2 = mutable((await plan()).engine);
        delete inputs(find(engine2, TYPE.configMap, "postgres-config")).data["replica-start.sh"];
        assert.strictEqual((await violations(serverShape, engine2)).length, 4);
    });

    it("lets max_wal_senders grow with the standbys, never below the standard's 3", async () => {
        const engine = mutable((await plan()).engine);
        const data = inputs(find(engine, TYPE.configMap, "postgres-config")).data as Record<string, string>;
        assert.match(data["postgresql.conf"], /^max_wal_senders = 4 /m);
        data["postgresql.conf"] = data["postgresql.conf"].replace(/^max_wal_senders = 4 /m, "max_wal_senders = 2 ");
        assert.deepStrictEqual(await violations(serverConfiguration, engine), [
            `server-configuration: hanzo-sql-postgres-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/postgres-config" postgresql.conf sets max_wal_senders = 2; expected at least 3 (the standard's value).`,
        ]);
    });
});
