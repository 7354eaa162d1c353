/**
 * A stand-in for the cluster DNS (CoreDNS, `kube-dns` in kube-system) on the pod network: answers A
 * queries for the names it is given over UDP and TCP on port 53 (RFC 1035 §4.2: TCP messages carry a
 * two-byte length prefix), NXDOMAIN for any other name, an empty answer for other types of a known
 * name. The pods' resolver (glibc, with the kubelet's resolv.conf: the search list and ndots:5) sends the
 * queries, so a NetworkPolicy that drops port 53 makes name resolution fail as it does in a cluster.
 */
import * as dgram from "dgram";
import * as net from "net";

/** The question's name (lowercase, no trailing dot), type, and where the question section ends. */
function question(msg: Buffer): { name: string; type: number; end: number } | undefined {
    let i = 12;
    const labels: string[] = [];
    while (i < msg.length && msg[i] !== 0) {
        const len = msg[i];
        if (len > 63 || i + 1 + len > msg.length) {
            return undefined;
        }
        labels.push(msg.subarray(i + 1, i + 1 + len).toString("latin1"));
        i += 1 + len;
    }
    if (i + 5 > msg.length) {
        return undefined;
    }
    return { name: labels.join(".").toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

/** The response to one query message. */
export function answer(query: Buffer, lookup: (name: string) => string | undefined): Buffer | undefined {
    if (query.length < 12) {
        return undefined;
    }
    const q = question(query);
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // ID
    const rd = query[2] & 0x01;
    if (!q || query.readUInt16BE(4) !== 1) {
        header.writeUInt16BE(0x8000 | (rd << 8) | 0x80 | 1, 2); // FORMERR
        return header;
    }
    const address = lookup(q.name);
    const answers: Buffer[] = [];
    if (address && q.type === 1) {
        const rr = Buffer.alloc(16);
        rr.writeUInt16BE(0xc00c, 0); // the name, by pointer to the question
        rr.writeUInt16BE(1, 2); // A
        rr.writeUInt16BE(1, 4); // IN
        rr.writeUInt32BE(5, 6); // TTL
        rr.writeUInt16BE(4, 10);
        address.split(".").forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
        answers.push(rr);
    }
    const rcode = address ? 0 : 3; // NOERROR, NXDOMAIN
    header.writeUInt16BE(0x8000 | 0x0400 | (rd << 8) | 0x80 | rcode, 2); // QR, AA, RD as asked, RA
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    return Buffer.concat([header, query.subarray(12, q.end), ...answers]);
}

export class DnsServer {
    private constructor(
        private readonly udp: dgram.Socket,
        private readonly tcp: net.Server,
        readonly address: string,
    ) {}

    /** Serves `lookup` on `address`:53, UDP and TCP (root only). */
    static async start(address: string, lookup: (name: string) => string | undefined): Promise<DnsServer> {
        const udp = dgram.createSocket("udp4");
        udp.on("message", (msg, rinfo) => {
            const r = answer(msg, lookup);
            if (r) {
                udp.send(r, rinfo.port, rinfo.address);
            }
        });
        const tcp = net.createServer((socket) => {
            let buf = Buffer.alloc(0);
            socket.on("data", (d) => {
                buf = Buffer.concat([buf, d]);
                while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
                    const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
                    buf = buf.subarray(2 + msg.length);
                    const r = answer(msg, lookup);
                    if (r) {
                        const len = Buffer.alloc(2);
                        len.writeUInt16BE(r.length);
                        socket.write(Buffer.concat([len, r]));
                    }
                }
            });
            socket.on("error", () => undefined);
        });
        await new Promise<void>((resolve, reject) => {
            udp.once("error", reject);
            udp.bind(53, address, () => resolve());
        });
        await new Promise<void>((resolve, reject) => {
            tcp.once("error", reject);
            tcp.listen(53, address, () => resolve());
        });
        return new DnsServer(udp, tcp, address);
    }

    async stop(): Promise<void> {
        this.udp.close();
        await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    }
}
