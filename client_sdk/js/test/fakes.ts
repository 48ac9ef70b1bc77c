// Test doubles: an in-memory Storage, a Web Locks manager with `ifAvailable`, a fetch that
// answers from a script and records what it was sent.
import type { Locks } from "../src/slots.js";

export class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  clear(): void {
    this.items.clear();
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

/** One lock manager per browser: shared by the tabs (clients) of a test. */
export class FakeLocks implements Locks {
  readonly held = new Set<string>();
  async request(name: string, _options: { ifAvailable: boolean }, callback: (lock: unknown) => unknown): Promise<unknown> {
    if (this.held.has(name)) return callback(null);
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
    }
  }
}

export interface Sent {
  url: string;
  body: { sent_at: string; events: Record<string, unknown>[] };
  headers: Record<string, string>;
  keepalive: boolean;
}

type Reply = { status: number; headers?: Record<string, string>; body?: unknown } | "network-error";

/** A fetch answering each request with the next scripted reply (then 202 accepting all). */
export function scriptedFetch(replies: Reply[] = []): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const impl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const body = init?.body ? JSON.parse(init.body as string) : { events: [] };
    sent.push({ url: String(input), body, headers: init?.headers as Record<string, string>, keepalive: !!init?.keepalive });
    const reply = replies.shift() ?? { status: 202, body: { accepted: body.events.length, duplicates: 0, rejected: [] } };
    if (reply === "network-error") throw new TypeError("Failed to fetch");
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), { status: reply.status, headers: reply.headers ?? {} });
  };
  return { fetch: impl as typeof fetch, sent };
}

/** An unsigned token whose payload names `sub` (the client only reads it). */
export function tokenFor(sub: string): string {
  const b64 = (o: object): string => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, exp: 4102444800 })}.sig`;
}
