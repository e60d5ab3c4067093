// Reloads by the admin API with `wsgate run --workers 2`: the primary keeps the store, both workers apply each change.
import { reloadCases } from "./reload-cases.js";

reloadCases("admin", { workers: 2 });
