/** Time source. Everything that reads the time takes a Clock, so tests move time instead of sleeping. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

const MAX_FAST_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/**
 * ISO 8601 UTC with a trailing `Z`, the only time format on the wire: exactly what
 * `Date.prototype.toISOString` gives, by integer arithmetic (days to civil date, H. Hinnant's
 * algorithm). Every session_exists and verify answer formats two or three of these, and
 * toISOString cost 2 µs each under load (issue 7). Outside years 1970–9999 it is toISOString.
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_FAST_MS) return new Date(ms).toISOString();
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hh = Math.floor(rest / 3_600_000);
  rest -= hh * 3_600_000;
  const mm = Math.floor(rest / 60_000);
  rest -= mm * 60_000;
  const ss = Math.floor(rest / 1000);
  const msPart = rest - ss * 1000;
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hh)}:${pad2(mm)}:${pad2(ss)}.${msPart < 100 ? (msPart < 10 ? '00' : '0') : ''}${msPart}Z`;
}
