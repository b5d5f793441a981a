package rhythm

import (
	"math"
	"time"
)

// Oracle is the detector that knows each user's true rates and dropout
// process, which no real system can know: the limit of what the data
// allow. In every silence after a visit it scores the probability that the
// user decided to leave at that visit, from the likelihood of the silence
// under the user's true intensity if they stayed (seasonal or not) and if
// they left (nothing for an abrupt user, the fading intensity for a
// fader), and warns once per silence, when that probability first reaches
// the threshold. Silences are followed up to churnAfter, when the stage
// model declares the churn and warnings stop. (It takes a decision at an
// earlier visit as ruled out by the visits since, which is exact for
// abrupt users and near it for faders.)
//
// It returns, per threshold, the warning times per user.
func Oracle(users []*User, end int64, churnAfter time.Duration, thresholds []float64) []map[string][]int64 {
	out := make([]map[string][]int64, len(thresholds))
	for i := range out {
		out[i] = map[string][]int64{}
	}
	const step = 3 * 60 * 60 * 1000 // 3 h
	limit := churnAfter.Milliseconds()
	for _, u := range users {
		for k, from := range u.Visits {
			to := min(end, from+limit)
			if k+1 < len(u.Visits) {
				to = min(to, u.Visits[k+1])
			}
			crossed := make([]bool, len(thresholds))
			var stay, leave float64 // integrated intensities since the visit
			for t := from + step; t < to; t += step {
				r := u.rate(t) * step / day
				stay += r
				if u.Fade > 0 {
					since := float64(t-from) / day
					if since <= 3*u.Fade {
						leave += r * math.Exp(-since/u.Fade)
					}
				}
				risk := u.Dropout * math.Exp(-leave)
				risk /= risk + (1-u.Dropout)*math.Exp(-stay)
				for i, th := range thresholds {
					if !crossed[i] && risk >= th {
						crossed[i] = true
						out[i][u.ID] = append(out[i][u.ID], t)
					}
				}
			}
		}
	}
	return out
}
