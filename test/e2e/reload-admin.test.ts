// Reloads by the admin API: the objects that differ written by PUT/POST/DELETE (and `wsgate apply -f`).
import { reloadCases } from "./reload-cases.js";

reloadCases("admin");
