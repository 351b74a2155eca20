/**
 * Signals, the way an orchestrator sends them: the first SIGTERM or SIGINT asks for a graceful
 * stop, a second one for an immediate stop, and SIGHUP for a reload. Handlers run once per
 * signal; an exception in one is logged rather than left to kill the process mid-drain.
 */

import type { Logger } from 'pino';

/** What the service does on each kind of signal. */
export interface SignalHandlers {
  /** First SIGTERM/SIGINT: drain within the grace. */
  graceful(signal: NodeJS.Signals): void;
  /** Second SIGTERM/SIGINT: give everything back now. */
  immediate(signal: NodeJS.Signals): void;
  /** SIGHUP. */
  reload?(): void;
}

/** Installs the handlers; returns a function that removes them. */
export function handleSignals(handlers: SignalHandlers, log: Logger): () => void {
  let stops = 0;
  const onStop = (signal: NodeJS.Signals) => {
    stops++;
    try {
      if (stops === 1) handlers.graceful(signal);
      else handlers.immediate(signal);
    } catch (error) {
      log.error({ err: error }, `handling ${signal} failed`);
    }
  };
  const onHup = () => {
    try {
      handlers.reload?.();
    } catch (error) {
      log.error({ err: error }, 'handling SIGHUP failed');
    }
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  return () => {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  };
}
