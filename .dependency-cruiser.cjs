/* global module */
// The layer rules of issue 16, checked by `npm run depcheck` (part of `npm test`).
// Bottom to top; a module may import only from its own layer or a lower one. No import cycles.
/** @type {Array<{ name: string, path: string }>} */
const layers = [
  { name: "base", path: "^src/(errors\\.ts|util/|schema/)" },
  { name: "observability", path: "^src/observability/" },
  { name: "websocket", path: "^src/websocket/" },
  { name: "upstream", path: "^src/upstream/" },
  { name: "proxy", path: "^src/proxy/" },
  { name: "filters", path: "^src/filters/" },
  { name: "pipeline", path: "^src/pipeline/" },
  { name: "server", path: "^src/server/" },
  { name: "config", path: "^src/config/" },
  { name: "gateway", path: "^src/(gateway\\.ts|process-tuning\\.ts|reload/)" },
  { name: "control", path: "^src/(control|admin|cluster)/" },
  { name: "cli", path: "^src/(cli\\.ts|cli/|demo/)" },
];

// Filters may also import the filter contract, which itself imports nothing above the proxy core.
const filterContract = "^src/pipeline/(filter|context|owned-headers)\\.ts$";
const upToProxy = layers.slice(0, layers.findIndex((layer) => layer.name === "proxy") + 1);

const layerRules = layers.slice(0, -1).map((layer, index) => ({
  name: `layer-${layer.name}`,
  comment: `${layer.name} may import only from its own layer or a lower one`,
  severity: "error",
  from: { path: layer.path },
  to: {
    path: layers.slice(index + 1).map((above) => above.path),
    ...(layer.name === "filters" ? { pathNot: filterContract } : {}),
  },
}));

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "Import cycles tie modules together so neither can be read, tested or moved alone",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: "filter-contract",
      comment: "The filter contract (filter, context, owned-headers) imports nothing above the proxy core",
      severity: "error",
      from: { path: filterContract },
      to: { path: "^src/", pathNot: [...upToProxy.map((layer) => layer.path), filterContract] },
    },
    {
      name: "websocket-pure",
      comment: "websocket/ is pure protocol: it imports only base",
      severity: "error",
      from: { path: "^src/websocket/" },
      to: { path: "^src/", pathNot: [layers[0].path, "^src/websocket/"] },
    },
    {
      name: "in-a-layer",
      comment: "Every source module belongs to a layer (add a new folder to `layers` above), or no rule would see it",
      severity: "error",
      from: { path: "^src/", pathNot: layers.map((layer) => layer.path) },
      to: {},
    },
    {
      name: "to-a-layer",
      comment: "Every imported source module belongs to a layer (add a new folder to `layers` above)",
      severity: "error",
      from: {},
      to: { path: "^src/", pathNot: layers.map((layer) => layer.path) },
    },
    {
      name: "no-orphans",
      comment: "A source file nothing imports is dead code (entry points excepted)",
      severity: "error",
      from: {
        orphan: true,
        pathNot: ["^src/cli\\.ts$", "^src/filters/validator/bcrypt-worker\\.ts$", "\\.d\\.ts$"],
      },
      to: {},
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that does not resolve is a broken build",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    includeOnly: "^src/",
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
