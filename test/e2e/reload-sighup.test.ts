// Reloads by SIGHUP: the config file rewritten, then the gateway told to read it again (no --watch).
import { reloadCases } from "./reload-cases.js";

reloadCases("SIGHUP");
