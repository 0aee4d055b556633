import type { Redis } from 'ioredis';
import type { LimitResult, Limiter } from './limiter.js';
import { slotMs } from './window.js';

/**
 * The sliding window of window.ts, in one Lua script so that reading, expiring and counting are
 * one atomic step for every instance sharing the Redis. A key is a hash of slot start → hits
 * (at most ~100 fields) plus the running total `t` and the oldest slot `o`, so a hit is O(1); the
 * slots are scanned only when the oldest one has expired (at most once per slot). Redis expires
 * the whole key once its newest slot has left the window.
 * Time is the caller's `now` (instances' clocks should agree to well under a slot).
 *
 * KEYS[1] key; ARGV max, windowMs, now, slotMs, add (1 = count a hit, 0 = peek).
 * Returns {allowed (1/0), hits in window after this call, ms until the oldest slot expires}.
 */
const slidingWindowLua = `
local key = KEYS[1]
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local slot = tonumber(ARGV[4])
local add = ARGV[5] == '1'
local meta = redis.call('HMGET', key, 't', 'o')
local total = tonumber(meta[1]) or 0
local oldest = tonumber(meta[2])
if oldest ~= nil and oldest + slot - 1 + window <= now then
  local fields = redis.call('HGETALL', key)
  local expired = {}
  total = 0
  oldest = nil
  for i = 1, #fields, 2 do
    local f = fields[i]
    if f ~= 't' and f ~= 'o' then
      local start = tonumber(f)
      if start + slot - 1 + window <= now then
        expired[#expired + 1] = f
      else
        total = total + tonumber(fields[i + 1])
        if oldest == nil or start < oldest then oldest = start end
      end
    end
  end
  if #expired > 0 then redis.call('HDEL', key, unpack(expired)) end
  redis.call('HSET', key, 't', total)
  if oldest == nil then redis.call('HDEL', key, 'o') else redis.call('HSET', key, 'o', string.format('%.0f', oldest)) end
end
if total >= max then
  return {0, total, oldest + slot - 1 + window - now}
end
if not add then
  if oldest == nil then return {1, 0, 0} end
  return {1, total, oldest + slot - 1 + window - now}
end
local start = now - (now % slot)
redis.call('HINCRBY', key, string.format('%.0f', start), 1)
redis.call('HSET', key, 't', total + 1)
if oldest == nil or start < oldest then
  oldest = start
  redis.call('HSET', key, 'o', string.format('%.0f', start))
end
redis.call('PEXPIRE', key, window + slot)
return {1, total + 1, oldest + slot - 1 + window - now}
`;

interface SlidingWindowCommands {
  slidingWindow(key: string, max: number, windowMs: number, now: number, slot: number, add: 0 | 1): Promise<[number, number, number]>;
}

/** Sliding-window limiter shared by every instance on one Redis. Errors propagate (see fallback.ts). */
export class RedisLimiter implements Limiter {
  private readonly redis: Redis & SlidingWindowCommands;

  /** `prefix` namespaces every key (e.g. `authnzd:rl:`). */
  constructor(redis: Redis, private readonly prefix: string) {
    redis.defineCommand('slidingWindow', { numberOfKeys: 1, lua: slidingWindowLua });
    this.redis = redis as Redis & SlidingWindowCommands;
  }

  hit(key: string, max: number, windowMs: number, now: number): Promise<LimitResult> {
    return this.run(key, max, windowMs, now, 1);
  }

  peek(key: string, max: number, windowMs: number, now: number): Promise<LimitResult> {
    return this.run(key, max, windowMs, now, 0);
  }

  async reset(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }

  private async run(key: string, max: number, windowMs: number, now: number, add: 0 | 1): Promise<LimitResult> {
    if (max < 1) return { allowed: false, limit: 0, remaining: 0, resetMs: windowMs };
    const [allowed, total, resetMs] = await this.redis.slidingWindow(
      this.prefix + key, max, windowMs, Math.floor(now), slotMs(max, windowMs), add,
    );
    return { allowed: allowed === 1, limit: max, remaining: allowed === 1 ? max - total : 0, resetMs };
  }
}
