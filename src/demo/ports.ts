import net from "node:net";

/** Errors of listen() that mean "this port, not another": taken, or privileged. */
export function isPortRefused(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "EADDRINUSE" || code === "EACCES";
}

/** Listens on `host:port` and closes again: the port it got (the free one the system chose for port 0). */
function probe(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => {
      const { port: got } = server.address() as net.AddressInfo;
      server.close(() => resolve(got));
    });
  });
}

/**
 * `preferred` when it is free on `host`, else a free port the system chooses. The port is free when this returns;
 * another process could take it before the caller listens, which a demo can live with.
 */
export async function freePortPreferring(host: string, preferred: number): Promise<number> {
  try {
    return await probe(host, preferred);
  } catch (error) {
    if (!isPortRefused(error)) throw error;
    return probe(host, 0);
  }
}
