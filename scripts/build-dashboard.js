// Puts the dashboard's static files into dist/dashboard/ (the page's scripts are compiled there by
// tsconfig.dashboard.json): its HTML and CSS, and uPlot from node_modules, so the package serves them offline.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const uplot = join(dirname(require.resolve("uplot/package.json")), "dist");
const out = "dist/dashboard";
mkdirSync(join(out, "assets"), { recursive: true });
copyFileSync("dashboard/index.html", join(out, "index.html"));
copyFileSync("dashboard/dashboard.css", join(out, "assets", "dashboard.css"));
copyFileSync(join(uplot, "uPlot.iife.min.js"), join(out, "assets", "uPlot.iife.min.js"));
copyFileSync(join(uplot, "uPlot.min.css"), join(out, "assets", "uPlot.min.css"));
