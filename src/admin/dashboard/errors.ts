// The dashboard's own refusals; AdminError subclasses, so the admin listener answers them like any other.
import { AdminError } from "../errors.js";

export class TooManyStreamsError extends AdminError {
  readonly code = "WSG_TOO_MANY_STREAMS";
  readonly status = 503;
  override readonly headers = { "Retry-After": "5" };
  constructor(limit: number) {
    super(`${limit} dashboard streams are open already: close a dashboard page`);
  }
}

export class DashboardNotBuiltError extends AdminError {
  readonly code = "WSG_DASHBOARD_NOT_BUILT";
  readonly status = 503;
  constructor(dir: string) {
    super(`the dashboard's files are missing from ${dir} (run npm run build)`);
  }
}
