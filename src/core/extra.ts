/**
 * The bound on `extra`, the free-form JSON object of sessions and users: at most EXTRA_MAX_DEPTH
 * levels of objects and arrays, counting `extra` itself as level 1. Before the bound, a ~10 KB
 * body of nested arrays (5,000 levels) overflowed the stack in JSON.stringify on its way to the
 * database and answered 500; deeper values are now refused with 400 before anything is written
 * (docs/actions.md).
 */
export const EXTRA_MAX_DEPTH = 32;

/** The `details` message of a refused `extra`. */
export function depthMessage(limit: number): string {
  return `must not nest objects or arrays more than ${limit} levels deep`;
}

/**
 * True when `value` nests objects or arrays more than `limit` levels deep (a scalar is level 0,
 * an object or array one more than its deepest member). The recursion stops one level past the
 * limit, so the check itself cannot overflow the stack however deep the input is.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (limit <= 0) return true;
  for (const member of Object.values(value)) {
    if (nestsDeeperThan(member, limit - 1)) return true;
  }
  return false;
}
