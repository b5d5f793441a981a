// Package simulate generates a realistic, deterministic population of users
// and the Kafka records their behaviour produces on the input topics
// (events.login, events.purchase, events.content). It drives the
// `lifecycle simulate` command, the demo and end-to-end tests, and its Truth
// (each user's real dropout time) is the ground truth for evaluating churn
// warnings.
//
// # Determinism
//
// Every random draw comes from math/rand/v2 PCG generators seeded only from
// Config.Seed: user i draws from PCG(Seed, splitmix64(i)), and the delivery
// defects (late, duplicate and bad records) from PCG(Seed, splitmix64(0)),
// consumed in emission order. Nothing depends on the clock or on map order,
// ties in the stream are broken by user index and push order, so the same
// Config gives byte-identical records and truth. Because each user has its
// own stream, the population (its valid events and Truth) does not change
// when BadRate, DupRate or LateRate change, and user i behaves the same
// whatever Users is (its arrival and lifetime scale with Days).
//
// # Behaviour model
//
// The period is [Start, Start+Days). Each user u-000001, u-000002, … has:
//
//   - Arrival: the ts of its first login, at a fraction F of the period with
//     density 2(1-F) (three quarters arrive in the first half), at an hour
//     following the daily rhythm below.
//   - Time zone: a UTC offset of -9..+9 hours; activity follows a daily
//     rhythm in local time (low at night, peak 19:00–22:00, relative weights
//     in hourWeight).
//   - Visit rate λ per day: Pareto with minimum 0.08 (one visit in ~12 days)
//     and tail index 1.2, capped at 6 — median ≈ 0.15/day, ~5% of users visit
//     daily or more.
//   - Lifetime after arrival: Weibull with shape 0.7 (decreasing hazard: many
//     users leave soon after signing up) and scale
//     90 days · (λ/0.15)^0.35 · LogNormal(0, 0.5), so frequent visitors stay
//     longer; at least 2 hours. DropoutAt = Arrival + lifetime, or zero when
//     that is not before the end of the period. No event has ts ≥ DropoutAt.
//   - Fading: in the last 21 days before DropoutAt the visit rate falls
//     linearly to 15% of λ, the warning sign a churn predictor can see.
//   - Gaps: visits form a Poisson process of rate λ (exponential gaps)
//     modulated by the daily rhythm and the fade (by thinning), at least one
//     minute after the previous visit's last event. Rare visitors therefore
//     have gaps of months now and then.
//   - Lapses ("vacations"): after a visit, with probability
//     min(0.5, 1/(250·λ)) — one lapse per ~250 days of activity whatever λ —
//     the user is away for 20 + Exp(mean 25) days (at most 120) before the
//     next gap starts. Together with the long gaps of rare visitors this
//     gives returning users: in the default 1000 users × 180 days, about a
//     tenth log in again after more than 30 days away (Truth.LongGaps).
//   - Purchases: half of the users never buy; the other half buy on a visit
//     with probability LogNormal(median 0.10, σ 1), capped at 0.8. A purchase
//     follows its login by 1 minute + Exp(mean 7 minutes). Amounts are
//     log-normal: a per-user median 25·LogNormal(0, 0.5) times
//     LogNormal(0, 0.6) per basket, in cents, 40% rounded to a .99 price,
//     between 0.50 and 5000.00.
//   - Content: 30% of users never contribute; the others produce a content
//     event on a visit with probability LogNormal(median 0.12, σ 1), capped at
//     0.9, 10 s + Exp(mean 12 minutes) after the login. Kinds: like 40%,
//     comment 25%, post 13%, answer 12%, review 10% (reviews only once the
//     user has bought before).
//
// With Seed 1, 1000 users and 180 days this gives about 21 logins, 1.75
// purchases and 2.7 content events per user (median 6 logins), 25% buyers,
// 15% with two or more purchases, 68% dropped out within the period.
//
// # Records
//
// Each visit yields a login, and possibly a purchase and a content event,
// each one JSON object on the topic of its type with key = user_id:
//
//	{"event_id":"e-u-000042-7","user_id":"u-000042","type":"purchase","ts":"2026-11-22T06:30:00.000Z","amount":"19.99","currency":"USD","seq":7}
//	{"event_id":"e-u-000042-8","user_id":"u-000042","type":"login","ts":1795329060000,"seq":8}
//	{"event_id":"e-u-000042-9","user_id":"u-000042","type":"content","ts":"2026-11-22T06:40:00.000Z","kind":"post","seq":9}
//
// seq numbers a user's valid events 1, 2, … in ts order; event_id is
// "e-<user_id>-<seq>". A deterministic ~10% of events (by a hash of seed, user
// and seq) write ts as integer epoch milliseconds instead of RFC 3339.
//
// Records are emitted in non-decreasing Record.Time, the Unix ms at which a
// record is sent. Users sit in a min-heap keyed by their next event and
// generate one visit at a time, so memory is O(Users): 100k users need
// about 70 MB.
//
// Delivery defects, each decided independently per valid event:
//
//   - LateRate: the record keeps its ts but is sent 1 h + Exp(mean 12 h)
//     later (at most 4 days), after newer events of other users
//     (Record.Late).
//   - DupRate: the same bytes are sent again 1 s to 10 minutes after the
//     original was sent (Record.Dup).
//   - BadRate: an extra defective record (Record.Bad), modelled on the event
//     and sent within a minute of its ts; the kinds rotate through BadKinds:
//     truncated JSON, missing user_id or event_id, ts "yesterday" or
//     "2026-02-30T25:61:00Z", a negative or non-numeric amount, type
//     "refund", another currency (EUR, or GBP when Currency is EUR), and a
//     key naming another user. Bad records have event ids "e-bad-<n>", never
//     carry a seq and are not counted in Truth. Kinds about purchases go to
//     the purchase topic, the others to the topic of the event's type.
//
// Late, duplicate and bad records wait in a second heap until they are due.
package simulate
