package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// committed sums, over the partitions of topics that have records, the
// group's committed offsets and the end offsets.
func (f *FailoverRunner) committed(ctx context.Context, group string, topics []string) (done, total int64, err error) {
	ends, err := f.adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, err
	}
	offs, err := f.adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, 0, err
	}
	ends.Each(func(o kadm.ListedOffset) {
		total += o.Offset
		if c, ok := offs.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
			done += min(c.At, o.Offset)
		}
	})
	return done, total, nil
}

// endsSum is the sum of topic's end offsets.
func (f *FailoverRunner) endsSum(ctx context.Context, topic string) (int64, error) {
	ends, err := f.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, err
}

// wait polls cond until it is true, an instance exits, or the timeout.
func (f *FailoverRunner) wait(ctx context.Context, what string, insts []*instance, cond func(context.Context) (bool, string, error)) error {
	start := time.Now()
	lastProgress := start
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, progress, err := cond(cctx)
		cancel()
		if err != nil && ctx.Err() == nil && cctx.Err() == nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		for _, in := range insts {
			select {
			case <-in.done:
				return fmt.Errorf("%s: %w", what, in.exited())
			default:
			}
		}
		if time.Since(start) > f.cfg.Timeout {
			var logs strings.Builder
			for _, in := range insts {
				fmt.Fprintf(&logs, "\ninstance %s, log %s%s", in.name, in.logNote(), in.tail(5))
			}
			return fmt.Errorf("%s: not done within --timeout %v (%s)%s", what, f.cfg.Timeout, progress, logs.String())
		}
		if time.Since(lastProgress) > 5*time.Second && progress != "" {
			lastProgress = time.Now()
			f.progress("%s: %s", what, progress)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
