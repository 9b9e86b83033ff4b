package logfile

import (
	"time"
	"unicode/utf8"
)

// MaxLineSize is the largest log payload stored in one entry. Longer lines
// are split into several entries, as Docker's json-file driver does; only the
// last piece carries the line's trailing newline.
const MaxLineSize = 16 * 1024

const hexDigits = "0123456789abcdef"

// plain[b] is true for the ASCII bytes copied as they are.
var plain = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendEntry appends one json-file line ({"log":…,"stream":…,"time":…}\n)
// to dst. It produces the same JSON value as encoding/json for any input:
// invalid UTF-8 becomes U+FFFD and control characters are escaped; it does
// not apply encoding/json's HTML escaping, which a log file does not need.
func appendEntry(dst []byte, stream string, line []byte, t time.Time) []byte {
	var ts [40]byte
	return appendEntryTS(dst, stream, line, appendTime(ts[:0], t))
}

// appendTime appends t as the entry's time field value.
func appendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

// appendEntryTS is appendEntry with the time already formatted (a batch of
// lines read at once shares one time).
func appendEntryTS(dst []byte, stream string, line []byte, ts []byte) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendJSONString(dst, line)
	dst = append(dst, `","stream":"`...)
	dst = appendJSONString(dst, []byte(stream))
	dst = append(dst, `","time":"`...)
	dst = append(dst, ts...)
	dst = append(dst, "\"}\n"...)
	return dst
}

// appendJSONString appends the body of a JSON string literal (without the
// quotes) holding s.
func appendJSONString(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if plain[b] {
			i++
			continue
		}
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript
		// consumers; escape them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
