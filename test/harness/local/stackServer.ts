/** A local server built from a stack's plan: its rendered files, its init SQL, a password per role. */
import { SYSTEM_ROLES } from "../../../policies/standard/rules";
import { TYPES } from "../../../policies/standard/types";
import { PgServer, registerSecret } from "../pg/server";
import type { PlanResult } from "../../../cli/plan/runner";
import { passwordVariable, renderInitSql } from "../../../cli/sql/initSql";

export interface StackServer {
    readonly server: PgServer;
    readonly plan: PlanResult;
    /** role → the password the SQL set for it (through HANZO_SQL_PASSWORD_<ROLE>). */
    readonly passwords: Record<string, string>;
    /** The environment that carries those passwords to init-sql (`renderInitSql(…, { env })`). */
    readonly passwordEnv: Record<string, string>;
}

/**
 * A password like the program's for this role: for service roles, every character a URL or DSN would trip
 * over; for the exporter and backup roles, letters and digits only, as the program generates them
 * (postgres_exporter 0.11 rejects a password with a quote or backslash as a "malformed dsn").
 */
export function testPassword(role: string): string {
    const tail = Math.random().toString(36).slice(2, 10);
    const password = SYSTEM_ROLES.includes(role) ? `P${tail}${Date.now().toString(36)}` : `${role}:p@ss/w#rd?%'"\\ ${tail}`;
    registerSecret(password, role);
    return password;
}

/** The rendered postgresql.conf and pg_hba.conf of a plan (what the server's ConfigMap mounts). */
export function renderedFiles(plan: PlanResult): { postgresqlConf: string; pgHba: string } {
    const cm = plan.plan.resources.find(
        (r) => r.type === TYPES.configMap && (r.inputs as { data?: Record<string, string> }).data?.["postgresql.conf"] !== undefined,
    );
    if (!cm) {
        throw new Error(`plan ${plan.plan.stack} has no ConfigMap with postgresql.conf`);
    }
    const data = (cm.inputs as { data: Record<string, string> }).data;
    return { postgresqlConf: data["postgresql.conf"], pgHba: data["pg_hba.conf"] };
}

/** Starts a server with a plan's rendered files and applies its initialisation SQL, passwords included. */
export async function startStackServer(plan: PlanResult): Promise<StackServer> {
    const server = await PgServer.start(renderedFiles(plan));
    const passwords: Record<string, string> = {};
    const passwordEnv: Record<string, string> = {};
    for (const r of plan.plan.resources.filter((x) => x.type === TYPES.role)) {
        const role = String(r.inputs.name);
        passwords[role] = testPassword(role);
        passwordEnv[passwordVariable(role)] = passwords[role];
    }
    try {
        server.psql(renderInitSql(plan.plan, { passwords: "env", env: passwordEnv }));
    } catch (e) {
        server.stop();
        throw e;
    }
    return { server, plan, passwords, passwordEnv };
}
