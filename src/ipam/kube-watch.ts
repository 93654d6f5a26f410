/**
 * The live source of the cluster's Cilium IPAM objects: Nodes, CiliumNodes,
 * CiliumPodIPPools, the cilium-config ConfigMap and optionally
 * CiliumEndpoints, each kept by a @kubernetes/client-node informer
 * (`ListWatch`: list, then watch from the list's resourceVersion).
 *
 * What client-node 1.4.0's `ListWatch` does, and what this adds:
 * - a watch that ends normally is resumed from the last resourceVersion, and a
 *   410 Gone (an `ERROR` event with code 410, or HTTP 410) clears the
 *   resourceVersion, so the next round relists: relisting is client-node's;
 * - any other failure (list or watch: HTTP error, connection reset) is handed
 *   to the `error` callbacks and the informer stops for good: restarting it
 *   with backoff is ours (it resumes from its resourceVersion);
 * - it does not ask for bookmarks: our `Watch` adds `allowWatchBookmarks`;
 *   a BOOKMARK only moves the resourceVersion on;
 * - the typed list calls deserialize core types into classes (Dates for
 *   timestamps) while watch events stay JSON, so the list function here reads
 *   raw JSON through client-node's own HTTP stack (auth, TLS) instead.
 */
import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  ListWatch,
  RequestContext,
  Watch,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { STATUS_CODES } from 'node:http';
import { Backoff } from '../util/backoff.js';
import { closeOnAbort, type Lifecycle } from '../lifecycle.js';
import { silentLogger, type Logger } from '../log.js';
import type { KubeObject } from './kube-object.js';

export interface KubeWatchOptions {
  /** Loaded kubeconfig; default: in-cluster service account when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig. */
  kubeConfig?: KubeConfig;
  /** Namespace of the cilium-config ConfigMap. Default "kube-system". */
  configMapNamespace?: string;
  /** Name of the Cilium ConfigMap. Default "cilium-config". */
  configMapName?: string;
  /** Also watch CiliumEndpoints (addresses in use, pod names). Default false. */
  watchEndpoints?: boolean;
  /**
   * Also watch Pods (the pod inventory: every pod address, talking or idle),
   * in every namespace, those not Succeeded or Failed. Each Pod is cut down to
   * what the inventory reads as it arrives (`podShape`), so 100,000 pods cost
   * a few tens of MB, not the API server's full objects. Default false.
   */
  watchPods?: boolean;
  /**
   * Per-node mode: with `watchPods`, watch only the Pods scheduled to this node
   * (`fieldSelector=spec.nodeName=<node>`, which the API server serves from its
   * index), so each per-node exporter's load on the API server stays small and
   * constant however large the cluster. Default: every node's Pods.
   */
  podNodeName?: string;
  /** Quiet period before onChange fires after a burst of events, ms. Default 200. */
  debounceMs?: number;
  /**
   * Longest wait for onChange behind a steady stream of events, ms, counted
   * from the first event not yet reported. Default 10 × debounceMs (2000).
   * Under churn (CiliumNode status updates on every pod start) this bounds
   * both the staleness of the state and the rebuilds per second.
   */
  maxWaitMs?: number;
  logger?: Logger;
  /** Called with every current object of every watched kind after the first full sync and after each (debounced) change. */
  onChange: (objects: KubeObject[]) => void;
}

export type ResourceName = 'nodes' | 'ciliumnodes' | 'ciliumpodippools' | 'configmap' | 'ciliumendpoints' | 'pods';

export interface ResourceStatus {
  /** Listed at least once (or, for CiliumPodIPPools, known to be not installed). A resource that is not watched reports false. */
  synced: boolean;
  objects: number;
  /** Lists after the first one (after 410 Gone). */
  relists: number;
  /** The most recent list/watch error; kept after the watch recovers. */
  lastError?: string;
}

const VERBS = ['get', 'list', 'watch'];

/**
 * The RBAC rules the watch needs (get/list/watch on exactly the resources it
 * reads). The ConfigMap rule names the default "cilium-config": list and watch
 * are authorised by name because they carry `fieldSelector=metadata.name=...`;
 * it belongs in a Role in the ConfigMap's namespace (or in the ClusterRole).
 * `ciliumendpoints` is only read with `watchEndpoints: true`.
 */
export const requiredRbacRules: RbacRule[] = rbacRulesFor({ watchEndpoints: true, watchPods: true });

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/**
 * The RBAC rules for exactly what a watch with these options reads (the
 * base Deployment grants `requiredRbacRules`, every optional resource; the
 * per-node DaemonSet grants what its settings read). RBAC cannot restrict a
 * field selector: `pods` is granted cluster-wide even when only one node's
 * are watched (`podNodeName`).
 */
export function rbacRulesFor(opts: { watchEndpoints?: boolean; watchPods?: boolean }): RbacRule[] {
  return [
    { apiGroups: [''], resources: ['nodes'], verbs: VERBS },
    { apiGroups: [''], resources: ['configmaps'], resourceNames: ['cilium-config'], verbs: VERBS },
    { apiGroups: ['cilium.io'], resources: ['ciliumnodes', 'ciliumpodippools', ...(opts.watchEndpoints ? ['ciliumendpoints'] : [])], verbs: VERBS },
    ...(opts.watchPods ? [{ apiGroups: [''], resources: ['pods'], verbs: VERBS }] : []),
  ];
}

/** The Pods field selector: live pods, and with `node` only those scheduled there. */
export function podFieldSelector(node?: string): string {
  return node === undefined ? LIVE_PODS : `${LIVE_PODS},spec.nodeName=${node}`;
}

/** Objects per list request: lists are paged (`limit` and `continue`), as client-go's informers do, so 100,000 pods never arrive as one response. */
export const LIST_PAGE_SIZE = 500;

/** Pods that hold no address any more are left out by the API server. */
const LIVE_PODS = 'status.phase!=Succeeded,status.phase!=Failed';

/**
 * A Pod cut down to what the inventory reads: name, namespace, owner,
 * `pod-template-hash`, node, host networking, addresses, phase and start
 * time (and what the informer needs: uid and resourceVersion).
 */
export function podShape(o: KubernetesObject): KubernetesObject {
  const p = o as KubeObject;
  const m = p.metadata ?? {};
  const hash = m.labels?.['pod-template-hash'];
  const spec = (p.spec ?? {}) as { nodeName?: string; hostNetwork?: boolean };
  const st = (p.status ?? {}) as { phase?: string; podIP?: string; podIPs?: Array<{ ip?: string }>; startTime?: string };
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(hash !== undefined ? { labels: { 'pod-template-hash': hash } } : {}),
      ...(m.ownerReferences ? { ownerReferences: m.ownerReferences.map((r) => ({ apiVersion: r.apiVersion, kind: r.kind, name: r.name, controller: r.controller })) } : {}),
    },
    spec: { nodeName: spec.nodeName, hostNetwork: spec.hostNetwork },
    status: { phase: st.phase, podIP: st.podIP, podIPs: st.podIPs?.map((x) => ({ ip: x.ip })), startTime: st.startTime },
  } as KubernetesObject;
}

interface ResourceSpec {
  name: ResourceName;
  apiVersion: string;
  kind: string;
  path: string;
  fieldSelector?: string;
  /** A 404 means "CRD not installed": empty and synced, retried slowly. */
  optional?: boolean;
  /** Cuts each object down as it arrives (list and watch): what is not read is not kept. */
  shape?: (o: KubernetesObject) => KubernetesObject;
}

/** A list or watch that failed, with its HTTP status when there was one (`statusCode` is what ListWatch checks for 410). */
class KubeRequestError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'KubeRequestError';
  }
}

/** Deadline of one list request, ms. */
const LIST_TIMEOUT_MS = 60_000;
/** How often a missing optional CRD is looked for again, ms. */
const ABSENT_RETRY_MS = 60_000;

const httpText = (code: number) => `HTTP ${code} ${STATUS_CODES[code] ?? ''}`.trimEnd();

function statusCodeOf(err: unknown): number | undefined {
  const e = err as { statusCode?: unknown; code?: unknown } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

interface Resource {
  spec: ResourceSpec;
  informer: ListWatch<KubernetesObject>;
  synced: boolean;
  /** The optional CRD is not installed. */
  absent: boolean;
  /** A list returned and ListWatch is applying it (it calls `watch` right after). */
  listApplied: boolean;
  lists: number;
  relists: number;
  /** The copies this resource gave the last onChange, and whether its informer said anything since (then they are made again). */
  emitted: KubeObject[] | undefined;
  dirty: boolean;
  lastError?: string;
  backoff: Backoff;
  retry?: NodeJS.Timeout;
}

/**
 * client-node's Watch, asking for bookmarks and telling the owner what happens
 * to each watch request. It also covers two gaps of ListWatch: an exception
 * before the request (auth, kubeconfig) would reject a promise nobody awaits,
 * so it becomes a failed watch; and a stream that keeps ending at once without
 * an event (a proxy with a short timeout) would be re-watched in a tight loop,
 * so from the second such end on the next watch waits a backoff delay.
 */
class ResourceWatch extends Watch {
  private shortEnds = 0;
  private readonly pause = new Backoff();

  constructor(
    kc: KubeConfig,
    private readonly hooks: {
      closed(): boolean;
      /** Right before each watch request: ListWatch has applied any list it just made. */
      beforeWatch(): void;
      connected(): void;
      errorEvent(status: { code?: number; message?: string }): void;
      shape?: (o: KubernetesObject) => KubernetesObject;
    },
  ) {
    super(kc);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    this.hooks.beforeWatch();
    if (this.shortEnds >= 2) await new Promise((r) => setTimeout(r, this.pause.next()).unref());
    const idle = new AbortController();
    idle.abort();
    if (this.hooks.closed()) return idle;
    const started = Date.now();
    let events = 0;
    let failed = false;
    let controller: AbortController;
    try {
      controller = await super.watch(
        path,
        // Like client-go: bookmarks, and a server-side timeout of 5-10 minutes so a silently dead stream is replaced.
        { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: 300 + Math.floor(Math.random() * 300) },
        (phase, obj, raw) => {
          events++;
          if (phase === 'ERROR') this.hooks.errorEvent(obj ?? {});
          const shape = this.hooks.shape;
          callback(phase, shape && phase !== 'ERROR' && phase !== 'BOOKMARK' && obj ? shape(obj) : obj, raw);
        },
        (err) => {
          if (!err) {
            this.shortEnds = events === 0 && Date.now() - started < 1000 ? this.shortEnds + 1 : 0;
            if (this.shortEnds === 0) this.pause.reset();
            return done(null);
          }
          failed = true;
          const code = statusCodeOf(err);
          done(new KubeRequestError(`watch ${path}: ${code !== undefined ? httpText(code) : messageOf(err)}`, code));
        },
      );
    } catch (err) {
      // Thrown before any request (e.g. by the kubeconfig's auth): report it as a failed watch, outside ListWatch's await.
      setImmediate(() => done(new KubeRequestError(`watch ${path}: ${messageOf(err)}`)));
      return idle;
    }
    if (this.hooks.closed()) controller.abort();
    else if (!failed) this.hooks.connected();
    return controller;
  }
}

/** Default deadline of `ready()`, ms. */
export const DEFAULT_SYNC_TIMEOUT_MS = 30_000;
const DEFAULT_DEBOUNCE_MS = 200;
/** The default maxWaitMs in debounce periods. */
const MAX_WAIT_DEBOUNCES = 10;

/**
 * The watch, following the lifecycle contract (src/lifecycle.ts): `start(signal)`
 * starts every informer and returns; `ready(timeoutMs)` resolves at the first
 * full sync; `close()` (or the signal) stops everything.
 */
export class KubeIpamWatch implements Lifecycle {
  private readonly kc: KubeConfig;
  private readonly log: Logger;
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;
  /** The copy handed to onChange of each informer object (kind filled in), reused while the informer keeps the same object. */
  private copies = new WeakMap<object, KubeObject>();
  private started = false;
  private readonly synced$: Promise<void>;
  private readonly resources: Resource[];
  private readonly http = new IsomorphicFetchHttpLibrary();
  /** Aborts list requests in flight on close. */
  private readonly abort = new AbortController();
  private closed = false;
  private fullySynced = false;
  private settleStart?: (err?: Error) => void;
  private debounce?: NodeJS.Timeout;
  private firstPendingAt?: number;

  constructor(private readonly opts: KubeWatchOptions) {
    this.kc = opts.kubeConfig ?? defaultKubeConfig();
    this.log = opts.logger ?? silentLogger;
    for (const [name, value] of [['debounceMs', opts.debounceMs], ['maxWaitMs', opts.maxWaitMs]] as const) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) throw new Error(`kube watch: ${name} must be a number of milliseconds >= 0, got ${String(value)}`);
    }
    this.debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.maxWaitMs = opts.maxWaitMs ?? MAX_WAIT_DEBOUNCES * this.debounceMs;
    this.synced$ = new Promise<void>((resolve, reject) => {
      this.settleStart = (err) => {
        this.settleStart = undefined;
        if (err) reject(err);
        else resolve();
      };
    });
    // Nobody may be waiting (close before ready): the rejection is for ready() alone.
    this.synced$.catch(() => {});
    const ns = opts.configMapNamespace ?? 'kube-system';
    const cm = opts.configMapName ?? 'cilium-config';
    const specs: ResourceSpec[] = [
      { name: 'nodes', apiVersion: 'v1', kind: 'Node', path: '/api/v1/nodes' },
      { name: 'ciliumnodes', apiVersion: 'cilium.io/v2', kind: 'CiliumNode', path: '/apis/cilium.io/v2/ciliumnodes' },
      { name: 'ciliumpodippools', apiVersion: 'cilium.io/v2alpha1', kind: 'CiliumPodIPPool', path: '/apis/cilium.io/v2alpha1/ciliumpodippools', optional: true },
      { name: 'configmap', apiVersion: 'v1', kind: 'ConfigMap', path: `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`, fieldSelector: `metadata.name=${cm}` },
    ];
    if (opts.watchEndpoints) specs.push({ name: 'ciliumendpoints', apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint', path: '/apis/cilium.io/v2/ciliumendpoints' });
    if (opts.watchPods) specs.push({ name: 'pods', apiVersion: 'v1', kind: 'Pod', path: '/api/v1/pods', fieldSelector: podFieldSelector(opts.podNodeName), shape: podShape });
    this.resources = specs.map((spec) => this.makeResource(spec));
  }

  private makeResource(spec: ResourceSpec): Resource {
    const watch = new ResourceWatch(this.kc, {
      ...(spec.shape ? { shape: spec.shape } : {}),
      closed: () => this.closed,
      beforeWatch: () => this.onListApplied(r),
      connected: () => r.backoff.reset(),
      errorEvent: (s) => {
        if (s.code === 410) this.log.info('kube watch expired (410 Gone), relisting', { resource: spec.name, message: s.message });
        else {
          r.lastError = `watch ${spec.path}: ERROR event ${s.code ?? ''} ${s.message ?? ''}`.replace(/\s+/g, ' ').trim();
          this.log.warn('kube watch error event', { resource: spec.name, error: r.lastError });
        }
      },
    });
    const informer = new ListWatch<KubernetesObject>(spec.path, watch, () => this.list(r), false, undefined, spec.fieldSelector);
    const r: Resource = { spec, informer, synced: false, absent: false, listApplied: false, lists: 0, relists: 0, emitted: undefined, dirty: true, backoff: new Backoff() };
    const changed = () => {
      r.dirty = true;
      this.scheduleChange();
    };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    informer.on('error', (err) => this.onError(r, err));
    return r;
  }

  /**
   * The list function of the informer: raw JSON (no class instances),
   * apiVersion/kind filled in, shaped; read in pages of LIST_PAGE_SIZE that
   * the API server serves from one snapshot (the last page's
   * resourceVersion is the list's). An expired continue token (410) fails the
   * list like any 410: the informer lists again from the start.
   */
  private async list(r: Resource): Promise<KubernetesListObject<KubernetesObject>> {
    r.dirty = true;
    const { path, apiVersion, kind, shape } = r.spec;
    const items: KubernetesObject[] = [];
    let next: string | undefined;
    let page: KubernetesListObject<KubernetesObject>;
    do {
      page = await this.listPage(r, next);
      for (const o of page.items ?? []) {
        const typed = { ...o, apiVersion, kind };
        items.push(shape ? shape(typed) : typed);
      }
      next = page.metadata?._continue ?? (page.metadata as { continue?: string } | undefined)?.continue;
    } while (next && !this.closed);
    if (this.closed) throw new KubeRequestError(`list ${path}: the watch is closed`);
    page.items = items;
    r.listApplied = true;
    return page;
  }

  private async listPage(r: Resource, cont: string | undefined): Promise<KubernetesListObject<KubernetesObject>> {
    const { path, fieldSelector } = r.spec;
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new KubeRequestError('kubeconfig has no current cluster');
    const url = new URL(cluster.server + path);
    if (fieldSelector) url.searchParams.set('fieldSelector', fieldSelector);
    url.searchParams.set('limit', String(LIST_PAGE_SIZE));
    if (cont) url.searchParams.set('continue', cont);
    const ctx = new RequestContext(url.toString(), HttpMethod.GET);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setSignal(AbortSignal.any([this.abort.signal, AbortSignal.timeout(LIST_TIMEOUT_MS)]));
    let code: number;
    let text: string;
    try {
      await this.kc.applySecurityAuthentication(ctx);
      const rsp = await this.http.send(ctx).toPromise();
      code = rsp.httpStatusCode;
      text = await rsp.body.text();
    } catch (err) {
      throw new KubeRequestError(`list ${path}: ${messageOf(err)}`);
    }
    if (code !== 200) {
      let detail = '';
      try {
        detail = (JSON.parse(text) as { message?: string }).message ?? '';
      } catch {
        detail = text.slice(0, 200);
      }
      throw new KubeRequestError(`list ${path}: ${httpText(code)}${detail ? `: ${detail}` : ''}`, code);
    }
    try {
      return JSON.parse(text) as KubernetesListObject<KubernetesObject>;
    } catch (err) {
      throw new KubeRequestError(`list ${path}: invalid JSON: ${messageOf(err)}`);
    }
  }

  private onListApplied(r: Resource): void {
    if (!r.listApplied || this.closed) return;
    r.listApplied = false;
    // A list may rebuild the informer's maps (order) without an event: its copies are made again at the next onChange.
    r.dirty = true;
    r.backoff.reset();
    if (++r.lists > 1) {
      r.relists++;
      this.log.info('kube relisted', { resource: r.spec.name, objects: r.informer.list().length });
    }
    if (r.absent) {
      r.absent = false;
      this.log.info(`${r.spec.kind} resources are served now`, { resource: r.spec.name });
      this.scheduleChange();
    }
    this.markSynced(r);
  }

  private onError(r: Resource, err: unknown): void {
    if (this.closed) return;
    r.listApplied = false;
    const code = statusCodeOf(err);
    let delay: number;
    if (code === 404 && r.spec.optional) {
      if (!r.absent) {
        r.absent = true;
        this.log.info(`${r.spec.kind} CRD not installed (404), treating it as empty`, { resource: r.spec.name, path: r.spec.path });
        if (r.informer.list().length > 0) this.scheduleChange();
      }
      this.markSynced(r);
      delay = ABSENT_RETRY_MS;
    } else {
      r.lastError = messageOf(err);
      delay = r.backoff.next();
      this.log.warn('kube list/watch failed, retrying', { resource: r.spec.name, error: r.lastError, retryInMs: delay });
    }
    clearTimeout(r.retry);
    r.retry = setTimeout(() => {
      r.retry = undefined;
      if (!this.closed) r.informer.start().catch((e: unknown) => this.onError(r, e));
    }, delay);
  }

  private markSynced(r: Resource): void {
    r.synced = true;
    if (this.fullySynced || !this.resources.every((x) => x.synced)) return;
    this.fullySynced = true;
    this.log.info('kube watch synced', Object.fromEntries(this.resources.map((x) => [x.spec.name, this.count(x)])));
    this.emit();
    this.settleStart?.();
  }

  private scheduleChange(): void {
    if (this.closed || !this.fullySynced) return;
    const now = Date.now();
    this.firstPendingAt ??= now;
    clearTimeout(this.debounce);
    // A quiet period, but never more than maxWaitMs behind a steady stream of events.
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstPendingAt + this.maxWaitMs - now));
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.firstPendingAt = undefined;
      this.emit();
    }, wait);
  }

  private emit(): void {
    if (this.closed) return;
    let total = 0;
    for (const r of this.resources) {
      if (r.absent) continue;
      // A resource whose informer said nothing since the last onChange gives the same copies: no walk over its objects
      // (listing 100,000 CiliumEndpoints and looking up each one's copy cost ~30 ms per CiliumNode change).
      if (r.dirty || r.emitted === undefined) {
        r.dirty = false;
        const list: KubeObject[] = [];
        for (const o of r.informer.list()) {
          // The informer replaces an object that changes, so an unchanged one keeps its copy: a change costs one copy, not one per object.
          let copy = this.copies.get(o);
          if (!copy || copy.kind !== r.spec.kind) {
            copy = { ...(o as KubeObject), apiVersion: r.spec.apiVersion, kind: r.spec.kind };
            this.copies.set(o, copy);
          }
          list.push(copy);
        }
        r.emitted = list;
      }
      total += r.emitted.length;
    }
    const objects = new Array<KubeObject>(total);
    let at = 0;
    for (const r of this.resources) {
      if (r.absent || r.emitted === undefined) continue;
      for (const copy of r.emitted) objects[at++] = copy;
    }
    try {
      this.opts.onChange(objects);
    } catch (err) {
      this.log.error('kube watch onChange failed', { error: messageOf(err) });
    }
  }

  private count(r: Resource): number {
    return r.absent ? 0 : r.informer.list().length;
  }

  /**
   * Starts every informer and returns; the watch runs until `signal` aborts
   * or `close()`. Once every resource has listed once (the first full sync)
   * onChange is called with everything, then after each debounced change.
   * Does nothing after close or a second time.
   */
  start(signal: AbortSignal): void {
    if (this.started || this.closed) return;
    this.started = true;
    if (signal) closeOnAbort(signal, () => this.close());
    for (const r of this.resources) r.informer.start().catch((err: unknown) => this.onError(r, err));
  }

  /**
   * Resolves at the first full sync (at once if it has happened). Rejects,
   * with a message naming each resource not yet listed and its HTTP status or
   * error, if that takes more than `timeoutMs` (ms, default 30000) from this
   * call, and closes the watch then; rejects if the watch is closed first or
   * was never started.
   */
  ready(timeoutMs = DEFAULT_SYNC_TIMEOUT_MS): Promise<void> {
    if (this.fullySynced) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('kube watch is closed'));
    if (!this.started) return Promise.reject(new Error('kube watch not started: call start(signal) first'));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const pending = this.resources.filter((r) => !r.synced);
        const why = pending.map((r) => `${r.spec.name} (${r.spec.path}): ${r.lastError ?? 'no answer'}`).join('; ');
        reject(new Error(`kube watch: not synced after ${timeoutMs} ms: ${why}`));
        void this.close();
      }, timeoutMs);
    });
    return Promise.race([this.synced$, deadline]).finally(() => clearTimeout(timer));
  }

  /** True after the first full sync. */
  get synced(): boolean {
    return this.fullySynced;
  }

  /** Every resource's status; `pods` only when watched. */
  status(): Record<Exclude<ResourceName, 'pods'>, ResourceStatus> & { pods?: ResourceStatus } {
    const out = {
      nodes: { synced: false, objects: 0, relists: 0 },
      ciliumnodes: { synced: false, objects: 0, relists: 0 },
      ciliumpodippools: { synced: false, objects: 0, relists: 0 },
      configmap: { synced: false, objects: 0, relists: 0 },
      ciliumendpoints: { synced: false, objects: 0, relists: 0 },
    } as Record<Exclude<ResourceName, 'pods'>, ResourceStatus> & { pods?: ResourceStatus };
    for (const r of this.resources) {
      out[r.spec.name] = { synced: r.synced, objects: this.count(r), relists: r.relists, ...(r.lastError !== undefined ? { lastError: r.lastError } : {}) };
    }
    return out;
  }

  /** Stops every informer; safe before start and safe twice. */
  /** Whether an onChange is scheduled (a debounced burst of events waits for it); never after close(). */
  get changePending(): boolean {
    return this.debounce !== undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.debounce);
    this.debounce = undefined;
    for (const r of this.resources) clearTimeout(r.retry);
    this.settleStart?.(new Error('kube watch closed before the first sync'));
    this.abort.abort();
    await Promise.all(this.resources.map((r) => r.informer.stop()));
  }
}
