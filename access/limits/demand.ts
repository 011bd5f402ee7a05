import { slotOf } from "./slots.js";

/** This second's pace is measured over at least this long, so one early request does not read as a flood. */
const MIN_ELAPSED_MS = 50;

/**
 * What this gateway asks of one limit, per second: it sizes the leases, so a
 * busy gateway claims about once a second and an idle one claims what it
 * uses. Two counters, no timers: cheap enough for every request.
 */
export class Demand {
  private second = -1;
  private cur = 0;
  private prev = 0;

  note(n: number, now: number): void {
    const s = slotOf(now);
    if (s !== this.second) this.roll(s);
    this.cur += n;
  }

  /** Units a second: the last second's, or this one's pace so far when faster (a cold start ramps up in a few claims). */
  rate(now: number): number {
    const s = slotOf(now);
    if (s !== this.second) this.roll(s);
    return Math.max(this.prev, (this.cur * 1000) / Math.max(now - s * 1000, MIN_ELAPSED_MS));
  }

  private roll(s: number): void {
    this.prev = s === this.second + 1 ? this.cur : 0;
    this.cur = 0;
    this.second = s;
  }
}
