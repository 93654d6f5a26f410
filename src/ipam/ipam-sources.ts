import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { closeOnAbort, type Lifecycle } from '../lifecycle.js';
import { silentLogger, type Logger } from '../log.js';
import { flattenItems, IpamTranslator, type ObjectGroup, type SourceItem } from './from-objects.js';
import { parseIpamText, readSettledFile, stampOf, unreadableProblem, type LoadedFiles } from './ipam-files.js';
import { IpamStore } from './ipam-store.js';
import type { KubeObject } from './kube-object.js';
import type { KubeIpamWatch } from './kube-watch.js';
import type { IpamProblem, IpamState } from './model.js';

export interface IpamSourcesOptions {
  /** `--ipam-file` paths: Kubernetes objects and/or IpamConfig documents. Re-read on change. */
  files?: string[];
  /** `--service-cidr` values. */
  serviceCidrs?: string[];
  /** Objects held in memory (the demo's simulated cluster); replaced with `setObjects`. */
  objects?: KubeObject[];
  /** A live watch (`--ipam-source kubernetes`); its objects join the files'. */
  kube?: (onChange: (objects: KubeObject[]) => void) => KubeIpamWatch;
  /** How often files are checked for change (stat), ms. Default 1000. */
  filePollMs?: number;
  /**
   * How long a changed file must stay unchanged before it is read, ms. Default 2000.
   * Unchanged: the same device, inode, size, modification and change time at
   * every poll over that span, counted from the first poll that saw them (at
   * start, from the file's modification time when that is earlier). The bytes
   * read are used only if the file's stamp after the read equals the settled
   * one; otherwise the file must settle again. So a refresh that truncates the
   * file and writes it later (`kubectl get … > f`) is never read half-written
   * unless it pauses longer than this mid-write; one that writes a temporary
   * file and renames it over the old one never is. A missing file is reported
   * at once. 0 reads a changed file at the first poll that sees it.
   */
  fileSettleMs?: number;
  store?: IpamStore;
  logger?: Logger;
}

const DEFAULT_FILE_POLL_MS = 1000;
const DEFAULT_FILE_SETTLE_MS = 2000;

/** What is known of one `--ipam-file`. */
interface WatchedFile {
  /** The stamp last seen ('' when the file cannot be stat()ed) … */
  stamp: string;
  /** … since when, ms since the epoch. */
  since: number;
  /** The stamp last read, accepted or rejected: a file is read once per version. */
  tried: string | undefined;
}

/**
 * Feeds the IPAM store from every configured source, following the lifecycle
 * contract (src/lifecycle.ts): `start(signal)` returns at once and loads in
 * the background, `ready(timeoutMs)` resolves once the first state is in
 * (or the sources have given up waiting for it), `close()` or the signal
 * stops the file poll and the watch. Whenever a file or the
 * live watch changes, everything is translated again from the latest input
 * of each source and offered to the store as one state; a broken input is
 * rejected and the last good state stays in force. Files are polled and read
 * only once settled (see `fileSettleMs`); a file that is empty, holds no
 * object or does not parse is rejected whole, and the files last read whole
 * stay in use.
 */
export class IpamSources implements Lifecycle {
  readonly store: IpamStore;
  /** Remembers what it derived from each object: a change translates only the objects that changed. */
  readonly translator = new IpamTranslator();
  /** The first load (files settled, watch started), once start() ran. */
  private loading: Promise<void> | undefined;
  /** Aborted by close(): stops the watch. */
  private readonly abort = new AbortController();
  /** A rebuild the live watch asked for runs on a later turn, coalescing the requests made meanwhile. */
  private pendingSource: string | undefined;
  private rebuilding: Promise<void> | undefined;
  /** Rebuilds done, all sources (for tests and benchmarks). */
  rebuilds = 0;
  private readonly log: Logger;
  private files: LoadedFiles = { items: [], configs: [], problems: [] };
  private kubeObjects: KubeObject[] = [];
  private memoryObjects: KubeObject[];
  /** inputObjects()'s last answer (and podObjects()'), and the inputs it was made from. */
  private input: { inputs: unknown[]; items: SourceItem[]; pods: SourceItem[] | undefined } | undefined;
  private watch: KubeIpamWatch | undefined;
  private poll: NodeJS.Timeout | undefined;
  private readonly watched = new Map<string, WatchedFile>();
  /** Whether the files have ever been read whole (true without files). */
  private filesGood: boolean;
  private readonly pollMs: number;
  private readonly settleMs: number;
  private closed = false;

  constructor(private readonly opts: IpamSourcesOptions) {
    for (const [name, value] of [['filePollMs', opts.filePollMs], ['fileSettleMs', opts.fileSettleMs]] as const) {
      if (value !== undefined && !(Number.isFinite(value) && value >= (name === 'filePollMs' ? 1 : 0))) {
        throw new Error(`IPAM sources: ${name} must be a number of milliseconds ${name === 'filePollMs' ? '>= 1' : '>= 0'}, got ${String(value)}`);
      }
    }
    this.pollMs = opts.filePollMs ?? DEFAULT_FILE_POLL_MS;
    this.settleMs = opts.fileSettleMs ?? DEFAULT_FILE_SETTLE_MS;
    this.filesGood = (opts.files ?? []).length === 0;
    this.log = opts.logger ?? silentLogger;
    this.store = opts.store ?? new IpamStore({ logger: this.log });
    this.memoryObjects = opts.objects ?? [];
  }

  /** Replaces the in-memory objects and rebuilds the state from every source. */
  setObjects(objects: KubeObject[], source = 'memory'): void {
    this.memoryObjects = objects;
    this.rebuild(source);
  }

  /**
   * Starts loading every source and returns: waits in the background for the
   * files to settle (at most about twice `fileSettleMs`), starts the watch,
   * then follows changes until `signal` aborts or `close()`. Once only.
   */
  start(signal: AbortSignal): void {
    if (this.loading || this.closed) return;
    if (signal) closeOnAbort(signal, () => this.close());
    this.loading = this.load0();
    this.loading.catch(() => {});
  }

  /**
   * Resolves once the first state is loaded: the files read (or left to the
   * poll if they keep changing) and the watch's first full sync translated.
   * Rejects if the watch does not sync within `timeoutMs` (ms, default 30000,
   * counted from this call; the watch is closed then) or was never started.
   */
  async ready(timeoutMs?: number): Promise<void> {
    if (!this.loading) throw new Error('IPAM sources not started: call start(signal) first');
    await this.loading;
    if (this.watch) await this.watch.ready(timeoutMs);
    await this.rebuilding;
  }

  private async load0(): Promise<void> {
    await this.settleFirst();
    if (this.closed) return;
    if (this.opts.kube) {
      this.watch = this.opts.kube((objects) => {
        this.kubeObjects = objects;
        this.rebuildSoon('kubernetes');
      });
      this.watch.start(this.abort.signal);
    } else {
      this.rebuild(this.describeFiles());
    }
    this.watchFiles();
  }

  /**
   * A rebuild on a later turn of the event loop, translation and snapshot
   * build on turns of their own, so that flows read meanwhile; requests made
   * while one waits or runs are served by one more rebuild.
   */
  private rebuildSoon(source: string): void {
    this.pendingSource = source;
    if (this.rebuilding) return;
    this.rebuilding = this.rebuildLoop().finally(() => {
      this.rebuilding = undefined;
      // A request made after the loop's last look (from a listener of the publish it made) is not lost.
      if (this.pendingSource !== undefined && !this.closed) this.rebuildSoon(this.pendingSource);
    });
  }

  private async rebuildLoop(): Promise<void> {
    while (this.pendingSource !== undefined && !this.closed) {
      await nextTurn();
      const src = this.pendingSource;
      this.pendingSource = undefined;
      const before = this.rebuilds;
      const built = this.translate();
      if (!built) continue;
      await nextTurn();
      // A file reload rebuilt meanwhile, from newer input (it read the latest objects too): this one is stale.
      if (this.closed || this.rebuilds !== before) continue;
      this.store.update(built.state, src, built.problems);
      this.rebuilds++;
    }
  }

  /** Why the state is not ready yet; empty when it is. */
  waitingFor(): string[] {
    const out: string[] = [];
    if (this.opts.kube && !this.watch?.synced) out.push('the first full sync of the Kubernetes watch');
    if (!this.store.snapshot) {
      for (const [file, w] of this.watched) {
        if (w.stamp !== w.tried) out.push(`the IPAM file ${file} to settle (unchanged for ${this.settleMs} ms)`);
      }
      const e = this.store.lastError;
      out.push(e ? `a valid IPAM state (last error: ${e.problems.length} problem(s), first: ${e.problems[0] ? `${e.problems[0].where}: ${e.problems[0].field}` : e.source})` : 'a first IPAM state');
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poll);
    this.abort.abort();
    await this.watch?.close();
    await this.rebuilding;
  }

  private describeFiles(): string {
    return (this.opts.files ?? []).join(', ') || 'flags';
  }

  /**
   * At start: reads the files once they have settled, waiting at most about
   * twice the settle time; a file that keeps changing is left to the poll.
   */
  private async settleFirst(): Promise<void> {
    const deadline = Date.now() + 2 * this.settleMs + this.pollMs;
    for (;;) {
      if (this.closed) return;
      const wait = this.check(false);
      if (wait === 0 || this.closed || Date.now() + wait > deadline) return;
      // close() aborts the wait: no timer or file read outlives it.
      await sleep(Math.min(wait, this.pollMs), undefined, { signal: this.abort.signal }).catch(() => {});
    }
  }

  /**
   * One poll: notes every file's stamp; once every changed file has settled,
   * reads them all. Returns how long until a changed file may have settled,
   * ms, or 0 when no change is waiting.
   */
  private check(rebuild: boolean): number {
    const now = Date.now();
    let pending = false;
    let wait = 0;
    for (const file of this.opts.files ?? []) {
      const st = stampOf(file);
      const stamp = st?.key ?? '';
      let w = this.watched.get(file);
      if (!w || w.stamp !== stamp) {
        if (w) this.log.debug('IPAM file changed; reading it once it has settled', { file, settleMs: this.settleMs });
        // Only at the first sight (start) is the file's own mtime trusted for how long it has been quiet.
        w = { stamp, since: !w && st ? Math.min(now, st.mtimeMs) : now, tried: w?.tried };
        this.watched.set(file, w);
      }
      if (w.stamp === w.tried) continue;
      pending = true;
      if (stamp !== '') wait = Math.max(wait, w.since + this.settleMs - now);
    }
    if (!pending) return 0;
    if (wait > 0) return wait;
    return this.load(rebuild) ? 0 : this.settleMs;
  }

  /**
   * Reads every file whole. Returns false when one changed after it settled
   * (nothing used, nothing counted: it is read again once settled). A file
   * that cannot be used rejects the whole read, counted, and the files last
   * read whole stay in use.
   */
  private load(rebuild: boolean): boolean {
    const files = this.opts.files ?? [];
    const out: LoadedFiles = { items: [], configs: [], problems: [] };
    for (const file of files) {
      const w = this.watched.get(file)!;
      const r = readSettledFile(file);
      if (r.kind === 'changed' || (r.kind === 'read' && r.stamp !== w.stamp)) {
        w.stamp = stampOf(file)?.key ?? '';
        w.since = Date.now();
        this.log.debug('IPAM file changed while being read; reading it once it settles', { file });
        return false;
      }
      if (r.kind === 'unreadable') out.problems.push(unreadableProblem(file, r.code));
      else parseIpamText(file, r.text, out);
    }
    for (const file of files) {
      const w = this.watched.get(file)!;
      w.tried = w.stamp;
    }
    const source = this.describeFiles();
    if (out.problems.length > 0) {
      this.store.reject(source, out.problems);
      return true;
    }
    this.files = out;
    this.filesGood = true;
    if (rebuild) {
      this.log.info('IPAM file changed and settled; reloading', { files: source });
      this.rebuild(source);
    }
    return true;
  }

  private rebuild(source: string): void {
    const built = this.translate();
    if (!built) return;
    this.store.update(built.state, source, built.problems);
    this.rebuilds++;
  }

  /** Every source's latest input as one state, or undefined while there is none to build. */
  private translate(): { state: IpamState; problems: IpamProblem[] } | undefined {
    // No state without the files: until they are first read whole, another source's change waits for them.
    if (this.closed || !this.filesGood) return undefined;
    // Grouped by source: no wrapper per object per change.
    const groups: ObjectGroup[] = [
      { where: 'memory', objects: this.memoryObjects },
      { where: 'kubernetes', objects: this.kubeObjects },
    ];
    const { state, problems } = this.translator.translate({ objects: this.files.items, groups, configs: this.files.configs, serviceCidrs: this.opts.serviceCidrs ?? [], now: this.store.time() });
    return { state, problems: [...this.files.problems, ...problems] };
  }

  /**
   * Every object of every source's latest input (files' `List`s flattened),
   * whether or not the state built from it was accepted: what `check` reads
   * besides the state (cilium-config, Nodes, CiliumNodes' used lists). Made
   * again only when an input changed.
   */
  inputObjects(): readonly SourceItem[] {
    const inputs = [this.files.items, this.memoryObjects, this.kubeObjects];
    if (this.input && inputs.every((x, i) => x === this.input!.inputs[i])) return this.input.items;
    const items: SourceItem[] = flattenItems(this.files.items);
    for (const obj of this.memoryObjects) {
      if (Array.isArray(obj.items)) items.push(...flattenItems([{ obj, where: 'memory' }]));
      else items.push({ obj, where: 'memory' });
    }
    for (const obj of this.kubeObjects) items.push({ obj, where: 'kubernetes' });
    this.input = { inputs, items, pods: undefined };
    return items;
  }

  /** The Pods and CiliumEndpoints of inputObjects(), for the pod inventory (the IPAM translation leaves them aside); the same array until an input changes. */
  podObjects(): readonly SourceItem[] {
    const all = this.inputObjects();
    this.input!.pods ??= all.filter((it) => it.obj.kind === 'Pod' || it.obj.kind === 'CiliumEndpoint');
    return this.input!.pods;
  }

  private watchFiles(): void {
    const files = this.opts.files ?? [];
    if (files.length === 0 || this.closed) return;
    // Polling stat() against what was read: follows ConfigMap volumes (whose
    // files change by symlink swap) and never misses a change made while reading.
    this.poll = setInterval(() => {
      if (!this.closed) this.check(true);
    }, this.pollMs);
    this.poll.unref();
  }
}
