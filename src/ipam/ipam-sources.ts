import { statSync } from 'node:fs';
import { silentLogger, type Logger } from '../log.js';
import { stateFromObjects, type SourceItem } from './from-objects.js';
import { loadIpamFiles, type LoadedFiles } from './ipam-files.js';
import { IpamStore } from './ipam-store.js';
import type { KubeObject } from './kube-object.js';
import type { KubeIpamWatch } from './kube-watch.js';

export interface IpamSourcesOptions {
  /** `--ipam-file` paths: Kubernetes objects and/or IpamConfig documents. Re-read on change. */
  files?: string[];
  /** `--service-cidr` values. */
  serviceCidrs?: string[];
  /** Objects held in memory (the demo's simulated cluster); replaced with `setObjects`. */
  objects?: KubeObject[];
  /** A live watch (`--ipam-source kubernetes`); its objects join the files'. */
  kube?: (onChange: (objects: KubeObject[]) => void) => KubeIpamWatch;
  /** How often files are checked for change, ms. Default 1000. */
  filePollMs?: number;
  store?: IpamStore;
  logger?: Logger;
}

/**
 * Feeds the IPAM store from every configured source. Whenever a file or the
 * live watch changes, everything is translated again from the latest input
 * of each source and offered to the store as one state; a broken input is
 * rejected and the last good state stays in force.
 */
export class IpamSources {
  readonly store: IpamStore;
  private readonly log: Logger;
  private files: LoadedFiles = { items: [], configs: [], problems: [] };
  private kubeObjects: KubeObject[] = [];
  private memoryObjects: KubeObject[];
  private watch: KubeIpamWatch | undefined;
  private poll: NodeJS.Timeout | undefined;
  /** mtime, size and inode of each file as last loaded: '' when unreadable. */
  private loadedStats = new Map<string, string>();
  private closed = false;

  constructor(private readonly opts: IpamSourcesOptions) {
    this.log = opts.logger ?? silentLogger;
    this.store = opts.store ?? new IpamStore({ logger: this.log });
    this.memoryObjects = opts.objects ?? [];
  }

  /** Replaces the in-memory objects and rebuilds the state from every source. */
  setObjects(objects: KubeObject[], source = 'memory'): void {
    this.memoryObjects = objects;
    this.rebuild(source);
  }

  /** Loads every source once (waiting for the watch's first full sync), then follows changes. */
  async start(kubeTimeoutMs?: number): Promise<void> {
    this.reloadFiles(false);
    if (this.opts.kube) {
      this.watch = this.opts.kube((objects) => {
        this.kubeObjects = objects;
        this.rebuild('kubernetes');
      });
      await this.watch.start(kubeTimeoutMs);
    } else {
      this.rebuild(this.describeFiles());
    }
    this.watchFiles();
  }

  /** Why the state is not ready yet; empty when it is. */
  waitingFor(): string[] {
    const out: string[] = [];
    if (this.opts.kube && !this.watch?.synced) out.push('the first full sync of the Kubernetes watch');
    if (!this.store.snapshot) {
      const e = this.store.lastError;
      out.push(e ? `a valid IPAM state (last error: ${e.problems.length} problem(s), first: ${e.problems[0] ? `${e.problems[0].where}: ${e.problems[0].field}` : e.source})` : 'a first IPAM state');
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poll);
    await this.watch?.close();
  }

  private describeFiles(): string {
    return (this.opts.files ?? []).join(', ') || 'flags';
  }

  private statOf(file: string): string {
    try {
      const st = statSync(file);
      return `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return '';
    }
  }

  private reloadFiles(rebuild = true): void {
    for (const f of this.opts.files ?? []) this.loadedStats.set(f, this.statOf(f));
    this.files = loadIpamFiles(this.opts.files ?? []);
    if (rebuild) this.rebuild(this.describeFiles());
  }

  private rebuild(source: string): void {
    if (this.closed) return;
    const objects: SourceItem[] = [
      ...this.files.items,
      ...this.memoryObjects.map((obj) => ({ obj, where: 'memory' })),
      ...this.kubeObjects.map((obj) => ({ obj, where: 'kubernetes' })),
    ];
    const { state, problems } = stateFromObjects({ objects, configs: this.files.configs, serviceCidrs: this.opts.serviceCidrs ?? [] });
    this.store.update(state, source, [...this.files.problems, ...problems]);
  }

  private watchFiles(): void {
    const files = this.opts.files ?? [];
    if (files.length === 0) return;
    // Polling stat() against what was loaded: follows ConfigMap volumes (whose
    // files change by symlink swap) and never misses a change made while loading.
    this.poll = setInterval(() => {
      const changed = files.filter((f) => this.statOf(f) !== this.loadedStats.get(f));
      if (changed.length === 0) return;
      this.log.info('IPAM file changed; reloading', { files: changed.join(',') });
      this.reloadFiles();
    }, this.opts.filePollMs ?? 1000);
    this.poll.unref();
  }
}
