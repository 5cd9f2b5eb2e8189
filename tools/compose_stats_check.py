#!/usr/bin/env python3
"""Checks the three /stats routes of a running service against the numbers a CSV implies.

    tools/compose_stats_check.py CSV BASE_URL

The expected answers are computed here from the file alone, with the rules of docs/API.md
(each event_id once, first row wins; UTC days; a user's cohort is the day of their first
event ever), the same queries tests/integration/test_sample.c asks of this sample: the DAU and
top-event lists over the whole span and two days around it, a top-3 of a three-day range,
and daily (7 windows) and weekly (4 windows) retention from the first day. The service must
hold exactly the CSV's events. Prints one line with what matched; exit status 0 all equal,
1 a difference (each one printed), 2 usage.
"""
import csv
import datetime as dt
import json
import sys
import urllib.request
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal

DAY = dt.timedelta(days=1)


def load(path):
    """{event_id: (user_id, event_type, utc_date)}, the first row of each id."""
    events = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["event_id"] in events:
                continue
            at = dt.datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00"))
            day = at.astimezone(dt.timezone.utc).date()
            events[row["event_id"]] = (row["user_id"], row["event_type"], day)
    return list(events.values())


def dau(events, lo, hi):
    users = defaultdict(set)
    for user, _, day in events:
        users[day].add(user)
    days = (lo + i * DAY for i in range((hi - lo).days + 1))
    return [{"date": d.isoformat(), "unique_users": len(users[d])} for d in days]


def top_events(events, lo, hi, limit):
    counts = Counter(t for _, t, day in events if lo <= day <= hi)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))
    return [{"event_type": t, "count": n} for t, n in ranked[:limit]]


def retention(events, start, windows, period):
    first, active = {}, defaultdict(set)
    for user, _, day in events:
        first[user] = min(first.get(user, day), day)
        active[user].add(day)
    p = dt.timedelta(days=period)
    cohort = {u for u, d in first.items() if start <= d < start + p}
    out = []
    for k in range(windows + 1):
        lo = start + k * p
        n = sum(1 for u in cohort if any(lo <= d < lo + p for d in active[u]))
        rate = Decimal(n) / Decimal(len(cohort)) if cohort else Decimal(0)
        out.append({"index": k, "start": lo.isoformat(), "count": n,
                    "rate": float(rate.quantize(Decimal("0.0001"), ROUND_HALF_UP))})
    return {"start_date": start.isoformat(), "granularity": "day" if period == 1 else "week",
            "cohort_size": len(cohort), "windows": out}


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.load(r)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    events = load(argv[1])
    base = argv[2].rstrip("/")
    days = [d for _, _, d in events]
    lo, hi = min(days), max(days)
    span = f"from={lo - 2 * DAY}&to={hi + 2 * DAY}"
    checks = [
        (f"/stats/dau?{span}", dau(events, lo - 2 * DAY, hi + 2 * DAY)),
        (f"/stats/top-events?{span}&limit=1000", top_events(events, lo - 2 * DAY, hi + 2 * DAY, 1000)),
        (f"/stats/top-events?from={lo + 10 * DAY}&to={lo + 12 * DAY}&limit=3",
         top_events(events, lo + 10 * DAY, lo + 12 * DAY, 3)),
        (f"/stats/retention?start_date={lo}&windows=7&granularity=day", retention(events, lo, 7, 1)),
        (f"/stats/retention?start_date={lo}&windows=4&granularity=week", retention(events, lo, 4, 7)),
    ]
    bad = 0
    for path, want in checks:
        got = get(base, path)
        if got != want:
            bad += 1
            print(f"GET {path}\n  expected {json.dumps(want)}\n  got      {json.dumps(got)}",
                  file=sys.stderr)
    if bad:
        print(f"stats: {bad} of {len(checks)} answers differ from the CSV", file=sys.stderr)
        return 1
    total = sum(c["count"] for c in checks[1][1])
    print(f"stats: {len(checks)} answers equal the CSV's ({total} events, {lo}..{hi}, "
          f"day-0 cohort {checks[3][1]['cohort_size']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
