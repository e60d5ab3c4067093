import { NAME_PATTERN } from "../schema/common-fields.js";

/** Cluster names end up in etcd keys and logs: the same plain characters as object names. */
export class ClusterNameError extends Error {
  constructor(name: string) {
    super(`invalid cluster name '${name}' (use letters, digits, '.', '_' and '-', starting with a letter or digit)`);
  }
}

/** The key layout of one cluster: `/wsgate/<cluster>/objects/<name>` and `/wsgate/<cluster>/members/<id>`. */
export class ClusterKeys {
  readonly objectsPrefix: string;
  readonly membersPrefix: string;

  constructor(readonly cluster: string) {
    if (!NAME_PATTERN.test(cluster)) throw new ClusterNameError(cluster);
    this.objectsPrefix = `/wsgate/${cluster}/objects/`;
    this.membersPrefix = `/wsgate/${cluster}/members/`;
  }

  objectKey(name: string): string {
    return this.objectsPrefix + name;
  }

  memberKey(id: string): string {
    return this.membersPrefix + id;
  }

  /** The object name in an object key, or undefined for a key outside the prefix. */
  objectName(key: string): string | undefined {
    return key.startsWith(this.objectsPrefix) ? key.slice(this.objectsPrefix.length) : undefined;
  }
}
