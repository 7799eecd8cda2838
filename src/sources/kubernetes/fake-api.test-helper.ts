import type { KubeObject, ListResult, WatchFn } from './reflector.ts';

/** One watch request the code under test opened, driven by the test. */
export interface FakeWatch {
  readonly path: string;
  readonly query: Record<string, string | number | boolean | undefined>;
  send(type: string, object: KubeObject): void;
  /** Ends the stream: `undefined` for a clean close, an error otherwise. */
  end(err?: unknown): void;
  aborted: boolean;
}

/** An in-memory list + watch pair standing in for the API server in unit tests. */
export function fakeCollections() {
  const watches: FakeWatch[] = [];
  const lists: string[] = [];
  let items = new Map<string, KubeObject[]>();
  let rv = 1;
  let failLists = 0;
  const watch: WatchFn = async (path, query, onEvent, onDone) => {
    let done = false;
    const w: FakeWatch = {
      path,
      query,
      aborted: false,
      send: (type, object) => {
        if (!done) onEvent(type, object);
      },
      end: (err) => {
        if (done) return;
        done = true;
        onDone(err ?? null);
      },
    };
    watches.push(w);
    return {
      abort() {
        w.aborted = true;
        w.end(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      },
    };
  };
  const list = async (path: string): Promise<ListResult> => {
    lists.push(path);
    if (failLists > 0) {
      failLists--;
      throw Object.assign(new Error('HTTP-Code: 503\nBody: unavailable'), { code: 503 });
    }
    return { items: items.get(path) ?? [], resourceVersion: String(rv++) };
  };
  return {
    watches,
    lists,
    watch,
    list,
    setItems(path: string, objects: KubeObject[]) {
      items = new Map(items).set(path, objects);
    },
    failNextLists(n: number) {
      failLists = n;
    },
    latest(path: string): FakeWatch | undefined {
      return watches.filter((w) => w.path === path).at(-1);
    },
  };
}

export function obj(
  kind: string,
  namespace: string,
  name: string,
  resourceVersion: string,
  rest: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: kind === 'Secret' ? 'v1' : 'keybrake.dev/v1alpha1',
    kind,
    metadata: { name, namespace, uid: `uid-${name}`, resourceVersion, generation: 1 },
    ...rest,
  };
}
