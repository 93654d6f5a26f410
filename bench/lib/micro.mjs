/** What every micro-measurement process shares: options, timing and reporting. */
import { parseArgs } from './args.mjs';

export const microArgs = () => parseArgs();

/** Reporting and error handling are the client processes' own. */
export { failOnError, finish as report } from './client.mjs';
