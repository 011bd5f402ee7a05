import assert from "node:assert/strict";
import { test } from "node:test";
import { LaneScheduler } from "../../workers/lanes.js";
import { deliveryCount } from "../../workers/puller.js";

test("the highest lane that may hold jobs goes first; empty lanes are skipped until woken", () => {
  const s = new LaneScheduler(10);
  assert.equal(s.next(), "high");
  s.took("high", 0, 4);
  assert.equal(s.next(), "normal");
  s.took("normal", 0, 4);
  s.took("low", 0, 4);
  assert.equal(s.next(), undefined, "idle until a wake-up");
  s.wake("low");
  assert.equal(s.next(), "low");
  s.wake("high");
  assert.equal(s.next(), "high");
});

test("a lower lane passed over fairEvery times goes first once", () => {
  const s = new LaneScheduler(3);
  s.took("normal", 0, 1); // normal is empty: only high and low hold jobs
  const order: string[] = [];
  for (let i = 0; i < 8; i++) {
    const lane = s.next() as "high" | "low";
    order.push(lane);
    s.took(lane, 1, 1); // one job taken, the lane still full
  }
  assert.deepEqual(order, ["high", "high", "high", "low", "high", "high", "high", "low"]);
});

test("delivery counts come from both JetStream ack subject forms", () => {
  assert.equal(deliveryCount("$JS.ACK.S.C.3.10.7.1795513061418882251.2"), 3);
  assert.equal(deliveryCount("$JS.ACK.domain.acchash.S.C.2.10.7.1795513061418882251.0.xyz"), 2);
  assert.equal(deliveryCount("$JS.ACK.garbage"), 1);
});
