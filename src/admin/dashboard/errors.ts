// The dashboard's own refusals: admin API errors, so the admin listener answers them like any other.
import { apiError } from "../../errors.js";

export class TooManyStreamsError extends apiError("WSG_TOO_MANY_STREAMS") {
  override readonly headers = { "Retry-After": "5" };
  constructor(limit: number) {
    super(`${limit} dashboard streams are open already: close a dashboard page`);
  }
}

export class DashboardNotBuiltError extends apiError("WSG_DASHBOARD_NOT_BUILT") {
  constructor(dir: string) {
    super(`the dashboard's files are missing from ${dir} (run npm run build)`);
  }
}
