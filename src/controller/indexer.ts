// Secondary indexes over an informer cache (as client-go's Indexers): object -> index values,
// kept current from the informer's add/update/delete events, so reconcile looks up "slices of
// this VM" or "VMs publishing this Service" without scanning a namespace.

interface Named {
  metadata?: { name?: string; namespace?: string };
}

export class Index<T extends Named> {
  private readonly byValue = new Map<string, Map<string, T>>();
  private readonly valuesOf = new Map<string, string[]>();

  constructor(private readonly valuesFn: (obj: T) => string[]) {}

  private static key(obj: Named): string {
    return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
  }

  /** Add or update. */
  set(obj: T): void {
    this.delete(obj);
    const key = Index.key(obj);
    const ns = obj.metadata?.namespace ?? '';
    const values = [...new Set(this.valuesFn(obj))].map((v) => `${ns}/${v}`);
    this.valuesOf.set(key, values);
    for (const v of values) {
      let bucket = this.byValue.get(v);
      if (!bucket) this.byValue.set(v, (bucket = new Map()));
      bucket.set(key, obj);
    }
  }

  delete(obj: Named): void {
    const key = Index.key(obj);
    for (const v of this.valuesOf.get(key) ?? []) {
      const bucket = this.byValue.get(v);
      bucket?.delete(key);
      if (bucket?.size === 0) this.byValue.delete(v);
    }
    this.valuesOf.delete(key);
  }

  get(namespace: string, value: string): T[] {
    return [...(this.byValue.get(`${namespace}/${value}`)?.values() ?? [])];
  }
}

/** Names of the VirtualMachines an object has owner references to. */
export function ownerVmNames(obj: {
  metadata?: { ownerReferences?: { kind: string; name: string }[] };
}): string[] {
  return (obj.metadata?.ownerReferences ?? []).filter((r) => r.kind === 'VirtualMachine').map((r) => r.name);
}
