// Reloads by `wsgate run --watch`: the config file rewritten (renamed over) under the running gateway.
import { reloadCases } from "./reload-cases.js";

reloadCases("watch");
