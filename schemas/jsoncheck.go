package schemas

import "encoding/binary"

// checkJSON reports whether b is exactly one JSON text (RFC 8259: one value,
// optionally surrounded by whitespace) in which objects and arrays nest at
// most len(stack) deep; stack is the scanner's memory, one byte per level,
// so checking allocates nothing. It does not check UTF-8 (Decode does that
// first). On failure it returns the byte offset of the fault and what is
// wrong, a constant phrase for a sentence; on success why is "".
//
// It is the bound of invariant 6 (ARCHITECTURE.md) on the decoder: one forward
// pass with an explicit stack, no recursion, so its time is linear in
// len(b) and its memory constant whatever the input; it stops at the first
// fault, and at the first container deeper than len(stack), without
// looking at the rest. Its verdict, not its speed, is what the tree builder
// after it relies on: what passes has no nesting deeper than len(stack).
//
// The grammar is RFC 8259's, strictly: no NaN, Infinity, leading '+',
// leading zeros, "1.", ".5", single quotes, comments, trailing commas,
// unknown escapes or raw control characters in strings. "\u" escapes need
// four hex digits; unpaired surrogates are allowed, as RFC 8259 allows them
// (and encoding/json and fastjson's validator accept them).
func checkJSON(b []byte, stack []byte) (at int, why string) {
	n := len(b)
	depth := 0
	i := 0

value: // a value starts at i, after optional whitespace
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if i >= n {
		return i, whyEnd
	}
	switch b[i] {
	case '{':
		if depth == len(stack) {
			return i, whyTooDeep
		}
		stack[depth] = '}'
		depth++
		i++
		for i < n && jsonSpace[b[i]] {
			i++
		}
		if i < n && b[i] == '}' {
			depth--
			i++
			goto next
		}
		goto key
	case '[':
		if depth == len(stack) {
			return i, whyTooDeep
		}
		stack[depth] = ']'
		depth++
		i++
		for i < n && jsonSpace[b[i]] {
			i++
		}
		if i < n && b[i] == ']' {
			depth--
			i++
			goto next
		}
		goto value
	case '"':
		if i, why = scanString(b, i+1); why != "" {
			return i, why
		}
	case 't':
		if n-i < 4 || string(b[i:i+4]) != "true" {
			return i, whyValue
		}
		i += 4
	case 'f':
		if n-i < 5 || string(b[i:i+5]) != "false" {
			return i, whyValue
		}
		i += 5
	case 'n':
		if n-i < 4 || string(b[i:i+4]) != "null" {
			return i, whyValue
		}
		i += 4
	default:
		if i, why = scanNumber(b, i); why != "" {
			return i, why
		}
	}

next: // a value ended at i: what may follow depends on its container
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if depth == 0 {
		if i != n {
			return i, whyTail
		}
		return n, ""
	}
	if i >= n {
		return i, whyEnd
	}
	if c := b[i]; c == ',' {
		i++
		if stack[depth-1] == ']' {
			goto value
		}
		goto key
	} else if c == stack[depth-1] {
		depth--
		i++
		goto next
	}
	if stack[depth-1] == '}' {
		return i, "want ',' or '}' after an object member"
	}
	return i, "want ',' or ']' after an array element"

key: // an object member starts at i, after optional whitespace
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if i >= n {
		return i, whyEnd
	}
	if b[i] != '"' {
		return i, "want a string as an object key"
	}
	if i, why = scanString(b, i+1); why != "" {
		return i, why
	}
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if i >= n {
		return i, whyEnd
	}
	if b[i] != ':' {
		return i, "want ':' after an object key"
	}
	i++
	goto value
}

// The faults checkJSON reports that more than one place finds.
const (
	whyEnd     = "unexpected end of input"
	whyTooDeep = "objects and arrays nest too deep"
	whyValue   = "want a JSON value"
	whyTail    = "more after the JSON value"
	whyNumber  = "invalid number"
)

// scanString scans the rest of a JSON string whose opening quote is just
// before b[i], returning the offset just after its closing quote.
func scanString(b []byte, i int) (int, string) {
	n := len(b)
	for {
		// Eight bytes at a time while none is '"', '\\' or a control
		// character, then byte by byte. (v-ones)&^v&highs is non-zero
		// exactly when a byte of v is zero, and (x-0x20 in each byte)&^x&highs
		// when a byte of x is below 0x20: borrows cause false alarms only
		// above a true one.
		for i+8 <= n {
			x := binary.LittleEndian.Uint64(b[i:])
			const ones, highs = 0x0101010101010101, 0x8080808080808080
			q := x ^ (ones * '"')
			s := x ^ (ones * '\\')
			if ((q-ones)&^q|(s-ones)&^s|(x-ones*0x20)&^x)&highs != 0 {
				break
			}
			i += 8
		}
		for i < n && jsonPlain[b[i]] {
			i++
		}
		if i >= n {
			return i, "unterminated string"
		}
		switch b[i] {
		case '"':
			return i + 1, ""
		case '\\':
			if i+1 >= n {
				return i, "unterminated string"
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if n-i < 6 || !jsonHex[b[i+2]] || !jsonHex[b[i+3]] || !jsonHex[b[i+4]] || !jsonHex[b[i+5]] {
					return i, `want four hex digits after \u`
				}
				i += 6
			default:
				return i, "invalid escape in a string"
			}
		default: // below 0x20
			return i, "control character in a string"
		}
	}
}

// scanNumber scans a JSON number starting at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// returning the offset just after it. What follows is the caller's to
// judge ("01" is the number 0 followed by a fault).
func scanNumber(b []byte, i int) (int, string) {
	n := len(b)
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < n && b[i] == '0':
		i++
	case i < n && '1' <= b[i] && b[i] <= '9':
		i++
		for i < n && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	case i == start:
		return i, whyValue // not a number at all: '}', ',', 'N', …
	default:
		return i, whyNumber
	}
	if i < n && b[i] == '.' {
		i++
		if i >= n || b[i] < '0' || b[i] > '9' {
			return i, whyNumber
		}
		for i < n && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= n || b[i] < '0' || b[i] > '9' {
			return i, whyNumber
		}
		for i < n && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	return i, ""
}

// Byte classes of the JSON grammar.
var (
	jsonSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}
	jsonHex   [256]bool // 0-9, a-f, A-F
	jsonPlain [256]bool // a string byte that needs no second look: not '"', '\\' or a control character
)

func init() {
	for c := range 256 {
		jsonHex[c] = '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
		jsonPlain[c] = c >= 0x20 && c != '"' && c != '\\'
	}
}
