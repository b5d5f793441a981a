package warnings

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
)

func auc(score []float64, y []bool) float64 {
	type p struct {
		s float64
		y bool
	}
	ps := make([]p, len(score))
	for i := range score {
		ps[i] = p{score[i], y[i]}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].s < ps[j].s })
	// rank-sum with ties averaged
	var pos, neg float64
	var rankSum float64
	for i := 0; i < len(ps); {
		j := i
		for j < len(ps) && ps[j].s == ps[i].s {
			j++
		}
		r := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if ps[k].y {
				rankSum += r
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func TestCDNOWProbe(t *testing.T) {
	f, err := os.Open("../../../shared/data/cdnow/CDNOW_master.txt")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	times := map[string][]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || fs[0] == "customer_id" {
			continue
		}
		d, _ := time.Parse("20060102", fs[1])
		times[fs[0]] = append(times[fs[0]], d.UnixMilli())
	}
	cal := time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC).UnixMilli()
	for _, pg := range []time.Duration{48 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour} {
		for _, life := range []time.Duration{120 * 24 * time.Hour, 365 * 24 * time.Hour} {
			c := Config{PriorGap: pg, Lifetime: life}.WithDefaults()
			var risk, rec []float64
			var y []bool
			for _, ts := range times {
				var s State
				ctx := Context{Stage: rules.Growing, PAlive: -1}
				buyAfter := false
				for i, tm := range ts {
					if tm <= cal {
						c.OnEvent(nil, &s, schemas.Event{ID: fmt.Sprint(i), Type: schemas.Purchase, Time: tm}, ctx)
					} else {
						buyAfter = true
					}
				}
				if s.LastActivity == 0 {
					continue
				}
				risk = append(risk, c.riskAt(&s, cal+rules.Day-s.LastActivity))
				rec = append(rec, float64(cal-s.LastActivity))
				y = append(y, !buyAfter)
			}
			fmt.Printf("prior gap %v life %v: AUC risk %.3f, recency %.3f (n=%d)\n", pg, life, auc(risk, y), auc(rec, y), len(y))
		}
	}
}
