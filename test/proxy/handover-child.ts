// The new process of the hand-over tests: a gateway on the config the parent sends, taking the parent's sessions.
// Not a test file: forked by handover.test.ts. Commands come over the IPC channel as `{ test: ... }`.
import { loadConfigText } from "../../src/config/load.js";
import { Gateway } from "../../src/gateway.js";
import { createLogger } from "../../src/observability/logger.js";
import type { HandoverChannel } from "../../src/proxy/handover-types.js";

interface Command {
  test: "start" | "sessions" | "stop";
  yaml?: string;
  /** Die as soon as the first socket of a session arrives (a new process that crashes mid-hand-over). */
  dieOnSession?: boolean;
  firstSessionId?: number;
}

const channel = process as unknown as HandoverChannel;
let gateway: Gateway | undefined;

function reply(message: Record<string, unknown>): void {
  process.send?.({ test: "reply", ...message });
}

process.on("message", (message: unknown) => {
  const command = message as Partial<Command> & { wsgateHandover?: number; kind?: string };
  if (command.wsgateHandover === 1 && command.kind === "session" && dieOnSession) process.exit(3);
  if (command.test === "start") void start(command as Command);
  else if (command.test === "sessions") {
    const sessions = (gateway?.sessions.list() ?? []).map((session) => ({
      id: session.id,
      route: session.route,
      clientIp: session.clientIp,
      client: session.client,
      startedAt: session.startedAt,
      totals: session.totals(),
    }));
    reply({ sessions, pid: process.pid });
  } else if (command.test === "stop") {
    void gateway?.stop(1000).then(() => process.exit(0));
  }
});

let dieOnSession = false;

async function start(command: Command): Promise<void> {
  dieOnSession = command.dieOnSession === true;
  const loaded = loadConfigText(command.yaml ?? "", "child.yaml");
  if (!loaded.ok) {
    reply({ error: JSON.stringify(loaded.errors) });
    return;
  }
  const options = command.firstSessionId !== undefined ? { firstSessionId: command.firstSessionId } : {};
  gateway = await Gateway.start(loaded.config, createLogger("silent"), options);
  const taking = gateway.takeSessions(channel);
  void taking.done.then((report) => reply({ took: report }));
  reply({ started: true, port: gateway.listening[0]?.address.port ?? 0 });
}
