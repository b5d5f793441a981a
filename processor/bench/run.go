package bench

import (
	"context"
	"os"
	"path/filepath"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/state"
)

// procRun is the processor the drain, memory and latency modes measure: in
// this process, over a fresh store in a temporary directory.
type procRun struct {
	dir      string // temporary; holds stateDir
	stateDir string
	store    *state.Store // nil once closed
	proc     *processor.Processor
	stop     context.CancelFunc
	done     chan error // Run's result; nil when not running
}

// openProcessor makes a temporary directory, opens a store in it and a
// processor of group on t over the store, with the Config's settings.
// close ends it all.
func (r *Runner) openProcessor(group string, t processor.Topics) (*procRun, error) {
	dir, err := os.MkdirTemp("", "lifecycle-bench-")
	if err != nil {
		return nil, err
	}
	p := &procRun{dir: dir, stateDir: filepath.Join(dir, "state")}
	if p.store, err = state.Open(state.Options{Dir: p.stateDir, CacheBytes: int64(r.cfg.BlockCacheMB) << 20}); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.proc, err = processor.New(processor.Config{Conn: r.conn, Group: group, Topics: t, BatchRecords: r.cfg.BatchRecords, Linger: r.cfg.Linger, FetchWait: r.cfg.FetchWait,
		MaxUsersCached: r.cfg.MaxUsersCached, Log: r.log}, p.store)
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// start runs the processor in a goroutine of its own until stopProc.
func (p *procRun) start(ctx context.Context) {
	pctx, stop := context.WithCancel(ctx)
	p.stop = stop
	p.done = make(chan error, 1)
	go func() { p.done <- p.proc.Run(pctx) }()
}

// stopProc stops the processor, if it runs, and returns Run's error.
func (p *procRun) stopProc() error {
	if p.stop != nil {
		p.stop()
	}
	if p.done == nil {
		return nil
	}
	err := <-p.done
	p.done = nil
	return err
}

// closeStore closes the store, if open.
func (p *procRun) closeStore() error {
	if p.store == nil {
		return nil
	}
	err := p.store.Close()
	p.store = nil
	return err
}

// close stops the processor, closes the store and removes the directory.
func (p *procRun) close() {
	p.stopProc()
	p.closeStore()
	os.RemoveAll(p.dir)
}
