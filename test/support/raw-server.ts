import { createServer, type Server, type Socket } from 'node:net';

/**
 * A plain socket server (no gRPC, no HTTP/2) for fault tests: it accepts and
 * hands each connection to `onSocket`. `where` is a TCP port on 127.0.0.1 (0
 * picks one) or a unix socket path. `close()` drops every connection, then the
 * server; the caller registers it with its cleanups.
 */
export async function rawServer(where: number | string, onSocket: (s: Socket) => void): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => (typeof where === 'number' ? server.listen(where, '127.0.0.1', r) : server.listen(where, r)));
  const address = server.address();
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0, close };
}
