/**
 * Ed25519 keys and X.509 v3 certificates as pure functions of a seed, for pgBackRest's TLS server and its
 * client (docs/pitr.md, "Certificates"). Node's crypto makes Ed25519 keys and signatures but no certificates;
 * the DER below is the few fields RFC 5280 needs (§4.1) and OpenSSL verifies.
 *
 * Why derived from a seed rather than generated: the seed is a RandomPassword in the stack's state (a secret,
 * like every password), so every `up` derives the same keys and certificates (Ed25519 signatures are
 * deterministic, RFC 8032 §5.1.6; the validity is fixed), nothing drifts, no provider plugin is added, and the
 * CA's private key never leaves the program: only the leaf keys go into Secrets. Rotating them is rotating the
 * seed (its keeper).
 */
import { createHash, createPrivateKey, createPublicKey, sign, KeyObject } from "crypto";

/** DER: tag, length, content. */
function tlv(tag: number, content: Buffer): Buffer {
    const n = content.length;
    const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, (n >> 8) & 0xff, n & 0xff]);
    return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);

function oid(dotted: string): Buffer {
    const parts = dotted.split(".").map(Number);
    const bytes = [40 * parts[0] + parts[1]];
    for (const p of parts.slice(2)) {
        const chunk = [p & 0x7f];
        for (let v = p >> 7; v > 0; v >>= 7) {
            chunk.unshift((v & 0x7f) | 0x80);
        }
        bytes.push(...chunk);
    }
    return tlv(0x06, Buffer.from(bytes));
}

const ED25519 = "1.3.101.112";
/** PKCS#8 prefix of a raw 32-byte Ed25519 private key (RFC 8410 §7). */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
/** Fixed validity: certificates derived twice are the same bytes. notAfter 9999-12-31 (RFC 5280 §4.1.2.5: no expiry). */
const NOT_BEFORE = "250101000000Z";
const NOT_AFTER = "99991231235959Z";

/** An Ed25519 key derived from a seed and a label (one seed, several keys). */
export function derivedKey(seed: string, label: string): KeyObject {
    const raw = createHash("sha256").update(`${label}\0${seed}`).digest();
    return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, raw]), format: "der", type: "pkcs8" });
}

/** PEM of a private key (PKCS#8), for a Secret. */
export function privateKeyPem(key: KeyObject): string {
    return key.export({ format: "pem", type: "pkcs8" }).toString();
}

function name(cn: string): Buffer {
    return seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(cn, "utf8")))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
    return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

function keyId(key: KeyObject): Buffer {
    return createHash("sha1")
        .update(createPublicKey(key).export({ format: "der", type: "spki" }))
        .digest();
}

export interface CertificateRequest {
    /** The subject's common name (pgBackRest's tls-server-auth matches the client's CN). */
    readonly commonName: string;
    /** The subject's key, and the issuer's (the same for the CA). */
    readonly key: KeyObject;
    readonly issuer: { readonly commonName: string; readonly key: KeyObject };
    /** A CA (keyCertSign), or a leaf for a TLS server (serverAuth, with DNS names) or client (clientAuth). */
    readonly kind: "ca" | "server" | "client";
    /** subjectAltName DNS names (a server's; pgBackRest checks the host it connects to against them). */
    readonly dnsNames?: readonly string[];
}

/** A certificate in PEM. Deterministic: the same request gives the same bytes. */
export function certificatePem(req: CertificateRequest): string {
    const spki = createPublicKey(req.key).export({ format: "der", type: "spki" });
    const serial = createHash("sha256").update(spki).update(req.commonName).digest().subarray(0, 16);
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    const exts = [
        extension("2.5.29.19", true, req.kind === "ca" ? seq(tlv(0x01, Buffer.from([0xff]))) : seq()),
        // keyUsage: keyCertSign + cRLSign for the CA, digitalSignature for a leaf.
        extension("2.5.29.15", true, req.kind === "ca" ? tlv(0x03, Buffer.from([0x01, 0x06])) : tlv(0x03, Buffer.from([0x07, 0x80]))),
        extension("2.5.29.14", false, tlv(0x04, keyId(req.key))),
        extension("2.5.29.35", false, seq(tlv(0x80, keyId(req.issuer.key)))),
        ...(req.kind === "ca"
            ? []
            : [extension("2.5.29.37", false, seq(oid(req.kind === "server" ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")))]),
        ...(req.dnsNames && req.dnsNames.length > 0
            ? [extension("2.5.29.17", false, seq(...req.dnsNames.map((d) => tlv(0x82, Buffer.from(d, "ascii")))))]
            : []),
    ];
    const algorithm = seq(oid(ED25519));
    const tbs = seq(
        explicit(0, tlv(0x02, Buffer.from([2]))),
        tlv(0x02, serial),
        algorithm,
        name(req.issuer.commonName),
        seq(tlv(0x17, Buffer.from(NOT_BEFORE, "ascii")), tlv(0x18, Buffer.from(NOT_AFTER, "ascii"))),
        name(req.commonName),
        spki,
        explicit(3, seq(...exts)),
    );
    const signature = sign(null, tbs, req.issuer.key);
    const der = seq(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
    const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
    return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
}
