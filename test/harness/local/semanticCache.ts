/**
 * HIP-29's semantic-cache workload, as Cloud and the LLM gateway run it: the `users` and `llm_cache` tables
 * and the standard's own filtered query (seeds/000, "A typical AI-augmented query"). Used by the vector
 * benchmark and the vector real-server test, so both measure the same text.
 */

/**
 * The HIP-29 query, verbatim but for `c.id` (to score recall) and the vector type cast of `$1` as a parameter.
 * `halfvec`: ordered by the expression `embedding::halfvec(1536)` (for an expression index on a vector column);
 * `type: "halfvec"`: the column itself is halfvec. `thresholdAfterLimit`: the same answer, with the `< 0.3`
 * threshold applied to the 5 nearest (a WHERE on the distance cannot stop an index scan).
 */
export function semanticCacheQuery(opts: { halfvec?: boolean; type?: "vector" | "halfvec"; thresholdAfterLimit?: boolean } = {}): string {
    // An index on `embedding::halfvec(1536)` is used only by a query that orders by that same expression.
    const e = opts.halfvec ? "c.embedding::halfvec(1536)" : "c.embedding";
    const p = opts.halfvec ? "$1::halfvec(1536)" : `$1::${opts.type ?? "vector"}`;
    if (opts.thresholdAfterLimit) {
        return `WITH nearest AS MATERIALIZED (
    SELECT c.id, c.response, ${e} <=> ${p} AS distance
      FROM llm_cache c
      JOIN users u ON c.user_id = u.id
     WHERE u.org_id = $2
       AND c.model = $3
     ORDER BY distance
     LIMIT 5)
SELECT * FROM nearest WHERE distance < 0.3 ORDER BY distance`;
    }
    return `SELECT c.id, c.response, ${e} <=> ${p} AS distance
  FROM llm_cache c
  JOIN users u ON c.user_id = u.id
 WHERE u.org_id = $2
   AND c.model = $3
   AND ${e} <=> ${p} < 0.3
 ORDER BY distance
 LIMIT 5`;
}

/** The two tables of the query; `dimensions` is 1536 (text-embedding-3-small) in the benchmark. */
export function semanticCacheSchema(dimensions: number, type: "vector" | "halfvec" = "vector"): string {
    return `CREATE TABLE users (id int PRIMARY KEY, org_id int NOT NULL);
CREATE INDEX users_org_id ON users (org_id);
CREATE TABLE llm_cache (
    id bigint PRIMARY KEY,
    user_id int NOT NULL REFERENCES users (id),
    model text NOT NULL,
    response text NOT NULL,
    embedding ${type}(${dimensions}) NOT NULL
);`;
}

/** A seeded PRNG (mulberry32), so every run gets the same data. */
export function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** Draws 0..n-1 with probability ∝ 1/(i+1)^s (Zipf): a few big tenants, a long tail of small ones. */
export function zipf(n: number, s: number, random: () => number): () => number {
    const cdf: number[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
        total += 1 / (i + 1) ** s;
        cdf.push(total);
    }
    return () => {
        const x = random() * total;
        let lo = 0;
        let hi = n - 1;
        while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (cdf[mid] < x) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    };
}

/** Models of the cache entries, skewed as a gateway's traffic is. */
export const MODELS: readonly { name: string; share: number }[] = [
    { name: "gpt-4o", share: 0.55 },
    { name: "claude-3-5-sonnet", share: 0.25 },
    { name: "llama-3.1-70b", share: 0.12 },
    { name: "mistral-large", share: 0.08 },
];

export interface CacheRow {
    readonly id: number;
    readonly userId: number;
    readonly org: number;
    readonly model: string;
    /** Point in the latent space (see SemanticCacheData). */
    readonly latent: Float64Array;
}

/**
 * Cache entries shaped like real embeddings of real traffic. Each entry is a question on one of `topics`
 * topics (popularity Zipf-distributed, shared by every tenant: many tenants ask the same things), a point
 * near its topic's centre in a 32-d latent space, mapped into `dimensions` by a fixed random basis, plus a
 * little noise. Members of a topic are ~0.2 apart in cosine distance, other topics ~1.0: the HIP's `< 0.3`
 * threshold keeps a topic's entries. Tenants (orgs, Zipf-sized, `usersPerOrg` users each) ask 80% of their
 * questions on 8 topics of their own, drawn from the shared popularity, so a popular topic belongs to many
 * tenants; models are drawn independently. A tenant's nearest entries are then mostly other tenants':
 * the case where an index that ignores the filter returns too few rows.
 */
export class SemanticCacheData {
    static readonly LATENT = 32;
    private readonly basis: Float64Array;
    private readonly centres: Float64Array[];
    private readonly random: () => number;
    private readonly pickOrg: () => number;
    private readonly pickTopic: () => number;
    private readonly homeTopics: number[][];
    private next = 1;

    constructor(
        readonly dimensions: number,
        readonly orgs: number,
        readonly usersPerOrg: number,
        topics: number,
        seed = 42,
    ) {
        const r = prng(7);
        const L = SemanticCacheData.LATENT;
        this.basis = Float64Array.from({ length: dimensions * L }, () => r() - 0.5);
        this.centres = Array.from({ length: topics }, () => Float64Array.from({ length: L }, () => r() - 0.5));
        this.random = prng(seed);
        this.pickOrg = zipf(orgs, 1.0, this.random);
        this.pickTopic = zipf(topics, 0.8, this.random);
        this.homeTopics = Array.from({ length: orgs }, () => Array.from({ length: 8 }, () => this.pickTopic()));
    }

    /** The users table: user `org * usersPerOrg + k + 1` belongs to org `org`. */
    users(): { id: number; org: number }[] {
        return Array.from({ length: this.orgs * this.usersPerOrg }, (_, i) => ({ id: i + 1, org: Math.floor(i / this.usersPerOrg) }));
    }

    /** The next cache entry. */
    row(): CacheRow {
        const org = this.pickOrg();
        const userId = org * this.usersPerOrg + Math.floor(this.random() * this.usersPerOrg) + 1;
        let x = this.random();
        const model = MODELS.find((m) => (x -= m.share) < 0)?.name ?? MODELS[0].name;
        // A tenant asks mostly about its own 8 topics (which other tenants share: popular ones are many tenants' own).
        const home = this.homeTopics[org];
        const centre = this.centres[this.random() < 0.8 ? home[Math.floor(this.random() * home.length)] : this.pickTopic()];
        // Noise of 0.144 per latent dimension puts two entries of a topic ~0.2 apart (cosine distance).
        const latent = centre.map((c) => c + this.gauss() * 0.144);
        return { id: this.next++, userId, org, model, latent };
    }

    /** A new question close to an entry (a near-repeat, what a cache should hit). */
    near(latent: Float64Array): Float64Array {
        return latent.map((v) => v + this.gauss() * 0.05);
    }

    /** `vector` text of a latent point. */
    embed(latent: Float64Array): string {
        const L = SemanticCacheData.LATENT;
        const out = new Array<string>(this.dimensions);
        for (let j = 0; j < this.dimensions; j++) {
            let x = 0;
            for (let k = 0; k < L; k++) {
                x += this.basis[j * L + k] * latent[k];
            }
            out[j] = (x + (this.random() - 0.5) * 0.05).toFixed(4);
        }
        return `[${out.join(",")}]`;
    }

    private gauss(): number {
        const u = Math.max(this.random(), 1e-12);
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
    }
}
