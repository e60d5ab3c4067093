import type { Logger } from "../observability/logger.js";

export type StoreState = "connected" | "unavailable";

/** Logs the store's reachability once per change (`event: store_state`), not once per failed attempt. */
export class StoreStateLog {
  private current: StoreState = "connected";

  constructor(
    private readonly log: Logger,
    private readonly endpoints: readonly string[],
  ) {}

  get state(): StoreState {
    return this.current;
  }

  set(state: StoreState, reason?: string): void {
    if (state === this.current) return;
    this.current = state;
    const line = { event: "store_state", state, endpoints: this.endpoints.join(","), reason };
    if (state === "unavailable") this.log.warn(line, "cluster store unavailable: serving the last applied config");
    else this.log.info(line, "cluster store connected");
  }
}
