/**
 * SCRAM-SHA-256 verifiers (RFC 5802 §3, RFC 7677) in PostgreSQL's stored form, computed by the program so that
 * a password never reaches the server in plain text: `CREATE/ALTER ROLE … PASSWORD '<verifier>'` stores the
 * verifier as given (PostgreSQL's `get_password_type` recognises the form), and `log_statement` or
 * `pg_stat_statements` can then show at most the verifier, never the password.
 *
 *     SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
 *
 * SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iterations); ClientKey = HMAC(SaltedPassword,
 * "Client Key"); StoredKey = SHA-256(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key"). PostgreSQL
 * (src/common/scram-common.c `scram_build_secret`) applies SASLprep when it succeeds and uses the raw bytes
 * otherwise; `saslprep` below does the same for the mappings and normalisation a password can meet.
 */
import { createHash, createHmac, pbkdf2Sync } from "crypto";

/** PostgreSQL's default `scram_iterations` (and RFC 7677's minimum). */
export const SCRAM_ITERATIONS = 4096;
/** Salt length PostgreSQL itself uses (SCRAM_DEFAULT_SALT_LEN). */
export const SCRAM_SALT_BYTES = 16;

/** RFC 3454 C.1.2 non-ASCII spaces, mapped to SPACE by SASLprep (RFC 4013 §2.1). */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
/** RFC 3454 B.1 "commonly mapped to nothing". */
// eslint-disable-next-line no-misleading-character-class -- RFC 3454's table lists joiners and variation selectors as code points
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
/** Characters SASLprep prohibits (control characters, private use, surrogates, non-characters): raw bytes then. */
const PROHIBITED =
    // eslint-disable-next-line no-control-regex -- control characters are exactly what RFC 4013 prohibits
    /[\u0000-\u001F\u007F-\u009F\u06DD\u070F\u180E\u200E\u200F\u2028-\u202E\u2061-\u2064\u206A-\u206F\uE000-\uF8FF\uFFF9-\uFFFF]/;

/** SASLprep (RFC 4013) as PostgreSQL applies it: ASCII passwords are unchanged; a prohibited character means the raw password. */
export function saslprep(password: string): string {
    if (/^[\x20-\x7E]*$/.test(password)) {
        return password;
    }
    const prepared = password.replace(NON_ASCII_SPACE, " ").replace(MAPPED_TO_NOTHING, "").normalize("NFKC");
    return PROHIBITED.test(prepared) ? password : prepared;
}

/** The verifier of `password` with the given salt (base64, as a RandomId's `b64Std`). */
export function scramVerifier(password: string, saltBase64: string, iterations = SCRAM_ITERATIONS): string {
    const salt = Buffer.from(saltBase64, "base64");
    if (salt.length < 8) {
        throw new Error(`a SCRAM salt needs at least 8 bytes; got ${salt.length}`);
    }
    const salted = pbkdf2Sync(Buffer.from(saslprep(password), "utf8"), salt, iterations, 32, "sha256");
    const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();
    const storedKey = createHash("sha256").update(hmac(salted, "Client Key")).digest();
    const serverKey = hmac(salted, "Server Key");
    return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** Is this text a SCRAM-SHA-256 verifier in PostgreSQL's form (what `parse_scram_secret` accepts)? */
export function isScramVerifier(text: string): boolean {
    return /^SCRAM-SHA-256\$[1-9][0-9]*:[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/.test(text);
}
