/** Time source. Everything that reads the time takes a Clock, so tests move time instead of sleeping. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** ISO 8601 UTC with a trailing `Z`, the only time format on the wire. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
