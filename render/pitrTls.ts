/**
 * The archive's TLS material (docs/pitr.md "Certificates"), derived from one seed by render/x509.ts: a CA, the
 * servers' certificate naming `dnsNames` (serverTlsNames, render/pitrPod.ts) and the backup Jobs' client
 * certificate, each side as its Secret's files (TLS_KEYS). components/pitr.ts stores them; the test of the
 * sidecar's reload (test/db/pitrCertReload.test.ts) serves the same files.
 */
import { PGBACKREST_CLIENT_CN, TLS_KEYS } from "./pitrPod";
import { certificatePem, derivedKey, privateKeyPem } from "./x509";

export type TlsFiles = Record<(typeof TLS_KEYS)[keyof typeof TLS_KEYS], string>;

export function pitrTlsMaterial(seed: string, dnsNames: readonly string[]): { server: TlsFiles; client: TlsFiles } {
    const issuer = { commonName: "hanzo-sql pgbackrest CA", key: derivedKey(seed, "ca") };
    const ca = certificatePem({ commonName: issuer.commonName, key: issuer.key, issuer, kind: "ca" });
    const serverKey = derivedKey(seed, "server");
    const clientKey = derivedKey(seed, "client");
    return {
        server: {
            [TLS_KEYS.ca]: ca,
            [TLS_KEYS.cert]: certificatePem({ commonName: dnsNames[0], key: serverKey, issuer, kind: "server", dnsNames }),
            [TLS_KEYS.key]: privateKeyPem(serverKey),
        },
        client: {
            [TLS_KEYS.ca]: ca,
            [TLS_KEYS.cert]: certificatePem({ commonName: PGBACKREST_CLIENT_CN, key: clientKey, issuer, kind: "client" }),
            [TLS_KEYS.key]: privateKeyPem(clientKey),
        },
    };
}
