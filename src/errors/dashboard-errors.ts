/** The errors of the web dashboard (src/http/dashboard/). Built here, once; see ../errors.ts. */
import { ErrorCode, MultitaskError } from './core.js';

/**
 * `ERR_DASHBOARD_INSECURE`: asked to listen on `address`, which is not loopback, with no
 * credentials; `how` names the settings that would give some (flags for the command, options
 * for the library).
 */
export function dashboardInsecure(address: string, how: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.DASHBOARD_INSECURE,
    `Refusing to serve the dashboard on ${address} without credentials: anyone who can reach it could retry and purge jobs. Give ${how}, or listen on loopback (127.0.0.1)`,
  );
}
