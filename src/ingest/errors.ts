import { status, type ServiceError } from '@grpc/grpc-js';

/**
 * The one error type of the ingest layer. `retryable` decides what happens
 * next: the relay client reconnects after a retryable error and stops (state
 * `closed`) after a permanent one.
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

  /** Normalises anything thrown or emitted by grpc-js into a RelayError. */
  static from(e: unknown, address?: string): RelayError {
    if (e instanceof RelayError) return e;
    const where = address ? ` (relay ${address})` : '';
    if (isServiceError(e)) {
      const details = e.details || e.message;
      const tls = tlsProblem(details);
      if (tls) return new RelayError(`relay TLS handshake failed${where}: ${details}. ${tls}`, false, e.code, { cause: e });
      const name = status[e.code] ?? String(e.code);
      return new RelayError(`relay call failed${where}: ${name}: ${details}`, retryableCodes.has(e.code), e.code, { cause: e });
    }
    const msg = e instanceof Error ? e.message : String(e);
    return new RelayError(`relay error${where}: ${msg}`, true, undefined, { cause: e });
  }
}

/** Codes after which trying again may succeed. Everything else needs a person. */
const retryableCodes = new Set<status>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.ABORTED,
  status.INTERNAL,
  status.UNKNOWN,
  status.CANCELLED,
  status.OK, // a follow stream that ends "successfully" was ended by the server
]);

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number' && 'details' in e;
}

const tlsPatterns: Array<[RegExp, string]> = [
  [/self[- ]signed certificate|unable to (get local issuer|verify the first) certificate|certificate verify failed|unable to get issuer/i,
    'The relay certificate is not signed by the CA in --tls-ca-file.'],
  [/hostname\/IP does not match|does not match certificate|ERR_TLS_CERT_ALTNAME_INVALID/i,
    'The relay certificate does not name this server: set --tls-server-name (Hubble Relay uses *.hubble-relay.cilium.io).'],
  [/certificate has expired|CERT_HAS_EXPIRED|certificate is not yet valid/i, 'The relay certificate is outside its validity period.'],
  [/certificate required|bad certificate|unknown ca|alert handshake failure/i,
    'The relay rejected our client certificate: check --tls-client-cert-file and --tls-client-key-file.'],
  [/wrong version number|packet length too long|http\/1\.1 server|SSL routines/i,
    'TLS and plaintext are mixed up: check --tls against the relay.'],
];

function tlsProblem(details: string): string | undefined {
  for (const [re, hint] of tlsPatterns) if (re.test(details)) return hint;
  return undefined;
}
