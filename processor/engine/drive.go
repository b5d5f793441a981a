package engine

// Drive applies one partition's inputs, in merge order (MergeNext), to an
// engine on store, as the runtime does with a backlog: a commit whenever
// the batch holds cfg.BatchRecords records, and one at the end, which
// fires every timer up to the last stream time. With BatchRecords 1 and
// MaxUsersCached 0 it is the eager engine the tests take as the
// reference: one record per commit, every timer fired as soon as stream
// time passes it, nothing cached. When until is after the last stream
// time, stream time then advances to it (AdvanceTo), as the runtime's idle
// advance would; 0 leaves it where the inputs put it.
func Drive(cfg Config, store Store, partition, partitions int32, inputs Next, until int64, stats *Stats, sink func(Commit) error) error {
	e, err := New(&cfg, store, partition, partitions, stats, sink)
	if err != nil {
		return err
	}
	for {
		in, err := inputs()
		if err != nil {
			return err
		}
		if in == nil {
			break
		}
		if err := e.Apply(in); err != nil {
			return err
		}
		if e.Full() {
			if err := e.Flush(); err != nil {
				return err
			}
		}
	}
	if err := e.Flush(); err != nil {
		return err
	}
	return e.AdvanceTo(until)
}
