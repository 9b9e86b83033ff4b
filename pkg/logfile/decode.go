package logfile

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// decodeEntry parses a line as the Writer makes it,
// {"log":"…","stream":"stdout"|"stderr","time":"…"}, without reflection:
// reading a chatty container's log back is mostly this. ok is false for
// anything else (another key order, Docker's "attrs", an escape the Writer
// never makes, invalid UTF-8), which dispatch gives to encoding/json, so
// that every line reads as encoding/json reads it.
func decodeEntry(line []byte) (e Entry, ok bool) {
	p, ok := bytes.CutPrefix(line, []byte(`{"log":"`))
	if !ok {
		return Entry{}, false
	}
	log, p, ok := cutString(p)
	if !ok {
		return Entry{}, false
	}
	if p, ok = bytes.CutPrefix(p, []byte(`,"stream":"`)); !ok {
		return Entry{}, false
	}
	switch {
	case bytes.HasPrefix(p, []byte(`stdout"`)):
		e.Stream = "stdout"
	case bytes.HasPrefix(p, []byte(`stderr"`)):
		e.Stream = "stderr"
	default:
		return Entry{}, false
	}
	if p, ok = bytes.CutPrefix(p[len(`stdout"`):], []byte(`,"time":"`)); !ok {
		return Entry{}, false
	}
	ts, ok := bytes.CutSuffix(p, []byte(`"}`))
	if !ok || bytes.IndexByte(ts, '"') >= 0 {
		return Entry{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Entry{}, false
	}
	e.Line, e.Time = log, t
	return e, true
}

// cutString reads the body of a JSON string literal up to its closing
// quote and returns it unescaped (a new slice) and what follows the quote.
// It knows the escapes appendJSONString makes (and \/, \b, \f); ok is false
// for any other, a surrogate pair, a control character or invalid UTF-8.
func cutString(p []byte) (s, rest []byte, ok bool) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch {
		case b == '"':
			s, ok := unescape(make([]byte, 0, i), p[:i])
			return s, p[i+1:], ok
		case b < 0x20:
			return nil, nil, false
		case b >= utf8.RuneSelf:
			// Check the rune here: encoding/json turns invalid
			// UTF-8 into U+FFFD, the slow path does that.
			r, size := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, nil, false
			}
			i += size - 1
		case b == '\\':
			i++ // the escaped byte cannot be the closing quote
		}
	}
	return nil, nil, false
}

// unescape appends body (a string literal's body, its runes checked by
// cutString) to out with its escapes resolved.
func unescape(out, body []byte) ([]byte, bool) {
	for {
		i := bytes.IndexByte(body, '\\')
		if i < 0 {
			return append(out, body...), true
		}
		out = append(out, body[:i]...)
		if i+1 >= len(body) {
			return nil, false
		}
		switch c := body[i+1]; c {
		case '"', '\\', '/':
			out = append(out, c)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			if i+6 > len(body) {
				return nil, false
			}
			var r rune
			for _, h := range body[i+2 : i+6] {
				v := unhex(h)
				if v < 0 {
					return nil, false
				}
				r = r<<4 | rune(v)
			}
			if utf8.RuneLen(r) < 0 || (r >= 0xd800 && r < 0xe000) {
				return nil, false // a surrogate: encoding/json pairs them
			}
			out = utf8.AppendRune(out, r)
			body = body[i+6:]
			continue
		default:
			return nil, false
		}
		body = body[i+2:]
	}
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
