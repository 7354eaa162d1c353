/** The real postgres_exporter (Debian's 0.11.1) as the tests run it: the sidecar's settings pointed at a local server. */
import { ChildProcess, spawn } from "child_process";
import * as http from "http";

export const EXPORTER = "/usr/bin/prometheus-postgres-exporter";

/** A GET's status and body. */
export function httpGet(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        http.get(url, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        }).on("error", reject);
    });
}

/**
 * The exporter listening on 127.0.0.1:`listenPort`, scraping the `postgres` database of the server on
 * 127.0.0.1:`serverPort` as `user` over TCP without TLS (the sidecar's DATA_SOURCE_* variables), with the extra
 * queries of `queriesFile`. Nothing else of this process's environment reaches it; kill it when done.
 */
export function startExporter(listenPort: number, serverPort: number, user: string, password: string, queriesFile: string): ChildProcess {
    return spawn(EXPORTER, [`--web.listen-address=127.0.0.1:${listenPort}`], {
        env: {
            PG_EXPORTER_EXTEND_QUERY_PATH: queriesFile,
            DATA_SOURCE_URI: `127.0.0.1:${serverPort}/postgres?sslmode=disable`,
            DATA_SOURCE_USER: user,
            DATA_SOURCE_PASS: password,
        },
        stdio: "ignore",
    });
}
