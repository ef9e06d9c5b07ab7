/**
 * TCP reachability: does anything accept a connection at host:port?
 *
 * @module
 */

/** Opens and closes a TCP connection; throws when nothing accepts it. */
export async function tcpProbe(host: string, port: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const conn = await Deno.connect({ hostname: host, port });
  conn.close();
}
