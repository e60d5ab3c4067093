import { startupError } from "../errors.js";

/** An HTTPServer's listener could not open (port in use, address not on this host...): the config is not applied. */
export class ListenerError extends startupError("WSG_LISTEN_FAILED") {
  constructor(
    readonly server: string,
    readonly where: string,
    readonly reason: string,
  ) {
    super(`HTTPServer ${server}: cannot listen on ${where}: ${reason}`);
  }
}
