// Where `wsgate run` keeps its objects: the config files (one machine, the default), or a cluster in etcd
// (`--store etcd://...`). The flag checks, opening the store, `--seed`, and the first config of a member live here.
import { parseDuration } from "../config/duration.js";
import { formatConfigError, validateObjects, type GatewayConfig } from "../config/load.js";
import type { EtcdObjectStore } from "../control/etcd-store.js";
import { ClusterKeys } from "../control/etcd-keys.js";
import { seedStore } from "../control/seed.js";
import { parseStoreUrl } from "../control/store-url.js";
import type { Logger } from "../observability/logger.js";
import { startupError } from "../errors.js";

export const DEFAULT_CLUSTER_NAME = "default";
export const DEFAULT_STORE_START_TIMEOUT = "30s";
export const DEFAULT_MEMBER_TTL = "10s";

/** The flags of `wsgate run` that choose the store. */
export interface StoreFlags {
  store?: string | undefined;
  clusterName?: string | undefined;
  seed?: boolean | undefined;
  storeStartTimeout?: string | undefined;
  memberTtl?: string | undefined;
  /** `--config` paths given. */
  config: readonly string[];
  watch?: boolean | undefined;
}

export type StoreChoice =
  | { kind: "files"; paths: string[] }
  | {
      kind: "etcd";
      endpoints: string[];
      cluster: string;
      /** With `--seed`: the files whose objects are written into the cluster before serving. */
      seedPaths: string[];
      startTimeoutMs: number;
      memberTtlSeconds: number;
    };

/** A flag combination that cannot work; the CLI prints the message and exits 2. */
export class StoreFlagsError extends startupError("WSG_STORE_FLAGS") {}

/** Checks the store flags and says where the objects live; throws StoreFlagsError with a clear message. */
export function chooseStore(flags: StoreFlags): StoreChoice {
  const config = [...flags.config];
  if (flags.store === undefined) {
    const clusterOnly = [
      flags.clusterName !== undefined && "--cluster-name",
      flags.seed === true && "--seed",
      flags.storeStartTimeout !== undefined && "--store-start-timeout",
      flags.memberTtl !== undefined && "--member-ttl",
    ].filter((flag): flag is string => typeof flag === "string");
    if (clusterOnly.length > 0) {
      throw new StoreFlagsError(
        `${clusterOnly.join(", ")} ${clusterOnly.length === 1 ? "needs" : "need"} --store etcd://HOST:2379`,
      );
    }
    if (config.length === 0)
      throw new StoreFlagsError("--config is required (or --store etcd://... to join a cluster)");
    return { kind: "files", paths: config };
  }
  let endpoints: string[];
  try {
    endpoints = parseStoreUrl(flags.store).endpoints;
  } catch (error) {
    throw new StoreFlagsError((error as Error).message);
  }
  const cluster = flags.clusterName ?? DEFAULT_CLUSTER_NAME;
  try {
    new ClusterKeys(cluster);
  } catch (error) {
    throw new StoreFlagsError(`--cluster-name: ${(error as Error).message}`);
  }
  if (flags.watch === true) {
    throw new StoreFlagsError(
      "--watch does not go with --store: the cluster's objects live in etcd, the files are only a seed " +
        "(change objects with wsgate apply/delete against any member)",
    );
  }
  if (flags.seed === true && config.length === 0) throw new StoreFlagsError("--seed needs --config FILE|DIR");
  if (flags.seed !== true && config.length > 0) {
    throw new StoreFlagsError(
      "--config with --store: a member takes the cluster's objects as they are; " +
        "use --seed to write the files into the cluster (or drop --config)",
    );
  }
  const startTimeoutMs = durationFlag("--store-start-timeout", flags.storeStartTimeout ?? DEFAULT_STORE_START_TIMEOUT);
  const memberTtlMs = durationFlag("--member-ttl", flags.memberTtl ?? DEFAULT_MEMBER_TTL);
  if (memberTtlMs < 1000) throw new StoreFlagsError("--member-ttl must be at least 1s (etcd leases count in seconds)");
  return {
    kind: "etcd",
    endpoints,
    cluster,
    seedPaths: config,
    startTimeoutMs,
    memberTtlSeconds: Math.round(memberTtlMs / 1000),
  };
}

function durationFlag(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new StoreFlagsError(`${flag}: ${(error as Error).message}`);
  }
}

/** The cluster's objects do not load together (written around the admin API): the member refuses to start. */
export class ClusterObjectsInvalidError extends startupError("WSG_CLUSTER_OBJECTS_INVALID") {
  constructor(cluster: string, errors: readonly string[]) {
    super(`the objects of cluster '${cluster}' in etcd do not load together:\n  ${errors.join("\n  ")}`);
  }
}

/**
 * Opens the cluster store (waiting up to the start timeout for etcd: StoreStartTimeoutError), writes the `seed`
 * objects when given (SeedInvalidError: nothing written), and validates what the cluster holds: that is the first
 * config of this member. An empty cluster is valid (no servers yet).
 */
export async function openClusterStore(
  choice: Extract<StoreChoice, { kind: "etcd" }>,
  log: Logger,
  seed: GatewayConfig | undefined,
): Promise<{ store: EtcdObjectStore; config: GatewayConfig }> {
  // Loaded here, not at start: the etcd client (gRPC, protobuf) costs every other gateway ~25 MiB and ~120 ms.
  const { EtcdObjectStore } = await import("../control/etcd-store.js");
  const store = await EtcdObjectStore.open({
    endpoints: choice.endpoints,
    cluster: choice.cluster,
    log,
    startTimeoutMs: choice.startTimeoutMs,
  });
  try {
    if (seed !== undefined) {
      await seedStore(store, seed.objects);
      log.info(
        { event: "store_seeded", cluster: choice.cluster, objects: seed.objects.length },
        "wrote the config files' objects into the cluster",
      );
    }
    const result = validateObjects(
      store.list().map((stored) => stored.object),
      `etcd:/wsgate/${choice.cluster}/objects`,
    );
    if (!result.ok) throw new ClusterObjectsInvalidError(choice.cluster, result.errors.map(formatConfigError));
    log.info(
      {
        event: "store_opened",
        cluster: choice.cluster,
        endpoints: choice.endpoints.join(","),
        objects: store.list().length,
      },
      "serving the cluster's objects from etcd",
    );
    return { store, config: result.config };
  } catch (error) {
    await store.close();
    throw error;
  }
}
