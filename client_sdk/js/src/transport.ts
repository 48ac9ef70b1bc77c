/** The HTTP edge: one batch posted, its answer read; and the user id a token names. */

export interface Answer {
  /** `null`: no answer (network error, offline, CORS refusal). */
  status: number | null;
  retryAfter: string | null;
  body: string;
}

/** POST one JSON batch with the user token; never throws. */
export async function postBatch(
  fetcher: typeof fetch,
  url: string,
  token: string,
  body: string,
  keepalive: boolean,
): Promise<Answer> {
  try {
    const res = await fetcher(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body,
      keepalive,
      credentials: "omit",
    });
    return { status: res.status, retryAfter: res.headers.get("Retry-After"), body: await res.text() };
  } catch {
    return { status: null, retryAfter: null, body: "" };
  }
}

/** The `sub` claim of a JWT, read without verifying it (the server does). */
export function subjectOf(token: string): string | undefined {
  try {
    const payload = token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/");
    return (JSON.parse(atob(payload)) as { sub?: string }).sub;
  } catch {
    return undefined;
  }
}
