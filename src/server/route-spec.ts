// Route configuration as the config loader hands it over; plain data, validated elsewhere.

export interface HeaderMatchSpec {
  key: string;
  values?: string[];
  regexp?: string;
}

export interface PathRuleSpec {
  path?: string;
  pathPrefix?: string;
  pathRegexp?: string;
  rewriteTarget?: string;
  methods?: string[];
  headers?: HeaderMatchSpec[];
  matchAllHeader: boolean;
  queries?: HeaderMatchSpec[];
  matchAllQuery: boolean;
  clientMaxBodySize?: number;
  backend: string;
}

export interface HostSpec {
  value: string;
  isRegexp: boolean;
}

export interface RouteRuleSpec {
  host?: string;
  hostRegexp?: string;
  hosts?: HostSpec[];
  paths: PathRuleSpec[];
}
