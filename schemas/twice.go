package schemas

import (
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// readTree is every path a Decoder reads, merged by their names: the
// native fields (readFields), or a mapping's fields' and rules' paths. A
// record that has one of them twice is ambiguous (ReasonDuplicate).
type readTree struct {
	name     string      // the last name of path
	path     string      // as written in the rules file: properties.revenue
	id       int         // index into the decoder's seen flags
	children []*readTree // in the mapping's order; a few, so scanned
}

// nativeReads is the tree of readFields, the fields Decode reads without
// a mapping.
var nativeReads, nativeReadNodes = newReadTree([][]fieldPath{splitPaths(readFields[:])})

// newReadTree merges paths into one tree; n is how many nodes it has.
func newReadTree(paths [][]fieldPath) (root *readTree, n int) {
	root = &readTree{}
	for _, ps := range paths {
		for _, p := range ps {
			node := root
			for i, k := range p.keys {
				c := node.child([]byte(k))
				if c == nil {
					c = &readTree{name: k, path: strings.Join(p.keys[:i+1], "."), id: n}
					node.children = append(node.children, c)
					n++
				}
				node = c
			}
		}
	}
	return root, n
}

// child is t's child named k, or nil. It compares the bytes where they
// are (string(k) == name does not allocate), however long the record's
// keys.
func (t *readTree) child(k []byte) *readTree {
	for _, c := range t.children {
		if string(k) == c.name {
			return c
		}
	}
	return nil
}

// twice is the first path of t that v has more than once at some level
// (properties twice, or revenue twice within properties), or "". seen has
// a flag per node, all false. Each object and array on the paths is
// visited once (a second copy of one is the duplicate, and ends the
// search), so the time is linear in the record, as Decode's must be.
func (t *readTree) twice(v *fastjson.Value, seen []bool) string {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		dup := ""
		o.Visit(func(k []byte, c *fastjson.Value) {
			if dup != "" {
				return
			}
			n := t.child(k)
			if n == nil {
				return
			}
			if seen[n.id] {
				dup = n.path
				return
			}
			seen[n.id] = true
			if n.children != nil {
				dup = n.twice(c, seen)
			}
		})
		return dup
	case fastjson.TypeArray:
		// A path may index an array (items.0.price), as fastjson's Get does.
		a, _ := v.Array()
		for _, n := range t.children {
			i, err := strconv.Atoi(n.name)
			if err != nil || i < 0 || i >= len(a) || n.children == nil {
				continue
			}
			if dup := n.twice(a[i], seen); dup != "" {
				return dup
			}
		}
	}
	return ""
}
