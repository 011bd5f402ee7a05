import assert from "node:assert/strict";
import { test } from "node:test";
import { periodAt } from "../../access/limits/period.js";
import { applyDeltas, claimStep, encodeSlots, leaseSize, msUntilClear, msUntilFits, parseSlots, slotOf, WINDOW_SLOTS, windowSum } from "../../access/limits/slots.js";

test("a window counts the last 61 slots and any slot ahead of the clock", () => {
  const s = 1000;
  const slots = new Map([[s - 61, 5], [s - 60, 1], [s - 1, 2], [s, 3], [s + 1, 4]]);
  assert.equal(WINDOW_SLOTS, 61);
  assert.equal(windowSum(slots, s), 1 + 2 + 3 + 4);
});

test("slots round-trip through their stored form, which drops what left the window", () => {
  const s = 500;
  const text = encodeSlots(new Map([[s, 2], [s - 100, 9], [s - 60, 1], [s - 3, 0]]), s);
  assert.equal(text, JSON.stringify([[s - 60, 1], [s, 2]]));
  assert.deepEqual([...parseSlots(text)], [[s - 60, 1], [s, 2]]);
});

test("a malformed value reads as empty, so it is overwritten instead of locking the key", () => {
  for (const bad of ["{", "{}", "[[1]]", '[["a",1]]', "[[1,-2]]", "null"]) assert.equal(parseSlots(bad).size, 0, bad);
  assert.equal(parseSlots(null).size, 0);
});

test("deltas never take a slot below zero and skip slots out of the window", () => {
  const s = 100;
  const slots = new Map([[s, 5], [s - 1, 2]]);
  applyDeltas(slots, new Map([[s, -3], [s - 1, -9], [s - 70, 4], [s + 1, 1]]), s);
  assert.deepEqual([...slots].sort((a, b) => a[0] - b[0]), [[s, 2], [s + 1, 1]]);
});

test("room comes back when the oldest counted slots leave the window, at the start of slot + 61", () => {
  const s = 1000;
  const now = s * 1000 + 400;
  const slots = new Map([[s - 50, 4], [s - 10, 6]]); // limit 10, full
  assert.equal(msUntilFits(slots, s, now, 10, 1), (s - 50 + 61) * 1000 - now);
  assert.equal(msUntilFits(slots, s, now, 10, 5), (s - 10 + 61) * 1000 - now);
  assert.equal(msUntilFits(slots, s, now, 10, 11), Infinity);
  assert.equal(msUntilFits(slots, s, now, 12, 2), 0);
  assert.equal(msUntilClear(slots, s, now), (s - 10 + 61) * 1000 - now);
  assert.equal(msUntilClear(new Map(), s, now), 0);
});

test("a lease follows demand, takes at most a quarter of what is available, and is exact when little is left", () => {
  assert.equal(leaseSize(1, 1_000_000, 1500), 1500);
  assert.equal(leaseSize(1, 1000, 1500), 250);
  assert.equal(leaseSize(1, 3, 100), 1);
  assert.equal(leaseSize(5, 5, 100), 5);
  assert.equal(leaseSize(0, 100, 0), 0);
  assert.equal(leaseSize(0, 0, 100), 0);
});

test("slots are unix seconds", () => {
  assert.equal(slotOf(1_700_000_000_999), 1_700_000_000);
});

test("budget periods start at UTC midnight, on Mondays, on the 1st", () => {
  const t = Date.parse("2025-03-12T15:30:00Z"); // a Wednesday
  assert.deepEqual(periodAt(t, "day"), { start: Date.parse("2025-03-12T00:00:00Z"), end: Date.parse("2025-03-13T00:00:00Z"), token: "2025-03-12" });
  assert.deepEqual(periodAt(t, "week"), { start: Date.parse("2025-03-10T00:00:00Z"), end: Date.parse("2025-03-17T00:00:00Z"), token: "2025-03-10" });
  assert.deepEqual(periodAt(t, "month"), { start: Date.parse("2025-03-01T00:00:00Z"), end: Date.parse("2025-04-01T00:00:00Z"), token: "2025-03-01" });
  const sunday = Date.parse("2025-03-16T23:59:59Z");
  assert.equal(periodAt(sunday, "week").token, "2025-03-10");
  assert.equal(periodAt(Date.parse("2025-12-31T23:00:00Z"), "month").end, Date.parse("2026-01-01T00:00:00Z"));
});

test("a claim counts its target slot's window, adds the lease there, and keeps the current window's slots", () => {
  const s = 2000;
  const now = s * 1000 + 850;
  const text = JSON.stringify([[s - 60, 4], [s - 1, 3], [s, 2]]);
  // For this slot, all 9 count: 1 fits of 10.
  const here = claimStep(text, { slot: s, target: s, limit: 10, need: 1, demand: 100, deltas: null, now });
  assert.deepEqual(here.result, { ok: true, lease: 1, counted: 10, clearAt: (s + 61) * 1000 });
  assert.equal(here.write, JSON.stringify([[s - 60, 4], [s - 1, 3], [s, 3]]));
  // Ahead, for the next slot: slot s - 60 is out of its window (5 available, a quarter of it leased),
  // but stays stored for claims still made in slot s.
  const ahead = claimStep(text, { slot: s, target: s + 1, limit: 10, need: 0, demand: 100, deltas: null, now });
  assert.deepEqual(ahead.result, { ok: true, lease: 1, counted: 6, clearAt: (s + 62) * 1000 });
  assert.equal(ahead.write, JSON.stringify([[s - 60, 4], [s - 1, 3], [s, 2], [s + 1, 1]]));
});

test("a claim that does not fit writes only the deltas it carries, and says when it would", () => {
  const s = 2000;
  const now = s * 1000;
  const text = JSON.stringify([[s - 30, 6], [s, 4]]);
  const no = claimStep(text, { slot: s, target: s, limit: 10, need: 1, demand: 1, deltas: null, now });
  assert.deepEqual(no, { write: null, result: { ok: false, used: 10, avail: 0, retryAt: (s - 30 + 61) * 1000 } });
  const back = claimStep(text, { slot: s, target: s, limit: 10, need: 1, demand: 1, deltas: new Map([[s, -1]]), now });
  assert.deepEqual(back.result, { ok: true, lease: 1, counted: 10, clearAt: (s + 61) * 1000 });
  const prefetchNone = claimStep(text, { slot: s, target: s, limit: 10, need: 0, demand: 5, deltas: null, now });
  assert.deepEqual(prefetchNone, { write: null, result: { ok: true, lease: 0, counted: 10, clearAt: (s + 61) * 1000 } });
});
