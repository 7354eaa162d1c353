/**
 * The read-only PgBouncer pool (issue 24, docs/standbys.md "Reads"): a pooled stack with standbys declares, in
 * the same PgBouncer, a `<database>-ro` pool per pooled service on `postgres-ro`; the pooled services' read keys
 * lead to it, the unpooled ones' to `postgres-ro` itself; the pooler's egress rule already selects the standbys'
 * pods; and the policy pack passes the stack and still refuses a pool configured with a password or exposed
 * outside the cluster. The same pool on real servers: test/db/readPool.test.ts.
 */
import * as assert from "assert";
import { noPlaintextSecrets } from "../../policies/secrets";
import { noExternalExposure } from "../../policies/exposure";
import { planFromValues } from "../../cli/plan";
import { TOKEN_ENV, TYPES, ofType, planWith, revealed, resource } from "../support/plan";
import { TYPE, find, gateLines, inputs, mutable, violations } from "../support/policy";
import type { PlanResult } from "../../cli/plan/runner";
import { POOLED_STANDBYS } from "../support/config";

const planned = () => planWith("pooled-standbys", POOLED_STANDBYS);

function secretData(p: PlanResult, name: string): Record<string, string> {
    const s = ofType(p, TYPES.secret).find((r) => (r.inputs.metadata as { name: string }).name === name);
    assert.ok(s, `no Secret ${name}`);
    return revealed(p, s).stringData as Record<string, string>;
}

/** The URL with its password replaced (the mock's generated one), for exact comparison. */
function withoutPassword(url: string): string {
    const u = new URL(url);
    u.password = "PW";
    return u.toString();
}

describe("the read-only PgBouncer pool (standbys with pooling)", function () {
    this.timeout(120_000);

    it("gives each pooled database a <database>-ro pool on postgres-ro in the same PgBouncer, nothing else changed", async () => {
        const ini = (resource(await planned(), TYPES.configMap, "hanzo-sql-pgbouncer-config").inputs.data as Record<string, string>)[
            "pgbouncer.ini"
        ];
        const databases = ini.slice(ini.indexOf("[databases]"), ini.indexOf("[pgbouncer]")).trim().split("\n");
        assert.deepStrictEqual(databases, [
            "[databases]",
            "iam = host=postgres.hanzo.svc port=5432 dbname=iam",
            "cloud = host=postgres.hanzo.svc port=5432 dbname=cloud",
            "iam-ro = host=postgres-ro.hanzo.svc port=5432 dbname=iam",
            "cloud-ro = host=postgres-ro.hanzo.svc port=5432 dbname=cloud",
        ]);
        // The [pgbouncer] section is the one a stack without standbys renders.
        const single = await planWith("pooled-single", { ...POOLED_STANDBYS, standbys: 0, synchronousStandbys: 0 });
        const singleIni = (resource(single, TYPES.configMap, "hanzo-sql-pgbouncer-config").inputs.data as Record<string, string>)[
            "pgbouncer.ini"
        ];
        assert.strictEqual(ini.slice(ini.indexOf("[pgbouncer]")), singleIni.slice(singleIni.indexOf("[pgbouncer]")));
        assert.ok(!singleIni.includes("-ro"), singleIni);
    });

    it("points a pooled service's read keys at its read-only pool, and DIRECT_DATABASE_READ_URL at postgres-ro", async () => {
        const p = await planned();
        const iam = secretData(p, "iam-database");
        const read = Object.fromEntries(Object.entries(iam).filter(([k]) => k.includes("READ")));
        assert.deepStrictEqual(Object.fromEntries(Object.entries(read).map(([k, v]) => [k, k.endsWith("_URL") ? withoutPassword(v) : v])), {
            DATABASE_READ_URL: "postgresql://iam_user:PW@pgbouncer.hanzo.svc:6432/iam-ro?sslmode=disable",
            DB_READ_HOST: "pgbouncer.hanzo.svc",
            DB_READ_PORT: "6432",
            DB_READ_NAME: "iam-ro",
            DIRECT_DATABASE_READ_URL: "postgresql://iam_user:PW@postgres-ro.hanzo.svc:5432/iam?sslmode=disable",
        });
        // The same password as every other key of the Secret.
        assert.strictEqual(decodeURIComponent(new URL(iam.DATABASE_READ_URL).password), iam.DB_PASSWORD);
        assert.strictEqual(decodeURIComponent(new URL(iam.DIRECT_DATABASE_READ_URL).password), iam.DB_PASSWORD);
        // An unpooled service reads from the standbys' port, as before.
        const console = secretData(p, "console-database");
        assert.deepStrictEqual(
            Object.fromEntries(
                Object.entries(console)
                    .filter(([k]) => k.includes("READ"))
                    .map(([k, v]) => [k, k.endsWith("_URL") ? withoutPassword(v) : v]),
            ),
            {
                DATABASE_READ_URL: "postgresql://console_user:PW@postgres-ro.hanzo.svc:5432/console?sslmode=disable",
                DB_READ_HOST: "postgres-ro.hanzo.svc",
                DB_READ_PORT: "5432",
                DB_READ_NAME: "console",
            },
        );
    });

    it("lets PgBouncer reach the standbys through its existing egress rule, which selects every server pod", async () => {
        const p = await planned();
        const egress = resource(p, TYPES.networkPolicy, "hanzo-sql-pgbouncer-egress").inputs.spec as {
            egress: { to: { podSelector?: { matchLabels: Record<string, string> } }[]; ports: unknown[] }[];
        };
        assert.deepStrictEqual(egress.egress[0], {
            to: [{ podSelector: { matchLabels: { app: "postgres" } } }],
            ports: [{ protocol: "TCP", port: 5432 }],
        });
        const selector = egress.egress[0].to[0].podSelector.matchLabels;
        // The standbys' pods carry it, and so does postgres-ro's selection of them.
        const standbyLabels = (
            resource(p, TYPES.statefulSet, "hanzo-sql-standbys-statefulset").inputs.spec as {
                template: { metadata: { labels: Record<string, string> } };
            }
        ).template.metadata.labels;
        for (const [k, v] of Object.entries(selector)) {
            assert.strictEqual(standbyLabels[k], v, `standby pods lack ${k}=${v}`);
        }
        const ro = ofType(p, TYPES.service).find((r) => (r.inputs.metadata as { name: string }).name === "postgres-ro")!;
        assert.deepStrictEqual((ro.inputs.spec as { selector: unknown }).selector, { app: "postgres", "hanzo.ai/role": "standby" });
        // The servers' ingress rule admits the namespace's pods (PgBouncer's among them) on 5432, standbys included.
        const ingress = resource(p, TYPES.networkPolicy, "hanzo-sql-postgres-network-policy").inputs.spec as {
            podSelector: { matchLabels: Record<string, string> };
            ingress: { from: unknown[]; ports: unknown[] }[];
        };
        assert.deepStrictEqual(ingress.podSelector, { matchLabels: { app: "postgres" } });
        assert.ok(
            ingress.ingress.some(
                (r) => JSON.stringify(r.from) === JSON.stringify([{ podSelector: {} }]) && JSON.stringify(r.ports).includes("5432"),
            ),
            JSON.stringify(ingress.ingress),
        );
    });

    for (const preview of [false, true]) {
        it(`passes the whole policy pack ${preview ? "as a first preview" : "as an update"}`, async () => {
            const engine = mutable((await planFromValues("pooled-standbys", POOLED_STANDBYS, [], TOKEN_ENV, preview)).engine);
            assert.strictEqual(engine.preview === true, preview);
            assert.deepStrictEqual(await gateLines(engine), ["pooled-standbys: 0 mandatory and 0 advisory violations of 19 policies"]);
        });
    }

    it("still refuses a read pool given a password in pgbouncer.ini, or a read Service exposed outside the cluster", async () => {
        const engine = mutable((await planned()).engine);
        const config = inputs(find(engine, TYPE.configMap, "pgbouncer-config"));
        const iam = secretData(await planned(), "iam-database");
        config.data["pgbouncer.ini"] = config.data["pgbouncer.ini"].replace(
            "iam-ro = host=postgres-ro.hanzo.svc port=5432 dbname=iam",
            `iam-ro = host=postgres-ro.hanzo.svc port=5432 dbname=iam user=iam_user password=${iam.DB_PASSWORD}`,
        );
        const ro = inputs(find(engine, TYPE.service, "postgres-ro"));
        ro.spec.type = "LoadBalancer";
        delete ro.spec.clusterIP;
        const found = [...(await violations(noPlaintextSecrets, engine)), ...(await violations(noExternalExposure, engine))];
        assert.strictEqual(found.length, 2, found.join("\n"));
        assert.match(found[0], /^no-plaintext-secrets: hanzo-sql-pgbouncer-config \(kubernetes:core\/v1:ConfigMap\): /);
        assert.ok(!found[0].includes(iam.DB_PASSWORD), "the message names no password");
        assert.match(found[1], /^no-external-exposure: hanzo-sql-standbys-read-service \(kubernetes:core\/v1:Service\): /);
    });
});
