import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { cliPath, repoRoot } from './paths.js';
import { tempDir } from './temp.js';
import { waitFor } from './wait.js';

/** How long a CLI run that should end by itself may take before it is killed (status null then fails the test), ms. */
export const CLI_RUN_TIMEOUT_MS = 10_000;

/**
 * The environment of a machine without any Kubernetes configuration: this
 * process's, minus KUBECONFIG and KUBERNETES_SERVICE_HOST, with an empty home.
 */
export function noKubeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { KUBECONFIG: _kc, KUBERNETES_SERVICE_HOST: _ksh, ...env } = process.env;
  return { ...env, HOME: noKubeHome(), ...extra };
}

let home: string | undefined;
function noKubeHome(): string {
  home ??= tempDir('home');
  return home;
}

/** Runs the built CLI to its end, without Kubernetes configuration (see `noKubeEnv`). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: CLI_RUN_TIMEOUT_MS, env: noKubeEnv(env) });
}

/** A CLI process running in the background, its output collected as it comes. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  readonly stdout: () => string;
  /** Everything written to stderr so far. */
  readonly stderr: () => string;
  /** Exit code, or the signal's name, once exited; undefined before. */
  readonly exit: () => number | string | undefined;
  /** Waits for a match of `pattern` in stdout+stderr and returns it. */
  waitForOutput(pattern: RegExp, what: string, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited(timeoutMs?: number): Promise<number | string>;
}

const running = new Set<ChildProcess>();

/**
 * Starts the built CLI in the background, without Kubernetes configuration.
 * Every process started here is killed by `killCliProcesses()` (call it in
 * `afterEach`).
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  return launch(args, noKubeEnv(env));
}

/** As `startCli`, with exactly `env` as the environment (a container's, say) and the repository as working directory. */
export function startCliWithEnv(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  return launch(args, env);
}

function launch(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  let out = '';
  let err = '';
  let code: number | string | undefined;
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  child.on('exit', (c, signal) => {
    code = c ?? signal ?? 'unknown';
    running.delete(child);
  });
  const all = () => out + err;
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit: () => code,
    async waitForOutput(pattern, what, timeoutMs = 15_000) {
      await waitFor(() => pattern.test(all()) || code !== undefined, what, timeoutMs, () => all().split('\n').slice(-5));
      const m = all().match(pattern);
      if (!m) throw new Error(`the process exited (${code}) before ${what}: ${all().split('\n').slice(-5).join(' | ')}`);
      return m;
    },
    async exited(timeoutMs = 30_000) {
      await waitFor(() => code !== undefined, 'the process to exit', timeoutMs, () => err.split('\n').slice(-3));
      return code!;
    },
  };
}

/** Kills (SIGKILL) every CLI process still running. */
export function killCliProcesses(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}
