/**
 * The Deployment, its Service and ServiceMonitor as they run: the settings
 * parsed by the real `serve` command, probes and scrape pointing at the port
 * and paths the exporter serves, the security context, and the real exporter
 * run with the Deployment's environment answering them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { baseDir, PORT, type Obj } from './support/deploy-layout.js';
import { one, render } from './support/kustomize.js';
import { example } from './support/paths.js';
import { killCliProcesses, startCliWithEnv } from './support/processes.js';
import { checkSettingsUseKnownFlags, containerEnv, containerOf, containerPort, parsedServeOptions, portNumber, serveHelp } from './support/serve-settings.js';
import { poll } from './support/wait.js';

afterEach(killCliProcesses);

describe('deploy/: the Deployment, its Service and ServiceMonitor', () => {
  it('runs the pinned image with settings serve accepts: the relay beside it, the Kubernetes IPAM watch, port 9967', () => {
    const d = one(render(baseDir), 'Deployment');
    expect(d.spec.replicas).toBe(1);
    const c = containerOf(d);
    expect(c.image).toBe('ghcr.io/hubble-ipam-exporter/hubble-ipam-exporter:0.1.0');
    checkSettingsUseKnownFlags(c, serveHelp());
    const opts = parsedServeOptions(c);
    expect({ relayAddress: opts.relayAddress, ipamSource: opts.ipamSource, listenAddress: opts.listenAddress, tls: opts.tls }).toEqual({
      relayAddress: 'hubble-relay.kube-system.svc:80',
      ipamSource: 'kubernetes',
      listenAddress: `0.0.0.0:${PORT}`,
      tls: false,
    });
    expect(containerPort(c, portNumber(opts.listenAddress as string))).toEqual({ name: 'http-metrics', containerPort: PORT, protocol: 'TCP' });
  });

  it('probes /healthz and /readyz on the port the Service exposes as http-metrics', () => {
    const objs = render(baseDir);
    const d = one(objs, 'Deployment');
    const c = containerOf(d);
    const probe = (name: string) => {
      const p = c[name] as Obj | undefined;
      expect(p?.httpGet, `${name} is an HTTP probe`).toBeDefined();
      expect(containerPort(c, p!.httpGet.port)?.containerPort, `${name} port`).toBe(PORT);
      return p!.httpGet.path as string;
    };
    expect(probe('livenessProbe')).toBe('/healthz');
    expect(probe('readinessProbe')).toBe('/readyz');
    if (c.startupProbe) expect(probe('startupProbe')).toBe('/healthz');

    const svc = one(objs, 'Service');
    expect(svc.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(svc.spec.ports).toHaveLength(1);
    const port = svc.spec.ports[0] as Obj;
    expect({ name: port.name, port: port.port }).toEqual({ name: 'http-metrics', port: PORT });
    expect(containerPort(c, port.targetPort ?? port.port)?.containerPort, 'targetPort reaches the container').toBe(PORT);
    // The Service selects the Deployment's pods, and only by labels its selector also holds.
    expect(d.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
    expect(d.spec.selector.matchLabels).toEqual(svc.spec.selector);
  });

  it('the ServiceMonitor scrapes that Service by its labels and port name every 30s', () => {
    const objs = render(baseDir);
    const svc = one(objs, 'Service');
    const sm = one(objs, 'ServiceMonitor');
    expect(sm.spec.selector.matchExpressions).toBeUndefined();
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(Object.keys(sm.spec.selector.matchLabels).length).toBeGreaterThan(0);
    const namespaces = sm.spec.namespaceSelector?.matchNames ?? [sm.metadata.namespace];
    expect(namespaces).toContain(svc.metadata.namespace);
    expect(sm.spec.endpoints).toHaveLength(1);
    const ep = sm.spec.endpoints[0] as Obj;
    expect({ port: ep.port, path: ep.path ?? '/metrics', interval: ep.interval }).toEqual({ port: 'http-metrics', path: '/metrics', interval: '30s' });
    expect((svc.spec.ports as Obj[]).map((p) => p.name)).toContain(ep.port);
  });

  it('runs as non-root with a read-only root filesystem, no privilege and requests and limits', () => {
    const d = one(render(baseDir), 'Deployment');
    const pod = d.spec.template.spec;
    const c = containerOf(d);
    const sc = { ...pod.securityContext, ...(c.securityContext as Obj) };
    expect({
      runAsNonRoot: sc.runAsNonRoot,
      runAsUser: sc.runAsUser,
      readOnlyRootFilesystem: sc.readOnlyRootFilesystem,
      allowPrivilegeEscalation: sc.allowPrivilegeEscalation,
      privileged: sc.privileged ?? false,
      capabilities: sc.capabilities,
      seccompProfile: sc.seccompProfile,
    }).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    for (const host of ['hostNetwork', 'hostPID', 'hostIPC']) expect(pod[host] ?? false, host).toBe(false);
    expect((pod.volumes as Obj[]).filter((v) => v.hostPath), 'no hostPath volumes').toEqual([]);
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    // V8's heap (old space plus a young generation of three semi-spaces) stays under the memory limit.
    const nodeOptions = String(containerEnv(c).NODE_OPTIONS ?? '');
    const flag = (name: string) => Number(nodeOptions.match(new RegExp(`--${name}=(\\d+)`))?.[1]);
    expect(flag('max-old-space-size') + 3 * flag('max-semi-space-size')).toBeLessThan(512);
  });

  it("the exporter, run with the Deployment's environment, serves the probe paths and the ServiceMonitor's path", async () => {
    const objs = render(baseDir);
    const c = containerOf(one(objs, 'Deployment'));
    const ep = one(objs, 'ServiceMonitor').spec.endpoints[0] as Obj;
    const relay = startCliWithEnv(['simulate-relay', '--listen', '127.0.0.1:0', '--rate', '200'], { PATH: process.env.PATH ?? '' });
    const relayAddress = (await relay.waitForOutput(/on (127\.0\.0\.1:\d+)/, 'the simulated relay to print its address'))[1]!;
    // The manifest's environment; flags (which win over it) point at this machine instead of a cluster.
    const exporter = startCliWithEnv(
      [...(c.args ?? []), '--relay-address', relayAddress, '--ipam-source', 'files', '--ipam-file', example('ipam-config.yaml'), '--listen-address', '127.0.0.1:0'],
      { PATH: process.env.PATH ?? '', ...containerEnv(c) },
    );
    const url = (await exporter.waitForOutput(/address=(http:\/\/127\.0\.0\.1:\d+)/, 'the exporter to listen'))[1]!;
    const get = async (path: string) => {
      const r = await fetch(url + path);
      return { status: r.status, body: await r.text() };
    };
    expect((await get((c.livenessProbe as Obj).httpGet.path)).status).toBe(200);
    // Ready once IPAM has loaded and the stream has started: asked until it says so (the last answer shows on timeout).
    const ready = await poll('the readiness probe to answer 200', 15_000, async () => {
      const r = await get((c.readinessProbe as Obj).httpGet.path);
      if (r.status !== 200) throw new Error(`${r.status} ${r.body}`);
      return r;
    }, 100);
    expect(ready.status, ready.body).toBe(200);
    const metrics = await get(ep.path ?? '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('hubble_ipam_relay_connected 1');
  });
});
