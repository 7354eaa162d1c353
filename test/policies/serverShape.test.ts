import * as assert from "assert";
import { serverConfiguration } from "../../policies/server";
import { safeServerSettings, serverShape } from "../../policies/serverShape";
import { TYPE, add, find, inputs, planCopy, violations } from "../support/policy";

const server = (plan: any) => inputs(find(plan, TYPE.statefulSet, "postgres"));
const config = (plan: any) => inputs(find(plan, TYPE.configMap, "postgres-config")).data;
const ARGS = '["postgres","-c","config_file=/etc/postgresql/postgresql.conf","-c","hba_file=/etc/postgresql/pg_hba.conf"]';

describe("server-shape", () => {
    const P = "server-shape";
    const STS = `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres"`;
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(serverShape, await planCopy(stack)), []);
        });
    }

    it("rejects args that move hba_file or config_file, set settings with -c or --name=value, or replace the entrypoint", async () => {
        const cases: [string[] | undefined, string[] | undefined, string][] = [
            [
                ["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf", "-c", "hba_file=/tmp/pg_hba.conf"],
                undefined,
                `${STS} container "postgres" runs with args ["postgres","-c","config_file=/etc/postgresql/postgresql.conf","-c","hba_file=/tmp/pg_hba.conf"] (sets hba_file on the command line, outranking the rendered files); the server takes exactly ${ARGS}.`,
            ],
            [
                [
                    "postgres",
                    "-c",
                    "config_file=/etc/postgresql/postgresql.conf",
                    "-c",
                    "hba_file=/etc/postgresql/pg_hba.conf",
                    "-c",
                    "password_encryption=md5",
                ],
                undefined,
                `${STS} container "postgres" runs with args ["postgres","-c","config_file=/etc/postgresql/postgresql.conf","-c","hba_file=/etc/postgresql/pg_hba.conf","-c","password_encryption=md5"] (sets password_encryption on the command line, outranking the rendered files); the server takes exactly ${ARGS}.`,
            ],
            [
                ["postgres", "--config_file=/data/postgresql.conf", "-cshared_preload_libraries=evil"],
                undefined,
                `${STS} container "postgres" runs with args ["postgres","--config_file=/data/postgresql.conf","-cshared_preload_libraries=evil"] (sets config_file, shared_preload_libraries on the command line, outranking the rendered files); the server takes exactly ${ARGS}.`,
            ],
            [
                ["-D", "/var/lib/postgresql/data/pgdata"],
                ["postgres"],
                `${STS} container "postgres" replaces the image's entrypoint (command ["postgres"]); start the server with args only.`,
            ],
            [[], undefined, `${STS} container "postgres" runs with args []; the server takes exactly ${ARGS}.`],
        ];
        for (const [args, command, message] of cases) {
            const plan = await planCopy();
            const c = server(plan).spec.template.spec.containers[0];
            c.args = args;
            if (command) {
                c.command = command;
            }
            const lines = await violations(serverShape, plan);
            assert.ok(lines.includes(message), `${JSON.stringify(args)}:\n${lines.join("\n")}`);
            assert.strictEqual(lines.length, command ? 2 : 1, lines.join("\n"));
        }
    });

    it("rejects another container name, a server without the rendered configuration mounted, and the server under another workload kind", async () => {
        const plan = await planCopy();
        server(plan).spec.template.spec.containers[0].name = "db";
        add(plan, TYPE.deployment, "pg-deploy", {
            metadata: { name: "pg", namespace: "hanzo" },
            spec: {
                template: {
                    spec: { containers: [{ name: "postgres", image: "postgres:16.4", env: [{ name: "PGDATA", value: "/data" }] }] },
                },
            },
        });
        add(plan, TYPE.pod, "pg-pod", {
            metadata: { name: "pg-pod", namespace: "hanzo" },
            spec: {
                containers: [
                    { name: "x", image: "postgres:16.4", command: ["/usr/lib/postgresql/16/bin/postgres"], args: ["-D", "/data"] },
                ],
            },
        });
        add(plan, TYPE.statefulSet, "bare", {
            metadata: { name: "bare", namespace: "hanzo" },
            spec: { template: { spec: { containers: [{ name: "postgres", image: "postgres:16.4", args: ["postmaster"] }] } } },
        });
        assert.deepStrictEqual(await violations(serverShape, plan), [
            `${STS} container "db" runs the server; name its container "postgres" (probes, tools and policies find it by that name).`,
            `${P}: pg-deploy (kubernetes:apps/v1:Deployment): Deployment "hanzo/pg" runs a PostgreSQL server (container "postgres"); the standard runs it only as the StatefulSet the program builds, with its own volume.`,
            `${P}: pg-pod (kubernetes:core/v1:Pod): Pod "hanzo/pg-pod" runs a PostgreSQL server (container "x"); the standard runs it only as the StatefulSet the program builds, with its own volume.`,
            `${P}: bare (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/bare" container "postgres" does not mount the rendered postgresql.conf (a ConfigMap that carries it); mount it and point the server at it.`,
        ]);
    });

    it("follows the configuration to where it is mounted: another mount path with matching args passes", async () => {
        const plan = await planCopy();
        const c = server(plan).spec.template.spec.containers[0];
        c.volumeMounts.find((m: any) => m.name === "config").mountPath = "/conf";
        c.args = ["postgres", "-c", "config_file=/conf/postgresql.conf", "-c", "hba_file=/conf/pg_hba.conf"];
        assert.deepStrictEqual(await violations(serverShape, plan), []);
    });
});

describe("safe-server-settings", () => {
    const P = "safe-server-settings";
    const CM = `${P}: hanzo-sql-postgres-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/postgres-config"`;
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(safeServerSettings, await planCopy(stack)), []);
        });
    }

    it("rejects settings that weaken authentication or load code, each with its reason", async () => {
        const plan = await planCopy();
        const data = config(plan);
        data["postgresql.conf"] = data["postgresql.conf"]
            .replace("password_encryption = 'scram-sha-256'", "password_encryption = md5")
            .replace(
                "shared_preload_libraries = 'pg_stat_statements'",
                "shared_preload_libraries = 'pg_stat_statements,auto_explain, pg_cron'",
            );
        data["postgresql.conf"] += [
            "session_preload_libraries = 'auto_explain'",
            "local_preload_libraries = 'evil'",
            "dynamic_library_path = '/tmp/lib:$libdir'",
            "jit_provider = 'myjit'",
            "allow_system_table_mods = on",
            "ssl_passphrase_command = 'sh -c id'",
            "ssl_min_protocol_version = 'TLSv1'",
            "include_dir 'conf.d'",
            "include_if_exists = '/tmp/extra.conf'",
            "",
        ].join("\n");
        assert.deepStrictEqual(await violations(safeServerSettings, plan), [
            `${CM} postgresql.conf sets password_encryption = md5: it stores new passwords as MD5 hashes, which replay like passwords and which pg_hba.conf's scram-sha-256 lines then refuse; use 'scram-sha-256'.`,
            `${CM} postgresql.conf sets shared_preload_libraries = 'pg_stat_statements,auto_explain, pg_cron': it loads auto_explain, pg_cron into every server process; the standard preloads pg_stat_statements only.`,
            `${CM} postgresql.conf sets session_preload_libraries = 'auto_explain': it loads code into every session; leave it empty (the standard preloads at server start only).`,
            `${CM} postgresql.conf sets local_preload_libraries = 'evil': it loads code from $libdir/plugins into every session, any role's; leave it empty.`,
            `${CM} postgresql.conf sets dynamic_library_path = '/tmp/lib:$libdir': it makes LOAD and C functions find libraries outside the image's $libdir; leave it '$libdir'.`,
            `${CM} postgresql.conf sets jit_provider = 'myjit': it loads another library as the JIT provider in every session that compiles a query; leave it llvmjit.`,
            `${CM} postgresql.conf sets allow_system_table_mods = on: it lets sessions alter the system catalogs' structure; leave it off.`,
            `${CM} postgresql.conf sets ssl_passphrase_command = 'sh -c id': it runs a shell command as the server's OS user at start and reload; the standard has no TLS key to unlock.`,
            `${CM} postgresql.conf sets ssl_min_protocol_version = 'TLSv1': it admits TLS versions older than 1.2; leave it TLSv1.2 or higher.`,
            `${CM} postgresql.conf sets include_dir = 'conf.d': it reads settings from files the ConfigMap does not carry; put every setting in the rendered file.`,
            `${CM} postgresql.conf sets include_if_exists = '/tmp/extra.conf': it reads settings from a file the ConfigMap does not carry; put every setting in the rendered file.`,
        ]);
    });

    it("accepts the harmless values of the same settings (defaults written out, off, an empty list)", async () => {
        const plan = await planCopy();
        config(plan)["postgresql.conf"] += [
            "session_preload_libraries = ''",
            "dynamic_library_path = '$libdir'",
            "jit_provider = 'llvmjit'",
            "allow_system_table_mods = off",
            "ssl_min_protocol_version = 'TLSv1.3'",
            "",
        ].join("\n");
        assert.deepStrictEqual(await violations(safeServerSettings, plan), []);
    });

    it("rejects pg_hba.conf lines that include other files; trust and password lines are server-configuration's", async () => {
        const plan = await planCopy();
        const data = config(plan);
        data["pg_hba.conf"] = data["pg_hba.conf"].replace(
            "host  all  all  10.0.0.0/8  scram-sha-256",
            [
                "include_dir hba.d",
                "host  @admins.txt  all  10.0.0.0/8  scram-sha-256",
                "host all all 10.1.0.0/16 trust",
                "host all all 10.2.0.0/16 password",
                "host  all  all  10.0.0.0/8  scram-sha-256",
            ].join("\n"),
        );
        const lines = await violations(safeServerSettings, plan);
        assert.deepStrictEqual(lines, [
            `${CM} pg_hba.conf line "include_dir hba.d" reads rules from a file the ConfigMap does not carry; keep every rule in the rendered file.`,
            `${CM} pg_hba.conf line "host @admins.txt all 10.0.0.0/8 scram-sha-256" reads names from a file the ConfigMap does not carry; keep every rule in the rendered file.`,
        ]);
        const configuration = await violations(serverConfiguration, plan);
        const where = `server-configuration: hanzo-sql-postgres-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/postgres-config" pg_hba.conf`;
        assert.ok(
            configuration.includes(`${where} trusts network connections ("host all all 10.1.0.0/16 trust"); use scram-sha-256.`),
            configuration.join("\n"),
        );
        assert.ok(
            configuration.includes(
                `${where} authenticates with password ("host all all 10.2.0.0/16 password"); use scram-sha-256 (passwords are stored as SCRAM).`,
            ),
            configuration.join("\n"),
        );
    });
});
