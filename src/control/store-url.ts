/** Where the objects live, from `--store`: `etcd://host:2379[,host:2379...]`. Files (memory) when there is no flag. */
export interface EtcdStoreLocation {
  kind: "etcd";
  /** `http://host:port` URLs, as the etcd client takes them. */
  endpoints: string[];
}

export class StoreUrlError extends Error {}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** Parses a `--store` value; a host without a port gets etcd's client port 2379. */
export function parseStoreUrl(value: string): EtcdStoreLocation {
  const match = /^etcd:\/\/(.+)$/.exec(value.trim());
  if (match === null || match[1] === undefined) {
    throw new StoreUrlError(`--store must look like etcd://HOST:2379[,HOST:2379...], got '${value}'`);
  }
  const endpoints = match[1].split(",").map((part) => {
    const hostPort = part.trim().replace(/\/+$/, "");
    if (!HOST_PORT.test(hostPort)) throw new StoreUrlError(`--store: '${part}' is not HOST:PORT`);
    return `http://${hostPort.includes(":") && !hostPort.endsWith("]") ? hostPort : `${hostPort}:2379`}`;
  });
  return { kind: "etcd", endpoints };
}
