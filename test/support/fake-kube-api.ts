/**
 * A small Kubernetes API server for tests. It follows the real list/watch
 * protocol closely enough for @kubernetes/client-node:
 *
 * - `GET <collection>` answers a `<Kind>List` with `metadata.resourceVersion`;
 *   `fieldSelector` on `metadata.name`, `metadata.namespace` and, for Pods,
 *   `status.phase` (`=`, `==`, `!=`) and `spec.nodeName` (`=`, `==`: the
 *   API server's index a kubelet's own watch uses) is honoured; `limit` pages the list
 *   (`metadata.continue`, `remainingItemCount`), every page served from the
 *   snapshot the first one was cut from, as the API server does;
 *   `labelSelector` and `timeoutSeconds` are ignored. Items carry no
 *   kind/apiVersion, as for built-in types (a client must not rely on them);
 * - a watch with a field selector sees an object that stops matching as
 *   `DELETED` and one that starts matching as `ADDED`, as the API server
 *   sends them;
 * - `GET <collection>?watch=true&resourceVersion=N` streams one JSON event a
 *   line (chunked): the retained history after N, then live events; N older
 *   than the retained history gets an `ERROR` event with a 410 `Expired`
 *   Status and the stream ends, as the API server does after compaction;
 *   `BOOKMARK` events go to watches that asked with `allowWatchBookmarks=true`;
 * - one resourceVersion counter across all kinds, like etcd's revision;
 * - unknown paths (a CRD that is not installed) answer 404 with a Status.
 *
 * Plain http, no auth: `kubeConfig()` points a client at it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../../src/ipam/kube-object.js';

export interface FakeKind {
  kind: string;
  apiVersion: string;
  plural: string;
  namespaced: boolean;
}

export const fakeKinds: readonly FakeKind[] = [
  { kind: 'Node', apiVersion: 'v1', plural: 'nodes', namespaced: false },
  { kind: 'ConfigMap', apiVersion: 'v1', plural: 'configmaps', namespaced: true },
  { kind: 'CiliumNode', apiVersion: 'cilium.io/v2', plural: 'ciliumnodes', namespaced: false },
  { kind: 'CiliumEndpoint', apiVersion: 'cilium.io/v2', plural: 'ciliumendpoints', namespaced: true },
  { kind: 'CiliumPodIPPool', apiVersion: 'cilium.io/v2alpha1', plural: 'ciliumpodippools', namespaced: false },
  { kind: 'Pod', apiVersion: 'v1', plural: 'pods', namespaced: true },
];

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface Filter {
  kind: FakeKind;
  namespace?: string;
  name?: string;
  /** `status.phase` terms: equal to `phase`, none of `notPhases`. */
  phase?: string;
  notPhases?: string[];
  /** `spec.nodeName` term (Pods). */
  nodeName?: string;
}
interface Watcher extends Filter {
  path: string;
  bookmarks: boolean;
  res: ServerResponse;
}
export interface FakeRequest {
  path: string;
  watch: boolean;
  query: Record<string, string>;
}

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
const key = (kind: string, name: string, namespace = '') => `${kind}/${namespace}/${name}`;
const phaseOf = (o: KubeObject) => (o.status as { phase?: string } | undefined)?.phase ?? '';

export class FakeKubeApi {
  private readonly server = createServer((req, res) => this.handle(req, res));
  private readonly kinds: FakeKind[];
  private readonly objects = new Map<string, KubeObject>();
  private history: Array<{ rv: number; type: EventType; object: KubeObject; old: KubeObject | undefined }> = [];
  /** Paged lists in progress: the snapshot each continue token reads from. */
  private readonly pages = new Map<string, { rv: number; items: KubeObject[] }>();
  private readonly watchers = new Set<Watcher>();
  private readonly unavailable = new Set<string>();
  private bookmarkTimer?: NodeJS.Timeout;
  /** The global resourceVersion (etcd revision) of the last write. */
  rv = 1;
  /** Watches from a resourceVersion below this one get 410 Gone. */
  private oldestRv = 0;
  /** Every request, in order. */
  readonly requests: FakeRequest[] = [];
  bookmarksSent = 0;

  /** `omitKinds`: kinds whose CRD is "not installed" (their paths answer 404). */
  constructor(opts: { omitKinds?: string[]; bookmarkIntervalMs?: number } = {}) {
    this.kinds = fakeKinds.filter((k) => !opts.omitKinds?.includes(k.kind));
    if (opts.bookmarkIntervalMs) this.bookmarkTimer = setInterval(() => this.sendBookmarks(), opts.bookmarkIntervalMs).unref();
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    // client-node 1.4 refuses an http:// server unless skipTLSVerify is set (there is no TLS to verify).
    kc.loadFromClusterAndUser({ name: 'fake', server: this.url, skipTLSVerify: true }, { name: 'fake' });
    return kc;
  }

  async close(): Promise<void> {
    clearInterval(this.bookmarkTimer);
    this.closeWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- test controls -------------------------------------------------------

  /** Creates or replaces an object (ADDED or MODIFIED); returns the stored copy. */
  upsert(obj: KubeObject): KubeObject {
    const kind = this.kinds.find((k) => k.kind === obj.kind);
    const name = obj.metadata?.name;
    if (!kind || !name) throw new Error(`upsert: unknown kind or no name: ${JSON.stringify(obj)}`);
    const namespace = kind.namespaced ? (obj.metadata?.namespace ?? 'default') : undefined;
    const k = key(kind.kind, name, namespace);
    const old = this.objects.get(k);
    const stored: KubeObject = structuredClone({
      ...obj,
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      metadata: {
        ...obj.metadata,
        name,
        ...(namespace ? { namespace } : {}),
        uid: old?.metadata?.uid ?? obj.metadata?.uid ?? randomUUID(),
        creationTimestamp: old?.metadata?.creationTimestamp ?? obj.metadata?.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        resourceVersion: String(++this.rv),
      },
    });
    this.objects.set(k, stored);
    this.record(old ? 'MODIFIED' : 'ADDED', stored, old);
    return structuredClone(stored);
  }

  /** Deletes an object (DELETED); false when there was none. */
  remove(kind: string, name: string, namespace?: string): boolean {
    const k = key(kind, name, this.kinds.find((x) => x.kind === kind)?.namespaced ? (namespace ?? 'default') : undefined);
    const old = this.objects.get(k);
    if (!old) return false;
    this.objects.delete(k);
    this.record('DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.rv) } }, old);
    return true;
  }

  get(kind: string, name: string, namespace?: string): KubeObject | undefined {
    const o = this.objects.get(key(kind, name, namespace));
    return o && structuredClone(o);
  }

  /** Forgets every event so far: a watch from an older resourceVersion than the current one gets 410 Gone. */
  compactHistory(): void {
    this.history = [];
    this.oldestRv = this.rv;
  }

  /** Ends every open watch stream, as the API server does when a watch times out. */
  closeWatches(path?: string): void {
    for (const w of this.watchers) {
      if (path !== undefined && w.path !== path) continue;
      this.watchers.delete(w);
      w.res.end();
    }
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allows them; returns that resourceVersion. */
  sendBookmarks(): string {
    const rv = String(this.rv);
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      this.write(w.res, 'BOOKMARK', { kind: w.kind.kind, apiVersion: w.kind.apiVersion, metadata: { resourceVersion: rv } });
      this.bookmarksSent++;
    }
    return rv;
  }

  /** While on, every request to this collection path answers 503, and its open watches end. */
  setUnavailable(path: string, on: boolean): void {
    if (on) {
      this.unavailable.add(path);
      this.closeWatches(path);
    } else {
      this.unavailable.delete(path);
    }
  }

  listCount(path: string): number {
    return this.requests.filter((r) => r.path === path && !r.watch).length;
  }

  watchCount(path: string): number {
    return this.requests.filter((r) => r.path === path && r.watch).length;
  }

  openWatches(path?: string): number {
    return [...this.watchers].filter((w) => path === undefined || w.path === path).length;
  }

  // ---- protocol ------------------------------------------------------------

  private record(type: EventType, object: KubeObject, old: KubeObject | undefined): void {
    const rv = Number(object.metadata?.resourceVersion);
    this.history.push({ rv, type, object, old });
    for (const w of this.watchers) {
      const seen = this.seenAs(w, type, object, old);
      if (seen) this.write(w.res, seen, object);
    }
  }

  /** The event a watch with filter `f` gets for a write, if any: leaving its selector is a DELETED, entering it an ADDED. */
  private seenAs(f: Filter, type: EventType, object: KubeObject, old: KubeObject | undefined): EventType | undefined {
    const now = this.matches(f, object);
    if (type !== 'MODIFIED') return now ? type : undefined;
    const before = old !== undefined && this.matches(f, old);
    if (now) return before ? 'MODIFIED' : 'ADDED';
    return before ? 'DELETED' : undefined;
  }

  private write(res: ServerResponse, type: string, object: unknown): void {
    res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private matches(f: Filter, o: KubeObject): boolean {
    return (
      o.kind === f.kind.kind &&
      (f.namespace === undefined || o.metadata?.namespace === f.namespace) &&
      (f.name === undefined || o.metadata?.name === f.name) &&
      (f.phase === undefined || phaseOf(o) === f.phase) &&
      (f.notPhases === undefined || !f.notPhases.includes(phaseOf(o))) &&
      (f.nodeName === undefined || ((o.spec as { nodeName?: string } | undefined)?.nodeName ?? '') === f.nodeName)
    );
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const watch = query.watch === 'true' || query.watch === '1';
    this.requests.push({ path: url.pathname, watch, query });

    if (this.unavailable.has(url.pathname)) return this.send(res, 503, status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
    // /api/v1[/namespaces/NS]/PLURAL or /apis/GROUP/VERSION[/namespaces/NS]/PLURAL
    const m = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)$/.exec(url.pathname);
    const kind = m && this.kinds.find((k) => k.apiVersion === (m[1] ?? m[2]) && k.plural === m[4] && (k.namespaced || m[3] === undefined));
    if (!m || !kind) return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (req.method !== 'GET') return this.send(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported`));

    const filter: Filter = { kind, namespace: m[3] };
    for (const term of (query.fieldSelector ?? '').split(',').filter(Boolean)) {
      const [, field, op, value = ''] = /^([^=!]+)(!=|==|=)(.*)$/.exec(term) ?? [];
      if (field === 'metadata.name' && op !== '!=') filter.name = value;
      else if (field === 'metadata.namespace' && op !== '!=') filter.namespace = value;
      else if (field === 'status.phase' && kind.kind === 'Pod') {
        if (op === '!=') (filter.notPhases ??= []).push(value);
        else filter.phase = value;
      } else if (field === 'spec.nodeName' && kind.kind === 'Pod' && op !== '!=') filter.nodeName = value;
      else return this.send(res, 400, status(400, 'BadRequest', `field label not supported: ${field ?? term}`));
    }

    if (!watch) {
      let snapshot: { rv: number; items: KubeObject[] };
      let offset = 0;
      if (query.continue) {
        const [id, at] = query.continue.split(':');
        const kept = this.pages.get(id ?? '');
        if (!kept) return this.send(res, 410, status(410, 'Expired', 'the provided continue parameter is too old'));
        snapshot = kept;
        offset = Number(at);
      } else {
        const items = [...this.objects.values()].filter((o) => this.matches(filter, o)).map(({ apiVersion: _a, kind: _k, ...rest }) => structuredClone(rest));
        snapshot = { rv: this.rv, items };
      }
      const limit = Number(query.limit) > 0 ? Number(query.limit) : Infinity;
      const items = snapshot.items.slice(offset, offset + limit);
      const left = snapshot.items.length - offset - items.length;
      const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.rv) };
      if (left > 0) {
        const id = query.continue?.split(':')[0] ?? randomUUID();
        this.pages.set(id, snapshot);
        metadata.continue = `${id}:${offset + items.length}`;
        metadata.remainingItemCount = left;
      }
      return this.send(res, 200, { kind: `${kind.kind}List`, apiVersion: kind.apiVersion, metadata, items });
    }

    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // the API server answers a watch at once, events or not
    const from = query.resourceVersion ?? '';
    if (from !== '' && from !== '0' && Number(from) < this.oldestRv) {
      this.write(res, 'ERROR', status(410, 'Expired', `too old resource version: ${from} (${this.oldestRv})`));
      res.end();
      return;
    }
    if (from === '' || from === '0') {
      // No resourceVersion: the current state as synthetic ADDED events.
      for (const o of this.objects.values()) if (this.matches(filter, o)) this.write(res, 'ADDED', o);
    } else {
      for (const e of this.history) {
        if (e.rv <= Number(from)) continue;
        const seen = this.seenAs(filter, e.type, e.object, e.old);
        if (seen) this.write(res, seen, e.object);
      }
    }
    const w: Watcher = { ...filter, path: url.pathname, bookmarks: query.allowWatchBookmarks === 'true', res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }
}
