package bench

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"

	"github.com/lifecycle-engine/lifecycle/processor"
	"github.com/lifecycle-engine/lifecycle/state"
)

// The memory mode is the drain's run (drain.go): memoryBefore is taken
// before the processor starts, memoryAfter with the processor still
// holding every user the drain applied.

// memoryBefore collects the garbage, returns what it can to the OS and
// takes the heap and RSS of the process before the processor starts; the
// peak RSS counts from here when the kernel allows.
func memoryBefore(embedded bool) *MemoryResult {
	runtime.GC()
	debug.FreeOSMemory()
	mem := &MemoryResult{BrokerInProcess: embedded}
	mem.HeapBefore, mem.RSSBefore = heapInUse(), rss()
	mem.PeakFromStart = !resetPeakRSS()
	return mem
}

// memoryAfter completes mem after the drain: the peak RSS, the heap and
// RSS after a GC with the processor holding its users (per user, the users
// of st's stages, else the distinct users preloaded), then, with the
// processor stopped and its store closed, the store's bytes on disk.
func (r *Runner) memoryAfter(p *procRun, mem *MemoryResult, st processor.Stats, distinct int) error {
	// Memory, with the processor still holding every user.
	mem.RSSPeak = peakRSS()
	runtime.GC()
	debug.FreeOSMemory()
	mem.HeapAfter, mem.RSSAfter = heapInUse(), rss()
	if r.cfg.MemProfile != "" {
		if err := writeHeapProfile(r.cfg.MemProfile); err != nil {
			return err
		}
	}
	var users int64
	for _, c := range st.Stages {
		users += c
	}
	if users == 0 {
		users = int64(distinct)
	}
	mem.Users = users
	mem.HeapPerUser = float64(int64(mem.HeapAfter)-int64(mem.HeapBefore)) / float64(users)
	mem.RSSPerUser = float64(mem.RSSAfter-mem.RSSBefore) / float64(users)

	if err := p.stopProc(); err != nil {
		return err
	}
	mem.Pebble = pebbleMetrics(p.store)
	if err := p.closeStore(); err != nil {
		return err
	}
	r.pebbleSize(mem, p.stateDir)
	pm := mem.Pebble
	r.progress("pebble: WAL %.1f MB in, tables %.1f MB flushed + %.1f MB compacted (write amp %.2f), %d flushes, %d compactions, block cache %d hits / %d misses",
		float64(pm.WALBytesIn)/1e6, float64(pm.FlushedBytes)/1e6, float64(pm.CompactedBytes)/1e6, pm.WriteAmp, pm.Flushes, pm.Compactions, pm.CacheHits, pm.CacheMisses)
	mem.LoadAvg = loadAvg()
	r.progress("memory: %d users: heap %.1f → %.1f MB (%.0f B/user), RSS %.1f → %.1f MB (%.0f B/user), Pebble %.1f MB (%.1f MB compacted)",
		users, float64(mem.HeapBefore)/1e6, float64(mem.HeapAfter)/1e6, mem.HeapPerUser,
		float64(mem.RSSBefore)/1e6, float64(mem.RSSAfter)/1e6, mem.RSSPerUser, float64(mem.PebbleBytes)/1e6, float64(mem.PebbleCompacted)/1e6)
	return nil
}

// pebbleSize measures the closed store in stateDir: as the processor left
// it, and compacted.
func (r *Runner) pebbleSize(mem *MemoryResult, stateDir string) {
	mem.PebbleBytes = dirSize(stateDir)
	var err error
	if mem.PebbleCompacted, err = compactedSize(stateDir); err != nil {
		r.progress("compacting the state for its size: %v", err)
	}
	mem.PebblePerMUsers = float64(mem.PebbleBytes) / float64(mem.Users) * 1e6
	mem.PebbleCompPerM = float64(mem.PebbleCompacted) / float64(mem.Users) * 1e6
}

// pebbleMetrics takes the store's counters.
func pebbleMetrics(s *state.Store) *PebbleMetrics {
	m := s.Metrics()
	t := m.Total()
	var flushed uint64
	for _, l := range m.Levels {
		flushed += l.TableBytesFlushed
	}
	return &PebbleMetrics{WALBytesIn: m.WAL.BytesIn, WALBytesWritten: m.WAL.BytesWritten,
		FlushedBytes: flushed, CompactedBytes: t.TableBytesCompacted, WriteAmp: t.WriteAmp(),
		Flushes: m.Flush.Count, Compactions: m.Compact.Count, CacheHits: m.BlockCache.Hits, CacheMisses: m.BlockCache.Misses}
}

func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
