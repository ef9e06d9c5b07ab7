/**
 * A small HTTP client for checks: one request, the whole body read, Basic
 * auth when given, aborted with the check's signal.
 *
 * @module
 */

/** Basic-auth credentials. */
export interface BasicAuth {
  user: string;
  password: string;
}

/** Options of {@link httpRequest}. */
export interface HttpOptions {
  method?: string;
  auth?: BasicAuth;
  /** A JSON value to send (sets `content-type: application/json`). */
  json?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A response with its body read. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  /** The raw body. */
  bytes: Uint8Array;
  /** The body as UTF-8 text. */
  text: string;
}

/** The `Authorization` header value for Basic auth. */
export function basicAuthHeader(auth: BasicAuth): string {
  const raw = new TextEncoder().encode(`${auth.user}:${auth.password}`);
  let bin = "";
  for (const b of raw) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/** Sends one request and reads the whole body. Throws on network errors only. */
export async function httpRequest(url: string, opts: HttpOptions = {}): Promise<HttpResponse> {
  const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
  if (opts.auth) headers.authorization = basicAuthHeader(opts.auth);
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
      signal: opts.signal,
    });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new Error(`cannot reach ${new URL(url).host}: ${networkReason(e)}`);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, text: new TextDecoder().decode(bytes) };
}

/**
 * The useful end of a fetch error: "Connection refused (os error 111)" rather
 * than "fetch failed: error sending request for url (...): client error ...".
 */
export function networkReason(e: unknown): string {
  const parts: string[] = [];
  for (let x: unknown = e; x instanceof Error && parts.length < 4; x = x.cause) {
    parts.push(x.message);
  }
  const text = parts.join(": ") || String(e);
  const m =
    /(?:tcp connect error|dns error|connection error|client error \([A-Za-z]+\)): ([^:]+(?:\(os error \d+\))?)\s*$/
      .exec(text);
  return (m ? m[1] : parts[parts.length - 1] ?? text).replace(/\s+/g, " ").trim();
}

/** Parses a response body as JSON; throws an error quoting the start of the body. */
export function jsonOf<T = unknown>(res: HttpResponse): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new Error(`HTTP ${res.status}: not JSON: ${JSON.stringify(res.text.slice(0, 120))}`);
  }
}

/** One line describing a non-2xx response: status and the start of the body. */
export function describeStatus(res: HttpResponse): string {
  const body = res.text.replace(/\s+/g, " ").trim().slice(0, 160);
  return body ? `HTTP ${res.status}: ${body}` : `HTTP ${res.status}`;
}
