package schemas

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// cond is a compiled condition of a TypeRule (see TypeRule.When for the
// grammar). Evaluating it allocates nothing.
type cond struct {
	op   condOp
	path fieldPath // opEq, opNe, opIn, opNotIn
	vals []string  // opEq, opNe: one; opIn, opNotIn: one or more
	a, b *cond     // opAnd, opOr: both; opNot: a
}

type condOp uint8

const (
	opEq condOp = iota + 1
	opNe
	opIn
	opNotIn
	opAnd
	opOr
	opNot
)

// eval says whether the condition holds for the record v.
func (c *cond) eval(v *fastjson.Value) bool {
	switch c.op {
	case opAnd:
		return c.a.eval(v) && c.b.eval(v)
	case opOr:
		return c.a.eval(v) || c.b.eval(v)
	case opNot:
		return !c.a.eval(v)
	}
	in := false
	if f := v.Get(c.path.keys...); f != nil && f.Type() == fastjson.TypeString {
		s, _ := f.StringBytes()
		for _, want := range c.vals {
			if string(s) == want { // no allocation: the compiler compares the bytes
				in = true
				break
			}
		}
	}
	if c.op == opNe || c.op == opNotIn {
		return !in
	}
	return in
}

// paths calls fn with each path c tests, in the order written.
func (c *cond) paths(fn func(fieldPath)) {
	switch c.op {
	case opAnd, opOr:
		c.a.paths(fn)
		c.b.paths(fn)
	case opNot:
		c.a.paths(fn)
	default:
		fn(c.path)
	}
}

// String writes c in the canonical form: single spaces, strings quoted
// with strconv.Quote, and parentheses only where the grammar needs them.
// Parsing it gives the same condition.
func (c *cond) String() string {
	var b strings.Builder
	c.write(&b, 0)
	return b.String()
}

// write writes c in a context of binding strength ctx: 0 top (or), 1 the
// operand of an and, 2 the operand of a not.
func (c *cond) write(b *strings.Builder, ctx int) {
	switch c.op {
	case opOr, opAnd:
		strength, word := 0, " or "
		if c.op == opAnd {
			strength, word = 1, " and "
		}
		if ctx > strength {
			b.WriteByte('(')
		}
		c.a.write(b, strength)
		b.WriteString(word)
		// Both operators associate to the left: a right operand of the same
		// operator keeps its parentheses (the meaning is the same, but the
		// canonical form is then the parsed form).
		c.b.write(b, strength+1)
		if ctx > strength {
			b.WriteByte(')')
		}
	case opNot:
		b.WriteString("not ")
		c.a.write(b, 2)
	default:
		b.WriteString(c.path.name)
		switch c.op {
		case opEq:
			b.WriteString(" == ")
		case opNe:
			b.WriteString(" != ")
		case opIn:
			b.WriteString(" in ")
		case opNotIn:
			b.WriteString(" not in ")
		}
		if c.op == opEq || c.op == opNe {
			b.WriteString(strconv.Quote(c.vals[0]))
			return
		}
		b.WriteByte('(')
		for i, v := range c.vals {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(v))
		}
		b.WriteByte(')')
	}
}

// maxCondBytes bounds a condition's text, and so the work of evaluating
// it per record.
const maxCondBytes = 4096

// parseCond compiles a condition (TypeRule.When).
func parseCond(s string) (*cond, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("is empty; want a condition like event == \"Order Completed\"")
	}
	if len(s) > maxCondBytes {
		return nil, fmt.Errorf("is %d bytes long; at most %d", len(s), maxCondBytes)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &condParser{toks: toks}
	c, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEnd {
		return nil, fmt.Errorf("unexpected %s at column %d; want and, or, or the end", t, t.col)
	}
	return c, nil
}

type tokKind uint8

const (
	tokEnd  tokKind = iota
	tokWord         // a path or a keyword
	tokString
	tokLParen
	tokRParen
	tokComma
	tokEq
	tokNe
)

type token struct {
	kind tokKind
	text string // a word, or a string's value
	col  int    // 1-based
}

func (t token) String() string {
	switch t.kind {
	case tokEnd:
		return "end of condition"
	case tokString:
		return "string " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.text)
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c == '-' || c == '.' || c >= 0x80
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i + 1})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i + 1})
			i++
		case c == ',':
			toks = append(toks, token{tokComma, ",", i + 1})
			i++
		case c == '=' || c == '!':
			if i+1 >= len(s) || s[i+1] != '=' {
				return nil, fmt.Errorf("%q at column %d: want == or !=", c, i+1)
			}
			k := tokEq
			if c == '!' {
				k = tokNe
			}
			toks = append(toks, token{k, s[i : i+2], i + 1})
			i += 2
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("the string at column %d has no closing \"", i+1)
			}
			v, err := strconv.Unquote(s[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("the string at column %d is not valid (%v)", i+1, err)
			}
			toks = append(toks, token{tokString, v, i + 1})
			i = j + 1
		case c == '\'':
			return nil, fmt.Errorf("' at column %d: write strings in double quotes", i+1)
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{tokWord, s[i:j], i + 1})
			i = j
		default:
			return nil, fmt.Errorf("%q at column %d is not part of a condition", c, i+1)
		}
	}
	return append(toks, token{kind: tokEnd, col: len(s) + 1}), nil
}

type condParser struct {
	toks []token
	i    int
}

func (p *condParser) peek() token { return p.toks[p.i] }
func (p *condParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEnd {
		p.i++
	}
	return t
}
func (p *condParser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tokWord && t.text == w
}

// maxCondDepth bounds the nesting of parentheses and nots, so that a
// condition cannot exhaust the stack.
const maxCondDepth = 32

func (p *condParser) or(depth int) (*cond, error) {
	a, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		p.next()
		b, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		a = &cond{op: opOr, a: a, b: b}
	}
	return a, nil
}

func (p *condParser) and(depth int) (*cond, error) {
	a, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		p.next()
		b, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		a = &cond{op: opAnd, a: a, b: b}
	}
	return a, nil
}

func (p *condParser) unary(depth int) (*cond, error) {
	if depth >= maxCondDepth {
		return nil, fmt.Errorf("nests parentheses and nots more than %d deep", maxCondDepth)
	}
	t := p.next()
	switch {
	case t.kind == tokWord && t.text == "not":
		a, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &cond{op: opNot, a: a}, nil
	case t.kind == tokLParen:
		c, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if r := p.next(); r.kind != tokRParen {
			return nil, fmt.Errorf("unexpected %s at column %d; want ) to close the ( at column %d", r, r.col, t.col)
		}
		return c, nil
	case t.kind == tokWord && !isKeyword(t.text):
		if why := checkPath(t.text); why != "" {
			return nil, fmt.Errorf("field %q at column %d %s", t.text, t.col, why)
		}
		path := fieldPath{keys: strings.Split(t.text, "."), name: t.text}
		op := p.next()
		switch {
		case op.kind == tokEq || op.kind == tokNe:
			v := p.next()
			if v.kind != tokString {
				return nil, fmt.Errorf("unexpected %s at column %d; want a string in double quotes after %s", v, v.col, op.text)
			}
			k := opEq
			if op.kind == tokNe {
				k = opNe
			}
			return &cond{op: k, path: path, vals: []string{v.text}}, nil
		case op.kind == tokWord && op.text == "in":
			return p.list(opIn, path)
		case op.kind == tokWord && op.text == "not" && p.isWord("in"):
			p.next()
			return p.list(opNotIn, path)
		}
		return nil, fmt.Errorf("unexpected %s at column %d; want ==, !=, in or not in after the field %s", op, op.col, t.text)
	}
	return nil, fmt.Errorf("unexpected %s at column %d; want a field name (like event), not or (", t, t.col)
}

func (p *condParser) list(op condOp, path fieldPath) (*cond, error) {
	if t := p.next(); t.kind != tokLParen {
		return nil, fmt.Errorf("unexpected %s at column %d; want ( and a list of strings after in", t, t.col)
	}
	c := &cond{op: op, path: path}
	for {
		v := p.next()
		if v.kind != tokString {
			return nil, fmt.Errorf("unexpected %s at column %d; want a string in double quotes", v, v.col)
		}
		c.vals = append(c.vals, v.text)
		switch t := p.next(); t.kind {
		case tokComma:
		case tokRParen:
			return c, nil
		default:
			return nil, fmt.Errorf("unexpected %s at column %d; want , or )", t, t.col)
		}
	}
}

func isKeyword(w string) bool { return w == "and" || w == "or" || w == "not" || w == "in" }
