/**
 * PostgreSQL's reserved key words, written once: a service, database or role named after one cannot be
 * written unquoted where SQL expects a name (`CREATE DATABASE select` is a syntax error), so the drill's and
 * the verifier's SQL, and every hand-written query, would break. Imports nothing.
 *
 * Source: `SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')` on PostgreSQL 15.20 (Debian
 * bookworm; test/db/keywords.test.ts compares this list with the running server's), plus `system_user`,
 * which PostgreSQL 16 reserves (src/include/parser/kwlist.h of REL_16: SYSTEM_USER, RESERVED_KEYWORD).
 * `R` is "reserved", `T` "reserved (can be function or type name)"; neither is a ColId in gram.y, which is
 * what CREATE DATABASE, CREATE SCHEMA and a table name take. Unreserved (`U`) and column-name (`C`) key words
 * are valid names and are allowed.
 */
export const RESERVED_KEYWORDS: readonly string[] = [
    // catcode R (PostgreSQL 15)
    ..."all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral leading limit localtime localtimestamp not null offset on only or order placing primary references returning select session_user some symmetric table then to trailing true union unique user using variadic when where window with".split(
        " ",
    ),
    // catcode T (PostgreSQL 15)
    ..."authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left like natural notnull outer overlaps right similar tablesample verbose".split(
        " ",
    ),
];

/** Reserved by PostgreSQL 16 and not by the 15 server the tests run (kwlist.h of REL_16). */
export const RESERVED_KEYWORDS_SINCE_16: readonly string[] = ["system_user"];

/** Is `name` a key word PostgreSQL 16 reserves? */
export function isReservedKeyword(name: string): boolean {
    return RESERVED_KEYWORDS.includes(name) || RESERVED_KEYWORDS_SINCE_16.includes(name);
}
