/** What to do about an HTTP listen failure, by its errno code. */
const advice: Record<string, string> = {
  EADDRINUSE: 'address already in use (EADDRINUSE); pick another port',
  EACCES: 'permission denied (EACCES); ports below 1024 need privileges, pick a higher one',
  EADDRNOTAVAIL: 'no such address on this machine (EADDRNOTAVAIL); use 0.0.0.0 or one of its addresses',
  ENOTFOUND: 'the host name does not resolve (ENOTFOUND); use an IP address such as 0.0.0.0',
  EAI_AGAIN: 'the host name does not resolve (EAI_AGAIN); use an IP address such as 0.0.0.0',
};

/**
 * The error of a failed `listen`, as one line naming the flag and the
 * address; any other error comes back as it was.
 */
export function listenError(e: unknown, flag: string, address: string): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const syscall = (e as NodeJS.ErrnoException | undefined)?.syscall;
  if (!code || (syscall !== 'listen' && syscall !== 'bind' && syscall !== 'getaddrinfo')) return e;
  return new Error(`cannot listen on ${flag} ${address}: ${advice[code] ?? (e as Error).message}`, { cause: e });
}
