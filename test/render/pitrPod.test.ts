import * as assert from "assert";
import { X509Certificate, createPublicKey } from "crypto";
import { PitrSpec, renderBackupPgbackrestConf, renderServerPgbackrestConf } from "../../render/pitr";
import { backupHosts, backupScript, renderBackupJobConf, renderServerPodConf, serverTlsNames, sidecarScript } from "../../render/pitrPod";
import { pgbackrestSidecar, pitrBackupCronJob, sidecarVolumes } from "../../render/pods/pitr";
import { certificatePem, derivedKey, privateKeyPem } from "../../render/x509";
import { pitrSpec } from "../support/pitr";

const SPEC: PitrSpec = pitrSpec({
    endpoint: "https://minio.minio.svc:9000",
    region: "us-east-1",
    bucket: "b-postgres-backups",
    prefix: "/postgres-pitr",
    uriStyle: "path",
    caFile: "/etc/pgbackrest/endpoint-ca.crt",
});

describe("render/pitrPod: the archive's pod shape (pgBackRest TLS server sidecar, backup Jobs as its clients)", () => {
    it("the server pod's file is render/pitr.ts's plus the TLS server's options in [global:server], admitting the backup Jobs' CN for the stanza", () => {
        assert.strictEqual(
            renderServerPodConf(SPEC),
            renderServerPgbackrestConf(SPEC) +
                `
[global:server]
tls-server-address=*
tls-server-port=8432
tls-server-cert-file=/etc/pgbackrest-tls/tls.crt
tls-server-key-file=/etc/pgbackrest-key/tls.key
tls-server-ca-file=/etc/pgbackrest-tls/ca.crt
tls-server-auth=pgbackrest-backup=db
`,
        );
    });

    it("the backup Jobs' file is render/pitr.ts's with pg1 reached over TLS at the primary's Service (it follows a failover)", () => {
        const hosts = backupHosts("postgres", undefined, "hanzo");
        assert.deepStrictEqual(hosts, { primary: "postgres.hanzo.svc" });
        assert.strictEqual(
            renderBackupJobConf(SPEC, hosts),
            renderBackupPgbackrestConf(SPEC) +
                `pg1-host=postgres.hanzo.svc
pg1-host-type=tls
pg1-host-port=8432
pg1-host-cert-file=/etc/pgbackrest-tls/tls.crt
pg1-host-key-file=/etc/pgbackrest-tls/tls.key
pg1-host-ca-file=/etc/pgbackrest-tls/ca.crt
`,
        );
        assert.ok(renderBackupJobConf(SPEC, hosts).includes("repo1-storage-ca-file=/etc/pgbackrest/endpoint-ca.crt\n"));
    });

    it("with standbys: pg2 is the standbys' Service with pg1's paths, and the files are copied from it (backup-standby=y)", () => {
        const hosts = backupHosts("postgres", "postgres-ro", "hanzo");
        assert.deepStrictEqual(hosts, { primary: "postgres.hanzo.svc", standby: "postgres-ro.hanzo.svc" });
        assert.strictEqual(
            renderBackupJobConf(SPEC, hosts),
            renderBackupPgbackrestConf(SPEC) +
                `pg1-host=postgres.hanzo.svc
pg1-host-type=tls
pg1-host-port=8432
pg1-host-cert-file=/etc/pgbackrest-tls/tls.crt
pg1-host-key-file=/etc/pgbackrest-tls/tls.key
pg1-host-ca-file=/etc/pgbackrest-tls/ca.crt
pg2-path=/var/lib/postgresql/data/pgdata
pg2-socket-path=/var/run/postgresql
pg2-port=5432
pg2-user=hanzo
pg2-host=postgres-ro.hanzo.svc
pg2-host-type=tls
pg2-host-port=8432
pg2-host-cert-file=/etc/pgbackrest-tls/tls.crt
pg2-host-key-file=/etc/pgbackrest-tls/tls.key
pg2-host-ca-file=/etc/pgbackrest-tls/ca.crt
backup-standby=y
`,
        );
        // One certificate for every server pod, whatever its role, naming both Services in every stack.
        assert.deepStrictEqual(serverTlsNames("postgres", "postgres-ro", "hanzo"), [
            "postgres.hanzo.svc",
            "postgres.hanzo.svc.cluster.local",
            "postgres-ro.hanzo.svc",
            "postgres-ro.hanzo.svc.cluster.local",
        ]);
    });

    it("scripts: the sidecar creates the stanza on a primary until it can and serves at once on a standby, reloading a changed certificate; a backup retries the stanza five times, then backs up", () => {
        assert.strictEqual(
            sidecarScript(),
            [
                "set -u",
                "while :; do",
                `    recovery=$(PGOPTIONS="-c search_path=pg_catalog,pg_temp" psql -XAtq -h "$(sed -n 's/^pg1-socket-path=//p' /etc/pgbackrest/pgbackrest.conf)" -p "$(sed -n 's/^pg1-port=//p' /etc/pgbackrest/pgbackrest.conf)" -U "$(sed -n 's/^pg1-user=//p' /etc/pgbackrest/pgbackrest.conf)" -d postgres -c 'SELECT pg_catalog.pg_is_in_recovery()' 2>/dev/null) || recovery=`,
                '    if [ "$recovery" = t ]; then echo "pgbackrest: the server is in recovery (a standby): no stanza-create here, serving"; break; fi',
                '    if [ "$recovery" = f ] && pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db stanza-create; then break; fi',
                "    sleep 10",
                "done",
                // The TLS server, reloaded (SIGHUP) when the mounted Secret's files change (a renamed or rotated
                // certificate), the key copied first; test/db/pitrCertReload.test.ts runs this on pgBackRest 2.45.
                "tls_sum() { cat /etc/pgbackrest-tls/ca.crt /etc/pgbackrest-tls/tls.crt /etc/pgbackrest-tls/tls.key | sha256sum; }",
                "copy_key() { (umask 077 && cat /etc/pgbackrest-tls/tls.key > /etc/pgbackrest-key/tls.key.new && mv -f /etc/pgbackrest-key/tls.key.new /etc/pgbackrest-key/tls.key); }",
                "loaded=$(tls_sum)",
                "copy_key || exit 1",
                "server=$BASHPID",
                "(",
                "    while sleep 10; do",
                "        now=$(tls_sum)",
                `        if [ "$now" != "$loaded" ] && copy_key; then kill -HUP "$server"; echo "pgbackrest: the TLS Secret's files changed: the TLS server reloads them (SIGHUP)"; loaded=$now; fi`,
                "    done",
                ") &",
                "exec pgbackrest --config=/etc/pgbackrest/pgbackrest.conf server",
            ].join("\n"),
        );
        // Kubernetes reduces `$$` in a command to `$` (the API's escape of `$(VAR)`): no script may rely on it.
        for (const script of [sidecarScript(), backupScript("full"), backupScript("diff", true)]) {
            assert.ok(!script.includes("$$"), script);
        }
        const stanza =
            'until pgbackrest --config=/etc/pgbackrest/pgbackrest-backup.conf --stanza=db stanza-create; do n=$((n + 1)); [ "$n" -lt 6 ] || exit 1; sleep 10; done';
        assert.strictEqual(
            backupScript("diff"),
            [
                "set -eu",
                "n=0",
                stanza,
                "exec pgbackrest --config=/etc/pgbackrest/pgbackrest-backup.conf --stanza=db --type=diff backup",
            ].join("\n"),
        );
        assert.strictEqual(
            backupScript("full", true),
            [
                "set -euo pipefail",
                "conf=/etc/pgbackrest/pgbackrest-backup.conf",
                `standbys=$(sed -n 's/^pg2-host=//p' "$conf")`,
                'if ! getent hosts "$standbys" >/dev/null; then',
                `    echo "pitr-backup: no standby answered behind the standbys' Service: backing up from the primary ($standbys has no address)"`,
                `    grep -v -e '^pg2-' -e '^backup-standby=' "$conf" > /tmp/pgbackrest-primary.conf`,
                "    conf=/tmp/pgbackrest-primary.conf",
                "fi",
                'pgbackrest="pgbackrest --config=$conf --stanza=db"',
                "n=0",
                'until $pgbackrest stanza-create; do n=$((n + 1)); [ "$n" -lt 6 ] || exit 1; sleep 10; done',
                "rc=0",
                "$pgbackrest --type=full backup 2>&1 | tee /tmp/backup.log || rc=${PIPESTATUS[0]}",
                'if [ "$rc" -eq 56 ] && grep -q "unable to find standby cluster" /tmp/backup.log; then',
                `    echo "pitr-backup: no standby answered behind the standbys' Service: backing up from the primary"`,
                "    exec $pgbackrest --type=full --no-backup-standby backup",
                "fi",
                'exit "$rc"',
            ].join("\n"),
        );
    });

    it("the sidecar: no PGDATA and no server (one server per pod for the pack), the bucket keys from env, hardened, PGDATA and the socket shared", () => {
        const c = pgbackrestSidecar({
            image: "ghcr.io/hanzoai/sql:16-bookworm",
            keys: { secret: "postgres-pitr-credentials", accessKeyIdKey: "AWS_ACCESS_KEY_ID", secretAccessKeyKey: "AWS_SECRET_ACCESS_KEY" },
            dataVolume: "postgres-data",
            dataMount: "/var/lib/postgresql/data",
            socketVolume: "run",
            socketMount: "/var/run/postgresql",
        });
        assert.deepStrictEqual(c, {
            name: "pgbackrest",
            image: "ghcr.io/hanzoai/sql:16-bookworm",
            command: ["bash", "-c", sidecarScript()],
            env: [
                {
                    name: "PGBACKREST_REPO1_S3_KEY",
                    valueFrom: { secretKeyRef: { name: "postgres-pitr-credentials", key: "AWS_ACCESS_KEY_ID" } },
                },
                {
                    name: "PGBACKREST_REPO1_S3_KEY_SECRET",
                    valueFrom: { secretKeyRef: { name: "postgres-pitr-credentials", key: "AWS_SECRET_ACCESS_KEY" } },
                },
            ],
            ports: [{ name: "pgbackrest", containerPort: 8432, protocol: "TCP" }],
            resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "1", memory: "512Mi" } },
            readinessProbe: { tcpSocket: { port: "pgbackrest" }, periodSeconds: 10, timeoutSeconds: 5 },
            securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
            },
            volumeMounts: [
                { name: "postgres-data", mountPath: "/var/lib/postgresql/data" },
                { name: "run", mountPath: "/var/run/postgresql" },
                { name: "pgbackrest-config", mountPath: "/etc/pgbackrest", readOnly: true },
                { name: "pgbackrest-spool", mountPath: "/var/spool/pgbackrest" },
                { name: "pgbackrest-tls", mountPath: "/etc/pgbackrest-tls", readOnly: true },
                { name: "pgbackrest-key", mountPath: "/etc/pgbackrest-key" },
                { name: "tmp", mountPath: "/tmp" },
            ],
        });
        // The keys readable by the pod's group (fsGroup); without one (an adopted volume) by the pod's containers;
        // the sidecar's copy of its key in a memory volume of its own.
        const key = { name: "pgbackrest-key", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } };
        assert.deepStrictEqual(
            [sidecarVolumes("s", true), sidecarVolumes("s", false)],
            [
                [{ name: "pgbackrest-tls", secret: { secretName: "s", defaultMode: 0o440 } }, key],
                [{ name: "pgbackrest-tls", secret: { secretName: "s", defaultMode: 0o444 } }, key],
            ],
        );
    });

    it("the base backup CronJob: the dump CronJob's shape (one at a time, one retry), one hardened container, its own volumes", () => {
        const spec = pitrBackupCronJob(
            {
                image: "ghcr.io/hanzoai/sql:16-bookworm",
                keys: { secret: "k", accessKeyIdKey: "A", secretAccessKeyKey: "S" },
                configMap: "postgres-pgbackrest",
                configChecksum: "c0ffee",
                tlsSecret: "postgres-pgbackrest-client-tls",
            },
            {
                labels: { "app.kubernetes.io/name": "postgres-pitr-backup" },
                serviceAccountName: "postgres-pitr-full",
                schedule: "0 1 * * 0",
            },
            "full",
        ) as any;
        assert.deepStrictEqual(
            [spec.schedule, spec.concurrencyPolicy, spec.jobTemplate.spec.backoffLimit, spec.jobTemplate.spec.activeDeadlineSeconds],
            ["0 1 * * 0", "Forbid", 1, 21600],
        );
        const pod = spec.jobTemplate.spec.template.spec;
        assert.deepStrictEqual(
            pod.containers.map((c: any) => [c.name, c.command]),
            [["backup", ["bash", "-c", backupScript("full")]]],
        );
        assert.deepStrictEqual(pod.securityContext, {
            runAsUser: 999,
            runAsGroup: 999,
            runAsNonRoot: true,
            fsGroup: 999,
            seccompProfile: { type: "RuntimeDefault" },
        });
        assert.deepStrictEqual(pod.volumes, [
            { name: "pgbackrest-config", configMap: { name: "postgres-pgbackrest" } },
            { name: "pgbackrest-spool", emptyDir: {} },
            { name: "pgbackrest-tls", secret: { secretName: "postgres-pgbackrest-client-tls", defaultMode: 0o440 } },
            { name: "tmp", emptyDir: {} },
        ]);
        assert.strictEqual(pod.automountServiceAccountToken, false);
    });
});

describe("render/x509: Ed25519 certificates derived from a seed", () => {
    const issuer = { commonName: "hanzo-sql pgbackrest CA", key: derivedKey("seed", "ca") };
    const ca = certificatePem({ commonName: issuer.commonName, key: issuer.key, issuer, kind: "ca" });
    const serverKey = derivedKey("seed", "server");
    const server = certificatePem({
        commonName: "postgres-0.postgres.hanzo.svc",
        key: serverKey,
        issuer,
        kind: "server",
        dnsNames: ["postgres-0.postgres.hanzo.svc", "postgres-0.postgres.hanzo.svc.cluster.local"],
    });

    it("are the same bytes every time (nothing drifts between `up`s), and differ with the seed", () => {
        assert.strictEqual(certificatePem({ commonName: issuer.commonName, key: derivedKey("seed", "ca"), issuer, kind: "ca" }), ca);
        assert.strictEqual(privateKeyPem(derivedKey("seed", "server")), privateKeyPem(serverKey));
        assert.notStrictEqual(privateKeyPem(derivedKey("other", "server")), privateKeyPem(serverKey));
    });

    it("verify as OpenSSL reads them: the CA signs the leaf, the leaf names the host, the key matches", () => {
        const c = new X509Certificate(ca);
        const s = new X509Certificate(server);
        assert.deepStrictEqual([c.ca, s.ca], [true, false]);
        assert.ok(c.verify(c.publicKey), "the CA is self-signed");
        assert.ok(s.verify(c.publicKey), "the CA signs the server's certificate");
        assert.ok(
            !s.verify(
                new X509Certificate(
                    certificatePem({
                        ...issuer,
                        key: derivedKey("other", "ca"),
                        issuer: { ...issuer, key: derivedKey("other", "ca") },
                        kind: "ca",
                    }),
                ).publicKey,
            ),
        );
        assert.strictEqual(s.checkIssued(c), true);
        assert.strictEqual(s.checkHost("postgres-0.postgres.hanzo.svc"), "postgres-0.postgres.hanzo.svc");
        assert.strictEqual(s.checkHost("postgres.hanzo.svc"), undefined);
        assert.deepStrictEqual(
            [s.subject, s.issuer, s.validTo],
            ["CN=postgres-0.postgres.hanzo.svc", "CN=hanzo-sql pgbackrest CA", "Dec 31 23:59:59 9999 GMT"],
        );
        assert.deepStrictEqual(s.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
        assert.ok(s.checkPrivateKey(serverKey));
        assert.strictEqual(
            createPublicKey(serverKey).export({ format: "der", type: "spki" }).toString("hex"),
            s.publicKey.export({ format: "der", type: "spki" }).toString("hex"),
        );
    });
});
