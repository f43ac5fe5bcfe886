// Package fetchmailrc parses fetchmail's run-control file (~/.fetchmailrc,
// as described in fetchmail(1), "THE RUN CONTROL FILE"): tokens with
// comments, single- and double-quoted strings with backslash escapes, the
// noise words and punctuation fetchmail ignores, the "set", "poll", "skip"
// and "defaults" statements, server options, and user entries with their
// "is ... here" / "to ... here" mappings. Options it does not know are kept
// with their line, so a converter can list what it could not map.
package fetchmailrc

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSize bounds the input of Parse.
const MaxSize = 1 << 20

// Token is one word of the file.
type Token struct {
	Text   string
	Quoted bool // a quoted string: never a keyword
	Line   int  // 1-based
}

// SyntaxError is a lexical error.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("fetchmailrc: line %d: %s", e.Line, e.Msg) }

// Tokenize splits src into tokens. '#' starts a comment outside quotes;
// ',', ':' and ';' separate words and are dropped (fetchmail ignores
// them); '=' is a token of its own (the "remote = local" mapping).
func Tokenize(src string) ([]Token, error) {
	if len(src) > MaxSize {
		return nil, &SyntaxError{Line: 1, Msg: fmt.Sprintf("file larger than %d bytes", MaxSize)}
	}
	var toks []Token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == ',' || c == ':' || c == ';':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '=':
			toks = append(toks, Token{Text: "=", Line: line})
			i++
		case c == '"' || c == '\'':
			start := line
			s, n, nl, err := unquote(src[i:])
			if err != nil {
				return nil, &SyntaxError{Line: start, Msg: err.Error()}
			}
			toks = append(toks, Token{Text: s, Quoted: true, Line: start})
			line += nl
			i += n
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\r\n,:;#=\"'", rune(src[j])) {
				j++
			}
			w := src[i:j]
			if !utf8.ValidString(w) {
				return nil, &SyntaxError{Line: line, Msg: "invalid UTF-8"}
			}
			toks = append(toks, Token{Text: w, Line: line})
			i = j
		}
	}
	return toks, nil
}

// unquote reads the quoted string at the start of s: its value, the bytes
// consumed and the newlines inside. Escapes: \n \t \r \b \\ \" \' and
// \xHH and \NNN (octal), as fetchmail's lexer takes them.
func unquote(s string) (string, int, int, error) {
	q := s[0]
	var b strings.Builder
	nl := 0
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			v := b.String()
			if !utf8.ValidString(v) {
				return "", 0, 0, fmt.Errorf("invalid UTF-8 in a string")
			}
			return v, i + 1, nl, nil
		case c == '\n':
			nl++
			b.WriteByte(c)
		case c == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'x':
				j := i + 1
				for j < len(s) && j < i+3 && strings.IndexByte("0123456789abcdefABCDEF", s[j]) >= 0 {
					j++
				}
				if j == i+1 {
					b.WriteByte('x')
					continue
				}
				v, _ := strconv.ParseUint(s[i+1:j], 16, 8)
				b.WriteByte(byte(v))
				i = j - 1
			case '0', '1', '2', '3', '4', '5', '6', '7':
				j := i
				for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
					j++
				}
				v, _ := strconv.ParseUint(s[i:j], 8, 16)
				b.WriteByte(byte(v))
				i = j - 1
			default:
				if e == '\n' {
					nl++
				}
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, 0, fmt.Errorf("unterminated %c string", q)
}
