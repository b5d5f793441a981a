#!/usr/bin/env python3
"""A population of weekday users (a B2B tool) with breaks they share.

Written on 2026-12-06 after every warning setting was fixed, to see what
breaks many users take at once do to the churn warnings: each user visits
on a weekday with their own chance p (uniform 0.25-1), on a weekend day
with a chance up to 0.1, buys after a visit with a chance of 0.02-0.2,
arrives in the first 120 days and leaves at an exponential time (mean
250 days). Options add breaks no user's own history foretells:
  --summer   a third of the users (every third id) take days 200-213 off;
  --year-end every user takes days 355-364 and 0-2 off;
  --shutdown every user takes days 130-139 off (a company-wide stop, or
             an outage upstream: no records at all for ten days; added
             on 2026-12-07 with the breaks the partitions see);
  --surge    the opposite: every user comes twice as often (each day's
             chance doubled, at most 1) in September, days 243-272 (a
             season's rush, early enough that what follows is judged
             within the data), then as before (added on 2026-12-07);
  --exodus   a third of the users (every third id) leave for good on
             day 200 (a price rise, a rival's launch: a departure many
             share, which no break detection should hide; added on
             2026-12-07).
The truth is each leaver's last event. Standard library only.

  python3 breaks.py --seed 1 [--summer] [--year-end] [--shutdown] [--surge] [--exodus] --out ev.ndjson --truth tr.csv
  lifecycle evaluate --events ev.ndjson --truth tr.csv
"""
import argparse, datetime, math, random

ap = argparse.ArgumentParser()
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--users", type=int, default=3000)
ap.add_argument("--summer", action="store_true")
ap.add_argument("--year-end", action="store_true")
ap.add_argument("--shutdown", action="store_true")
ap.add_argument("--surge", action="store_true")
ap.add_argument("--exodus", action="store_true")
ap.add_argument("--out", required=True)
ap.add_argument("--truth", required=True)
a = ap.parse_args()

rnd = random.Random(a.seed)
start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
DAYS = 365
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
rows = []
with open(a.truth, "w") as tr:
    tr.write("user_id,dropout_at\n")
    for u in range(a.users):
        uid = f"w-{u:06d}"
        p, pw, buy = rnd.uniform(0.25, 1.0), rnd.uniform(0, 0.1), rnd.uniform(0.02, 0.2)
        arrive = rnd.uniform(0, 120)
        death = arrive + rnd.expovariate(1 / 250)
        if a.exodus and u % 3 == 0:
            death = min(death, max(arrive, 200))
        last = None
        for d in range(int(arrive), DAYS):
            if d >= death:
                break
            if a.year_end and (d >= 355 or d < 3) or a.summer and 200 <= d < 214 and u % 3 == 0 or a.shutdown and 130 <= d < 140:
                continue
            day = start + datetime.timedelta(days=d)
            chance = p if day.weekday() < 5 else pw
            if a.surge and 243 <= d < 273:
                chance = min(1.0, 2 * chance)
            if rnd.random() < chance:
                ts = day + datetime.timedelta(hours=rnd.uniform(8, 18))
                if (ts - start).total_seconds() >= death * 86400:
                    break
                rows.append((ts, uid, None))
                if rnd.random() < buy:
                    rows.append((ts + datetime.timedelta(minutes=3), uid, rnd.lognormvariate(math.log(40), 0.7)))
                last = ts
        left = death < DAYS and last is not None
        tr.write(f"{uid},{fmt(last) if left else ''}\n")
rows.sort()
with open(a.out, "w") as ev:
    for i, (ts, uid, amount) in enumerate(rows):
        if amount is None:
            ev.write(f'{{"event_id":"e{i}","user_id":"{uid}","type":"login","ts":"{fmt(ts)}"}}\n')
        else:
            ev.write(f'{{"event_id":"e{i}","user_id":"{uid}","type":"purchase","ts":"{fmt(ts)}","amount":"{amount:.2f}","currency":"USD"}}\n')
