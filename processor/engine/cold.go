package engine

// coldUsers caches users between batches in their stored form, keyed by
// user id. Each entry is one allocation holding the id and the record
// together, the map's key and value being two views of it: one object per
// cached user for the GC to mark instead of two, and no slice header in
// the map (BENCHMARKS.md, "Heap per cached user").
type coldUsers map[string]string

// put caches enc, user id's record in its stored form (copied).
func (c coldUsers) put(id string, enc []byte) {
	s := id + string(enc)
	c[s[:len(id)]] = s[len(id):]
}
