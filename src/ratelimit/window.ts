/**
 * The sliding-window rule shared by the memory and Redis limiters.
 *
 * A window is a log of hits grouped into slots of `slotMs`. Small limits (max ≤ 100, every strict
 * limit) use 1 ms slots: an exact log. Large limits (the generous client limits) use 1/100 of the
 * window per slot, so a key never holds more than ~100 entries. A slot counts until its *last*
 * millisecond has left the window, so no run of `windowMs` ever admits more than `max` hits (a
 * burst at a window edge cannot double the limit); the price is that a coarse slot frees up to
 * `slotMs` late (0.6 s on a 60 s window).
 */
export const EXACT_UP_TO = 100;
export const SLOTS_PER_WINDOW = 100;

export function slotMs(max: number, windowMs: number): number {
  return max <= EXACT_UP_TO ? 1 : Math.max(1, Math.floor(windowMs / SLOTS_PER_WINDOW));
}

/** First millisecond at which a slot starting at `start` no longer counts. */
export function slotExpiry(start: number, slot: number, windowMs: number): number {
  return start + slot - 1 + windowMs;
}
