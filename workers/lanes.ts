import { Lanes, type Lane } from "../contract/mod.js";

/**
 * Which lane a free slot pulls from next: the highest lane that may hold
 * jobs, except that a lower lane passed over `fairEvery` times while it may
 * hold jobs goes first once, so low priority work still drains under a steady
 * stream of high priority work (about 1 job in `fairEvery + 1`).
 *
 * "May hold jobs" is a hint: set by a wake-up from a gateway that queued a
 * job there or by the periodic sweep, cleared when a pull finds the lane empty.
 */
export class LaneScheduler {
  private readonly maybe = new Map<Lane, boolean>(Lanes.map((l) => [l, true]));
  private readonly passedOver = new Map<Lane, number>(Lanes.map((l) => [l, 0]));

  constructor(private readonly fairEvery: number) {}

  /** The lane to try now, or undefined when every lane is known empty. */
  next(): Lane | undefined {
    for (const lane of [...Lanes].reverse()) {
      if (this.maybe.get(lane) && (this.passedOver.get(lane) ?? 0) >= this.fairEvery) return lane;
    }
    return Lanes.find((l) => this.maybe.get(l));
  }

  /** A pull from `lane` returned `got` of `asked` jobs. */
  took(lane: Lane, got: number, asked: number): void {
    if (got < asked) this.maybe.set(lane, false);
    if (got === 0) return;
    this.passedOver.set(lane, 0);
    const rank = Lanes.indexOf(lane);
    for (const lower of Lanes.slice(rank + 1)) {
      if (this.maybe.get(lower)) this.passedOver.set(lower, (this.passedOver.get(lower) ?? 0) + got);
    }
  }

  wake(lane: Lane): void {
    this.maybe.set(lane, true);
  }

  wakeAll(): void {
    for (const l of Lanes) this.maybe.set(l, true);
  }
}
