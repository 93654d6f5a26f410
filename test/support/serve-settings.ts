/**
 * A container's settings read by the real `serve` command (the built CLI):
 * its flags and environment variables as `serve --help` lists them, and the
 * options it parses from them.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Obj } from './deploy-layout.js';
import { cliPath, repoRoot } from './paths.js';


/** `serve --help`: its flags, which of them take no value, and the environment variable it names for each. */
export function serveHelp() {
  const r = spawnSync(process.execPath, [cliPath, 'serve', '--help'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  const flags = new Map<string, { boolean: boolean }>();
  for (const m of r.stdout.matchAll(/^ {2}(?:-\w, )?(--[a-z][\w-]*)( <[^>]+>)?/gm)) flags.set(m[1]!, { boolean: !m[2] });
  flags.delete('--help');
  const env = new Map<string, string>();
  for (const m of r.stdout.replace(/\s+/g, ' ').matchAll(/env: (HUBBLE_IPAM_[A-Z0-9_]+)/g)) env.set(m[1]!, `--${m[1]!.slice('HUBBLE_IPAM_'.length).toLowerCase().replace(/_/g, '-')}`);
  return { flags, env };
}

export interface Container {
  name: string;
  args?: string[];
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  [k: string]: unknown;
}

export const containerOf = (d: Obj): Container => {
  const cs = d.spec.template.spec.containers as Container[];
  expect(cs, 'one container').toHaveLength(1);
  return cs[0]!;
};

/**
 * The downward API's values for a pod, by `fieldRef.fieldPath`, as the kubelet
 * would fill them in: what a test gives for `valueFrom` variables.
 */
export type DownwardValues = Record<string, string>;

/** A container's environment; a `valueFrom.fieldRef` variable takes its value from `downward` (any other valueFrom, or a field not given, fails). */
export function containerEnv(c: Container, downward: DownwardValues = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.valueFrom !== undefined) {
      const ref = (e.valueFrom as { fieldRef?: { fieldPath?: string } }).fieldRef;
      const keys = Object.keys(e.valueFrom as object);
      const value = ref?.fieldPath !== undefined ? downward[ref.fieldPath] : undefined;
      if (keys.join() !== 'fieldRef' || value === undefined) throw new Error(`env ${e.name}: valueFrom ${JSON.stringify(e.valueFrom)}: only fieldRef with a value the test gives (${Object.keys(downward).join(', ') || 'none'}) is checked here`);
      env[e.name] = value;
      continue;
    }
    if (typeof e.value !== 'string') throw new Error(`env ${e.name}: only literal string values are checked here`);
    env[e.name] = e.value;
  }
  return env;
}

/** The options the real `serve` command parses from a container's args and environment (its action replaced by a print). */
export function parsedServeOptions(c: Container, downward: DownwardValues = {}): Obj {
  expect(c.command, 'the image ENTRYPOINT runs the CLI; the Deployment sets no command').toBeUndefined();
  const args = c.args ?? [];
  expect(args[0], 'the first argument is the command').toBe('serve');
  const script = `
    import { pathToFileURL } from 'node:url';
    const [file, args] = process.argv.slice(-2);
    const { serveCommand } = await import(pathToFileURL(file).href);
    const cmd = serveCommand().exitOverride();
    cmd.action((opts) => { process.stdout.write(JSON.stringify(opts)); });
    await cmd.parseAsync(JSON.parse(args), { from: 'user' });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, join(repoRoot, 'dist', 'commands', 'serve.js'), JSON.stringify(args.slice(1))], {
    encoding: 'utf8',
    timeout: 30_000,
    cwd: repoRoot,
    // Only the container's environment: none of the test runner's HUBBLE_IPAM_*.
    env: { PATH: process.env.PATH ?? '', ...containerEnv(c, downward) },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Obj;
}

export function checkSettingsUseKnownFlags(c: Container, help: ReturnType<typeof serveHelp>, downward: DownwardValues = {}): void {
  for (const a of c.args ?? []) {
    if (!a.startsWith('--')) continue;
    const flag = a.split('=')[0]!;
    expect(help.flags.has(flag), `${flag} is a serve flag`).toBe(true);
  }
  for (const [name, value] of Object.entries(containerEnv(c, downward))) {
    if (!name.startsWith('HUBBLE_IPAM_')) continue;
    const flag = help.env.get(name);
    expect(flag, `${name} is a variable serve --help lists`).toBeDefined();
    // commander turns a boolean flag on when its variable is set at all: "false" would mean true.
    if (help.flags.get(flag!)?.boolean) expect(value, `${name}: a boolean variable is set only to turn it on`).toBe('true');
  }
}

export const portNumber = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

/** A container port by number or name. */
export function containerPort(c: Container, port: number | string): Obj | undefined {
  return ((c.ports ?? []) as Obj[]).find((p) => p.containerPort === port || p.name === port);
}
