import { status, type ServiceError } from '@grpc/grpc-js';

/** What to check when an address answers, but not as a gRPC server. */
export const RELAY_PORT_HINT = '(is this the Hubble Relay port? default 4245 / Service port 80)';

/** Where Cilium's agent serves Hubble on every node (per-node mode reads it through a hostPath mount). */
export const AGENT_SOCKET_PATH = '/var/run/cilium/hubble.sock';

/** What to check when a unix socket answers, but not as a gRPC server. */
export const AGENT_SOCKET_HINT = `(is this Hubble's socket? Cilium's agent serves it at ${AGENT_SOCKET_PATH})`;

/** The address hint for `address`: the agent socket's for `unix:` addresses, else the Relay port's. */
export function addressHint(address: string): string {
  return socketPathOf(address) === undefined ? RELAY_PORT_HINT : AGENT_SOCKET_HINT;
}

/** The file path of a `unix:///path` or `unix:path` address; undefined for any other address. */
export function socketPathOf(address: string): string | undefined {
  if (address.startsWith('unix://')) return address.slice('unix://'.length);
  if (address.startsWith('unix:')) return address.slice('unix:'.length);
  return undefined;
}

/**
 * What an operator does about a unix socket that cannot be connected to
 * (per-node mode, the local agent's hubble.sock), by the errno grpc-js
 * reports. Cilium's agent removes a stale socket file and binds a new one at
 * start, then (running as root) sets it to mode 0660, owner root, group
 * `cilium` when the agent's container has that group, else root's group
 * (pkg/hubble/server/serveroption/option_linux.go, WithUnixSocketListener;
 * pkg/api/socket.go, SetDefaultPermissions; pkg/api/const.go,
 * CiliumGroupName and SocketFileMode).
 */
function socketProblem(raw: string, address: string, path: string): string | undefined {
  if (/\bENOENT\b/.test(raw)) {
    return (
      `agent socket ${path} does not exist (relay ${address}): Cilium's agent is not running on this node, Hubble is disabled in it ` +
      `(enable-hubble), or the host's /var/run/cilium is not mounted into this pod (a hostPath volume of /var/run/cilium, where the agent creates hubble.sock). ` +
      `Check that cilium-agent runs on this node and the pod's volumes; see docs/deploy.md "Per-node mode"`
    );
  }
  if (/\bEACCES\b|\bEPERM\b/.test(raw)) {
    return (
      `permission denied on agent socket ${path} (relay ${address}): Cilium's agent makes hubble.sock mode 0660, owner root, group "cilium" when its container ` +
      `has a group of that name, else root. If the socket's group is not root, add its GID (stat -c %g ${AGENT_SOCKET_PATH} on the node) to the pod's ` +
      `securityContext.supplementalGroups (deploy/overlays/per-node); if it is root, add group 0 instead (deploy/overlays/per-node-root: the pod stays non-root); see docs/deploy.md "Per-node mode"`
    );
  }
  if (/\bECONNREFUSED\b/.test(raw)) {
    return (
      `nothing listens on agent socket ${path} (relay ${address}): the file is left over from a Cilium agent that stopped; the agent replaces it when it starts. ` +
      `Check that cilium-agent runs on this node`
    );
  }
  if (NOT_HTTP2.test(raw) || CLOSED_BEFORE_ANSWER.test(raw)) return `${path} does not speak HTTP/2 gRPC (relay ${address}) ${AGENT_SOCKET_HINT}`;
  return undefined;
}

/**
 * The one error type of the ingest layer. `retryable` decides what happens
 * next: the relay client reconnects, with backoff, after a retryable error
 * and stops (state `closed`) after a permanent one. Every error a relay
 * (or what answers at its address) can cause is retryable: a Relay restart
 * or upgrade can send any status, and a certificate can be fixed or rotated
 * while we wait. Only configuration errors are permanent, and those are
 * thrown when the client is built, naming the flag.
 */
export class RelayError extends Error {
  override readonly name = 'RelayError';

  constructor(
    message: string,
    readonly retryable: boolean,
    /** The gRPC status code, when the error came from a call. */
    readonly code?: status,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /**
   * Normalises anything thrown or emitted by grpc-js into a RelayError, with
   * a hint instead of transport internals when what answered is not a gRPC
   * server or TLS is mixed up. `tls`: whether the client used TLS.
   */
  static from(e: unknown, address?: string, tls = false): RelayError {
    if (e instanceof RelayError) return e;
    const where = address ? ` (relay ${address})` : '';
    if (isServiceError(e)) {
      const raw = e.details || e.message;
      const details = cleanDetails(raw);
      const problem = tlsProblem(raw);
      if (problem) {
        const message = problem.plaintext ? `relay TLS handshake failed${where}: ${problem.hint}` : `relay TLS handshake failed${where}: ${details}. ${problem.hint}`;
        return new RelayError(message, true, e.code, { cause: e });
      }
      const socketPath = address === undefined ? undefined : socketPathOf(address);
      if (address && socketPath !== undefined && e.code === status.UNAVAILABLE) {
        const problem = socketProblem(raw, address, socketPath);
        if (problem) return new RelayError(problem, true, e.code, { cause: e });
      }
      if (address && e.code === status.UNAVAILABLE) {
        if (NOT_HTTP2.test(raw)) return new RelayError(`relay ${address} does not speak HTTP/2 gRPC ${RELAY_PORT_HINT}`, true, e.code, { cause: e });
        if (!tls && CLOSED_BEFORE_ANSWER.test(raw)) {
          return new RelayError(
            `relay ${address} closed the connection without an HTTP/2 gRPC answer: if it serves TLS, add --tls and --tls-ca-file; otherwise check the address ${RELAY_PORT_HINT}`,
            true,
            e.code,
            { cause: e },
          );
        }
      }
      const name = status[e.code] ?? String(e.code);
      return new RelayError(`relay call failed${where}: ${name}: ${details}`, true, e.code, { cause: e });
    }
    const msg = e instanceof Error ? e.message : String(e);
    return new RelayError(`relay error${where}: ${msg}`, true, undefined, { cause: e });
  }
}

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number' && 'details' in e;
}

// grpc-js's words when the bytes that came back are not HTTP/2 (an HTTP/1.1 server, SSH, …).
const NOT_HTTP2 = /Protocol error/;
// …and when the peer accepted and closed before any HTTP/2 (a TLS server meeting plaintext does this).
const CLOSED_BEFORE_ANSWER = /Last error: Failed to connect\b/;

/**
 * grpc-js wraps transport errors ("No connection established. Last error:
 * Error: … (timestamp). Resolution note: ") and OpenSSL adds its internals
 * ("80FC…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:
 * ../deps/…:350:"): keep only what a person can act on.
 */
export function cleanDetails(details: string): string {
  return details
    .replace(/^No connection established\. Last error: /, '')
    .replace(/\. Resolution note: .*$/s, '')
    .replace(/^Error: /, '')
    .replace(/[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):[^\n]*/g, '$1')
    .replace(/ \(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '')
    // Node 24's advice for the system store: our hint names the flag that matters here (--tls-ca-file).
    .replace(/; if the root CA is installed locally, try running Node\.js with --use-system-ca/g, '')
    .trim();
}

const tlsPatterns: Array<[RegExp, string, boolean]> = [
  [/self[- ]signed certificate|unable to (get local issuer|verify the first) certificate|certificate verify failed|unable to get issuer/i,
    'The relay certificate is not signed by the CA in --tls-ca-file.', false],
  [/hostname\/IP does not match|does not match certificate|ERR_TLS_CERT_ALTNAME_INVALID/i,
    'The relay certificate does not name this server: set --tls-server-name (Hubble Relay uses *.hubble-relay.cilium.io).', false],
  [/certificate has expired|CERT_HAS_EXPIRED|certificate is not yet valid/i, 'The relay certificate is outside its validity period.', false],
  [/certificate required|bad certificate|unknown ca|alert handshake failure/i,
    'The relay rejected our client certificate: check --tls-client-cert-file and --tls-client-key-file.', false],
  [/wrong version number|packet length too long|http\/1\.1 server/i,
    "the relay answered in plaintext, not TLS: drop --tls, or point --relay-address at the relay's TLS port", true],
];

function tlsProblem(details: string): { hint: string; plaintext: boolean } | undefined {
  for (const [re, hint, plaintext] of tlsPatterns) if (re.test(details)) return { hint, plaintext };
  return undefined;
}
