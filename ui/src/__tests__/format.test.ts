import { describe, expect, it } from "vitest";
import { friendlyTime } from "../lib/format";

describe("friendlyTime", () => {
  // Built from local times so the test holds in any time zone.
  const now = new Date(2026, 10, 24, 15, 30);
  const iso = (...a: [number, number, number, number, number]) => new Date(...a).toISOString().replace(/\.\d{3}Z$/, "Z");

  it("today and yesterday with the local time", () => {
    expect(friendlyTime(iso(2026, 10, 24, 11, 51), now)).toBe("today 11:51");
    expect(friendlyTime(iso(2026, 10, 24, 0, 5), now)).toBe("today 00:05");
    expect(friendlyTime(iso(2026, 10, 23, 23, 59), now)).toBe("yesterday 23:59");
  });

  it("older dates as a date, with the year when it is not this year", () => {
    expect(friendlyTime(iso(2026, 10, 20, 9, 0), now)).toBe("20 Nov");
    expect(friendlyTime(iso(2025, 0, 3, 9, 0), now)).toBe("3 Jan 2025");
  });

  it("converts UTC to local time", () => {
    const utc = "2026-11-24T10:51:27Z";
    const d = new Date(utc);
    const hhmm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    expect(friendlyTime(utc, new Date(d.getFullYear(), d.getMonth(), d.getDate(), 23, 0))).toBe(`today ${hhmm}`);
  });

  it("leaves what it cannot parse alone", () => {
    expect(friendlyTime("sometime", now)).toBe("sometime");
  });
});
