/** Real-server test helpers: a server per stack with its rendered files and its SQL applied, a TCP relay. */
import * as net from "net";
import { Client, ClientConfig } from "pg";
import { PgServer } from "../harness/pg/server";
import { StackServer, startStackServer } from "../harness/local/stackServer";
import type { PlanResult } from "../../cli/plan/runner";
import { planOf } from "./plan";

export { StackServer, renderedFiles, testPassword } from "../harness/local/stackServer";

/** A server with a stack's rendered files (a stack file's name, or a plan) and its init SQL applied. */
export async function stackServer(stack: string | PlanResult): Promise<StackServer> {
    return startStackServer(typeof stack === "string" ? await planOf(stack) : stack);
}

/** Connects (and returns the client), or returns the error PostgreSQL answered with. */
export async function tryConnect(config: ClientConfig): Promise<Client | { code: string; message: string }> {
    const c = new Client({ ...config, connectionTimeoutMillis: 10_000 });
    try {
        await c.connect();
        return c;
    } catch (e) {
        await c.end().catch(() => undefined);
        const err = e as { code?: string; message: string };
        return { code: err.code ?? "", message: err.message };
    }
}

/** Runs a statement and returns the SQLSTATE it fails with ("" when it succeeds). */
export async function sqlstate(c: Client, sql: string): Promise<string> {
    try {
        await c.query(sql);
        return "";
    } catch (e) {
        return (e as { code?: string }).code ?? "?";
    }
}

/**
 * A TCP relay on 127.0.0.1 that connects onward from `localAddress` (e.g. 127.0.0.2), so the server sees a
 * client outside the ranges pg_hba.conf admits.
 */
export async function relay(targetPort: number, localAddress: string): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
        const upstream = net.connect({ host: "127.0.0.1", port: targetPort, localAddress });
        for (const s of [client, upstream]) {
            sockets.add(s);
            s.on("error", () => undefined);
            s.on("close", () => sockets.delete(s));
        }
        client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        close: () =>
            new Promise<void>((resolve) => {
                sockets.forEach((s) => s.destroy());
                server.close(() => resolve());
            }),
    };
}

/** Everything the initialisation SQL decides, read from the catalogs of every database. */
export async function catalogSnapshot(server: PgServer): Promise<Record<string, unknown>> {
    const admin = await server.admin();
    try {
        const roles = (
            await admin.query(
                `SELECT a.rolname, a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin, a.rolreplication, a.rolbypassrls, a.rolconnlimit,
                    a.rolpassword, array(SELECT b.rolname FROM pg_auth_members m JOIN pg_authid b ON b.oid = m.roleid WHERE m.member = a.oid ORDER BY 1) AS member_of
               FROM pg_authid a WHERE a.rolname !~ '^pg_' ORDER BY a.rolname`,
            )
        ).rows;
        const databases = (
            await admin.query(
                `SELECT datname, pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding, datallowconn, datconnlimit, datacl::text
               FROM pg_database ORDER BY datname`,
            )
        ).rows;
        const extensions: Record<string, unknown> = {};
        for (const { datname } of databases.filter((d) => d.datallowconn)) {
            const c = await server.admin(datname);
            extensions[datname] = (
                await c.query(
                    "SELECT extname, extversion, extnamespace::regnamespace::text AS schema, pg_get_userbyid(extowner) AS owner FROM pg_extension ORDER BY extname",
                )
            ).rows;
            await c.end();
        }
        return { roles, databases, extensions };
    } finally {
        await admin.end();
    }
}
