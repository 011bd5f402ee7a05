// Budget periods: calendar days, ISO weeks (Monday first) and months, in UTC.

export type BudgetPeriod = "day" | "week" | "month";

export interface Period {
  /** ms of the period's first instant. */
  start: number;
  /** ms of the next period's first instant. */
  end: number;
  /** `yyyy-mm-dd` of the start: the KV key's last token. */
  token: string;
}

const DAY_MS = 86_400_000;

export function periodAt(ms: number, kind: BudgetPeriod): Period {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = Date.UTC(y, m, d.getUTCDate());
  let start: number;
  let end: number;
  if (kind === "day") {
    start = day;
    end = day + DAY_MS;
  } else if (kind === "week") {
    start = day - ((d.getUTCDay() + 6) % 7) * DAY_MS;
    end = start + 7 * DAY_MS;
  } else {
    start = Date.UTC(y, m, 1);
    end = Date.UTC(y, m + 1, 1);
  }
  return { start, end, token: new Date(start).toISOString().slice(0, 10) };
}
