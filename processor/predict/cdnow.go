package predict

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// ReadCDNOW reads purchase records in the CDNOW format (customer id,
// [sample id,] date YYYYMMDD, quantity, dollar amount, whitespace-separated;
// an optional header line) and calls fn for each, with the purchase at
// 00:00 UTC of its day. name is for errors.
func ReadCDNOW(r io.Reader, name string, fn func(id string, at int64, amount schemas.Micros)) error {
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		n := len(fs)
		if n < 4 || n > 5 {
			return fmt.Errorf("%s:%d: %d fields; want customer id, [sample id,] date YYYYMMDD, quantity, amount", name, line, n)
		}
		d, err := time.Parse("20060102", fs[n-3])
		if err != nil {
			if line == 1 { // a header
				continue
			}
			return fmt.Errorf("%s:%d: date %q is not YYYYMMDD", name, line, fs[n-3])
		}
		amt, err := schemas.ParseMicros(fs[n-1])
		if err != nil || amt < 0 {
			return fmt.Errorf("%s:%d: amount %q is not a decimal amount ≥ 0", name, line, fs[n-1])
		}
		fn(fs[0], d.UnixMilli(), amt)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}
