// The successor's side of `wsgate upgrade` (protocol in upgrade-protocol.ts): a process started by a running wsgate
// to replace it gets that process's listening sockets before it starts, accepts on them instead of binding, says when
// it runs the config, then takes the sessions handed over.
import type { Server as NetServer, Socket } from "node:net";
import type { InheritedListeners } from "../gateway.js";
import { counterSnapshotOf, type CounterSnapshot } from "../observability/carried-counters.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { InheritedListener } from "../server/http-server.js";
import type { HTTPServerSpec } from "../server/spec.js";
import { StepInbox, type Step } from "./upgrade-inbox.js";
import { SUCCESSOR_ENV, upgradeMessage, type ListenerMessage, type UpgradeMessage } from "./upgrade-protocol.js";

/** How long the running process gets to send its listening sockets: it sends them at once, when asked. */
const LISTENERS_TIMEOUT_MS = 10_000;
/** How long a last message to the running process gets to leave before the successor exits anyway. */
const SEND_TIMEOUT_MS = 2_000;
/**
 * How long reads of the counters wait for the predecessor's totals (they come once the sessions are handed over):
 * a scrape that times out is better than one whose totals went back, which Prometheus takes for a restart.
 */
const COUNTERS_HOLD_MS = 30_000;

/**
 * A socket as received: Node wraps it in a server that accepts at once, before this process has a listener for it;
 * what it accepts meanwhile is held and given to the listener that adopts the socket.
 */
class Received implements InheritedListener {
  private held: Socket[] | undefined = [];

  constructor(
    readonly message: ListenerMessage,
    readonly socket: NetServer,
  ) {
    socket.on("connection", this.hold);
  }

  adopted(listener: NetServer): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.socket.off("connection", this.hold);
    for (const connection of held) listener.emit("connection", connection);
  }

  /** Not taken: the socket closes (this process's share of it), with what it accepted. */
  close(): void {
    for (const connection of this.held ?? []) connection.destroy();
    this.held = undefined;
    this.socket.close();
  }

  private readonly hold = (connection: Socket): void => {
    if (this.held === undefined) connection.destroy();
    else this.held.push(connection);
  };
}

/** The process this one replaces, as the IPC channel it started this one with reaches it. */
export class Predecessor implements InheritedListeners {
  private readonly received: Received[] = [];
  private readonly inbox = new StepInbox();
  private disconnected = false;
  /** The first session id this process may give: the predecessor's sessions keep theirs (1: none said). */
  firstSessionId = 1;
  /** The predecessor's counter totals, once its `done` says them (undefined: it went away, or sent none). */
  private readonly counters: Promise<CounterSnapshot | undefined>;
  private countersCame: (snapshot: CounterSnapshot | undefined) => void = () => undefined;

  private constructor(readonly pid: number) {
    this.counters = new Promise((resolve) => {
      this.countersCame = resolve;
    });
    process.on("message", this.onMessage);
    process.once("disconnect", this.onDisconnect);
  }

  /**
   * The predecessor when this process was started by `wsgate upgrade` (its environment says so and it has an IPC
   * channel); the variable is removed, so that processes this one starts are not taken for successors.
   */
  static fromEnvironment(): Predecessor | undefined {
    const pid = process.env[SUCCESSOR_ENV];
    delete process.env[SUCCESSOR_ENV];
    if (pid === undefined || process.send === undefined || !process.connected) return undefined;
    return new Predecessor(Number(pid));
  }

  /**
   * Asks for the listening sockets and resolves once they are all in, with how many and the first session id this
   * process may give (the predecessor's sessions keep theirs).
   */
  async receiveListeners(): Promise<{ sockets: number; firstSessionId: number }> {
    const sent = this.next("listeners-sent", LISTENERS_TIMEOUT_MS);
    await this.send({ wsgateUpgrade: "hello", pid: process.pid });
    const message = await sent;
    if (message.wsgateUpgrade === "listeners-sent") this.firstSessionId = message.firstSessionId;
    return { sockets: this.received.length, firstSessionId: this.firstSessionId };
  }

  /** The predecessor's socket for this HTTPServer: same address, and the same port (or both any port, same name). */
  take(spec: HTTPServerSpec): InheritedListener | undefined {
    return this.takeWhere(
      ({ role, server, address, port, boundPort }) =>
        role === "server" &&
        address === spec.address &&
        (spec.port === 0 ? port === 0 && server === spec.name : spec.port === boundPort),
    );
  }

  /** The predecessor's admin API socket, when the admin API is to listen where it did. */
  takeAdmin(host: string, port: number): InheritedListener | undefined {
    return this.takeWhere(
      (message) =>
        message.role === "admin" && message.address === host && (port === message.port || port === message.boundPort),
    );
  }

  /** Closes the sockets no listener of this process took (a server the new config no longer has). */
  closeUnused(): void {
    for (const received of this.received.splice(0)) received.close();
  }

  /** This process's counters go on from the predecessor's totals, which come with its `done`. */
  carryCountersInto(metrics: GatewayMetrics): void {
    metrics.carryFrom(this.counters, COUNTERS_HOLD_MS);
  }

  /** Says that this process runs the config (its listeners accept); then the sessions come. */
  running(): Promise<void> {
    return this.send({ wsgateUpgrade: "running", pid: process.pid });
  }

  /** Says which of the sessions handed over this process resumed, and which it had to close. */
  took(report: { taken: number; closed: number; refused: number }): Promise<void> {
    return this.send({ wsgateUpgrade: "took", ...report });
  }

  /** Says why this process cannot start, before it exits. */
  failed(reason: string): Promise<void> {
    return this.send({ wsgateUpgrade: "failed", reason });
  }

  /** Resolves with the predecessor's figures once it has handed everything over, or undefined if it went away. */
  async done(timeoutMs: number): Promise<{ moved: number; kept: number; closed: number } | undefined> {
    try {
      const message = await this.next("done", timeoutMs);
      if (message.wsgateUpgrade !== "done") return undefined;
      return { moved: message.moved, kept: message.kept, closed: message.closed };
    } catch {
      return undefined;
    }
  }

  /** Lets go of the channel: this process then answers to no one (it can be upgraded in turn). */
  release(): void {
    process.off("message", this.onMessage);
    process.off("disconnect", this.onDisconnect);
    this.countersCame(undefined);
    this.closeUnused();
    if (process.connected) process.disconnect();
  }

  private takeWhere(test: (message: ListenerMessage) => boolean): InheritedListener | undefined {
    const index = this.received.findIndex(({ message }) => test(message));
    if (index < 0) return undefined;
    return this.received.splice(index, 1)[0];
  }

  private send(message: UpgradeMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.disconnected || process.send === undefined) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, SEND_TIMEOUT_MS);
      process.send(message, undefined, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The next message of `step`; rejects after `timeoutMs` or when the channel closes. */
  private next(step: Step, timeoutMs: number): Promise<UpgradeMessage> {
    return this.inbox.next(step, timeoutMs, (end) =>
      end.kind === "timeout"
        ? `no '${step}' from the process being replaced (PID ${this.pid}) in ${timeoutMs} ms`
        : end.why,
    );
  }

  private readonly onMessage = (value: unknown, handle: unknown): void => {
    const message = upgradeMessage(value);
    if (message === undefined) return;
    if (message.wsgateUpgrade === "listener") {
      if (isNetServer(handle)) this.received.push(new Received(message, handle));
      return;
    }
    if (message.wsgateUpgrade === "done") this.countersCame(counterSnapshotOf(message.counters));
    this.inbox.deliver(message);
  };

  private readonly onDisconnect = (): void => {
    this.disconnected = true;
    this.countersCame(undefined);
    this.inbox.close(`the process being replaced (PID ${this.pid}) went away`);
  };
}

function isNetServer(handle: unknown): handle is NetServer {
  // A raw handle (a cluster's listener, 'net.Native') has `listen` but no events: not one of these.
  return (
    typeof handle === "object" &&
    handle !== null &&
    typeof (handle as NetServer).listen === "function" &&
    typeof (handle as NetServer).on === "function"
  );
}
