import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { RelayError } from './errors.js';

/** How to reach the relay over TLS. Off unless `enabled`. */
export interface TlsOptions {
  enabled: boolean;
  /** PEM CA bundle that signed the relay's certificate. Default: the system roots. */
  caFile?: string;
  /** PEM client certificate for mTLS (Relay's `hubble-relay-client-certs`). */
  certFile?: string;
  /** PEM private key of certFile. */
  keyFile?: string;
  /**
   * Name to verify in the relay's certificate. Hubble Relay's certificate is
   * issued for `*.hubble-relay.cilium.io`. Default: the host of the address.
   */
  serverName?: string;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new RelayError(`cannot read ${flag} ${JSON.stringify(file)}: ${code}`, false, undefined, { cause: e });
  }
}

/**
 * Reads and checks the TLS files and builds grpc-js credentials. Every problem
 * with a file is permanent: it names the flag and the file and throws before
 * any connection is tried.
 */
export function relayCredentials(tls: TlsOptions | undefined): { creds: ChannelCredentials; options: ChannelOptions } {
  if (!tls?.enabled) {
    if (tls?.caFile || tls?.certFile || tls?.keyFile || tls?.serverName) {
      throw new RelayError('TLS files or server name given but TLS is off: add --tls', false);
    }
    return { creds: credentials.createInsecure(), options: {} };
  }
  let ca: Buffer | null = null;
  if (tls.caFile) {
    ca = readPem(tls.caFile, '--tls-ca-file');
    try {
      new X509Certificate(ca);
    } catch (e) {
      throw new RelayError(`--tls-ca-file ${JSON.stringify(tls.caFile)} is not a PEM certificate: ${(e as Error).message}`, false, undefined, { cause: e });
    }
  }
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) {
    throw new RelayError('mTLS needs both --tls-client-cert-file and --tls-client-key-file', false);
  }
  let cert: Buffer | null = null;
  let key: Buffer | null = null;
  if (tls.certFile && tls.keyFile) {
    cert = readPem(tls.certFile, '--tls-client-cert-file');
    key = readPem(tls.keyFile, '--tls-client-key-file');
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
    } catch (e) {
      throw new RelayError(`--tls-client-cert-file ${JSON.stringify(tls.certFile)} is not a PEM certificate: ${(e as Error).message}`, false, undefined, { cause: e });
    }
    let pk;
    try {
      pk = createPrivateKey(key);
    } catch (e) {
      throw new RelayError(`--tls-client-key-file ${JSON.stringify(tls.keyFile)} is not a PEM private key: ${(e as Error).message}`, false, undefined, { cause: e });
    }
    if (!x509.checkPrivateKey(pk)) {
      throw new RelayError(`--tls-client-key-file ${JSON.stringify(tls.keyFile)} does not belong to --tls-client-cert-file ${JSON.stringify(tls.certFile)}`, false);
    }
  }
  let creds: ChannelCredentials;
  try {
    creds = credentials.createSsl(ca, key, cert);
  } catch (e) {
    throw new RelayError(`TLS setup failed: ${(e as Error).message}`, false, undefined, { cause: e });
  }
  const options: ChannelOptions = {};
  if (tls.serverName) {
    options['grpc.ssl_target_name_override'] = tls.serverName;
    options['grpc.default_authority'] = tls.serverName;
  }
  return { creds, options };
}
