package schemas

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkAgainstEncodingJSON fails t when checkJSON and encoding/json's
// json.Valid (with the depth limit) disagree on b, or when checkJSON's
// fault offset is outside b.
func checkAgainstEncodingJSON(t *testing.T, b []byte, stack []byte) {
	t.Helper()
	at, why := checkJSON(b, stack)
	if at < 0 || at > len(b) {
		t.Fatalf("checkJSON(%.100q) fault at %d, outside 0..%d", b, at, len(b))
	}
	// encoding/json does not check UTF-8 and stops at depth 10000.
	want := json.Valid(b)
	if want && nesting(b) > len(stack) {
		if why != whyTooDeep {
			t.Errorf("checkJSON(%.100q) = %d, %q; want %q (depth %d > %d)", b, at, why, whyTooDeep, nesting(b), len(stack))
		}
		return
	}
	if got := why == ""; got != want && !(why == whyTooDeep && !want) {
		t.Errorf("checkJSON(%.100q) = %d, %q; json.Valid says %v", b, at, why, want)
	}
}

func TestCheckJSON(t *testing.T) {
	valid := []string{
		`{}`, `[]`, `0`, `-0`, `1`, `-1.5e+10`, `1E-2`, `0.0`, `1e5`, `true`, `false`, `null`, `""`,
		`"\"\\\/\b\f\n\r\t\u0000\uFFFF\ud800"`, `"é😀\u2028"`, " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n",
		`[[[[]]]]`, `{"a":{"b":{"c":[{"d":null}]}}}`, `[1,"a",true,false,null,{},[]]`,
	}
	invalid := []string{
		``, ` `, `{`, `[`, `]`, `}`, `{]`, `[}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`,
		`{'a':1}`, `{a:1}`, `{"a" 1}`, `[1 2]`, `01`, `-`, `+1`, `.5`, `1.`, `1e`, `1e+`, `-a`, `--1`,
		`NaN`, `Infinity`, `-Infinity`, `nul`, `nulll`, `tru`, `truee`, `True`, `fals`, `"`, `"abc`, `"\`,
		`"\q"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", "\"a\x00b\"", "\"a\x1fb\"", `{} {}`, `{}x`, `1 2`, `[1]]`,
		`{"a":1}}`, `[1,2`, `{"a":[1,2}`, "\x00", `/* */{}`, `{"a":1 /* */}`, "\ufeff{}",
	}
	stack := make([]byte, 8)
	for _, s := range valid {
		if at, why := checkJSON([]byte(s), stack); why != "" {
			t.Errorf("checkJSON(%q) = %d, %q; want valid", s, at, why)
		}
		checkAgainstEncodingJSON(t, []byte(s), stack)
	}
	for _, s := range invalid {
		if _, why := checkJSON([]byte(s), stack); why == "" {
			t.Errorf("checkJSON(%q) accepts it", s)
		}
		checkAgainstEncodingJSON(t, []byte(s), stack)
	}
	for depth := 1; depth <= 10; depth++ {
		for _, s := range []string{strings.Repeat("[", depth) + strings.Repeat("]", depth), strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)} {
			at, why := checkJSON([]byte(s), stack)
			switch {
			case depth <= len(stack) && why != "":
				t.Errorf("checkJSON(%q) = %d, %q; want valid", s, at, why)
			case depth > len(stack) && why != whyTooDeep:
				t.Errorf("checkJSON(%q) = %d, %q; want %q", s, at, why, whyTooDeep)
			}
		}
	}
}

// FuzzCheckJSON compares checkJSON with encoding/json.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}],"c":"\u00e9"}`, `[[[[[[[[[[]]]]]]]]]]`, `-0.5e-7`, `"\ud83d\ude00"`, `{"a":1,}`} {
		f.Add([]byte(s))
	}
	stack := make([]byte, 8)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstEncodingJSON(t, b, stack)
	})
}

// quote's output is strconv.Quote of a prefix of its input, at most
// maxQuote bytes between the quotes, and cut no shorter than it must be.
func TestQuoteBound(t *testing.T) {
	inputs := []string{
		"", "short", strings.Repeat("x", maxQuote), strings.Repeat("x", maxQuote+1),
		strings.Repeat("é", 100), strings.Repeat("\x01", 100), strings.Repeat("\u2028", 100),
		strings.Repeat("\U000E0001", 100), strings.Repeat("\xff", 100), strings.Repeat(`"\`, 100),
		"x" + strings.Repeat("😀", 100), strings.Repeat("\n", 100), "\x80\x80\x80\x80" + strings.Repeat("a", 100),
	}
	for _, s := range inputs {
		q := quote([]byte(s))
		body, cut := strings.CutSuffix(q, "…")
		prefix, err := strconv.Unquote(body)
		if err != nil || len(body)-2 > maxQuote {
			t.Errorf("quote(%.20q…) = %s: %d bytes quoted, %v", s, q, len(body)-2, err)
			continue
		}
		if cut != (len(prefix) < len(s)) {
			t.Errorf("quote(%.20q…) = %s: cut %v, but quoted %d of %d bytes", s, q, cut, len(prefix), len(s))
		}
		if utf8.ValidString(s) && !strings.HasPrefix(s, prefix) {
			t.Errorf("quote(%.20q…) = %s: not a prefix", s, q)
		}
		if cut && len(body)-2 <= maxQuote-10 { // the widest escape is 10 bytes
			t.Errorf("quote(%.20q…) = %s: cut shorter than it must be", s, q)
		}
	}
}

// nesting returns how deep objects and arrays nest in b, which is valid
// JSON or else the answer does not matter.
func nesting(b []byte) int {
	depth, deepest := 0, 0
	in, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case in:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
