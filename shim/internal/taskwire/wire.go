package taskwire

// The protobuf wire format's primitives
// (https://protobuf.dev/programming-guides/encoding/), named like
// protowire's. Not protowire itself: it imports protobuf's internal/errors,
// whose detrand package opens and reads the executable at init, in every
// shim process, before main.

// number is a field number, wireType a wire type.
type (
	number   int32
	wireType int8
)

const (
	varintType     wireType = 0
	fixed64Type    wireType = 1
	bytesType      wireType = 2
	startGroupType wireType = 3
	endGroupType   wireType = 4
	fixed32Type    wireType = 5
)

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendTag(b []byte, num number, typ wireType) []byte {
	return appendVarint(b, uint64(num)<<3|uint64(typ))
}

func appendBytes(b, v []byte) []byte {
	return append(appendVarint(b, uint64(len(v))), v...)
}

func appendString(b []byte, v string) []byte {
	return append(appendVarint(b, uint64(len(v))), v...)
}

// consumeVarint returns the value and its length, or a negative length if
// b does not start with a valid varint.
func consumeVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			if i == 9 && b[i] > 1 {
				return 0, -1 // overflows 64 bits
			}
			return v, i + 1
		}
	}
	return 0, -1
}

func consumeTag(b []byte) (number, wireType, int) {
	v, n := consumeVarint(b)
	if n < 0 || v>>3 == 0 || v>>3 > 1<<29-1 {
		return 0, 0, -1
	}
	return number(v >> 3), wireType(v & 7), n
}

func consumeBytes(b []byte) ([]byte, int) {
	l, n := consumeVarint(b)
	if n < 0 || l > uint64(len(b)-n) {
		return nil, -1
	}
	return b[n : n+int(l)], n + int(l)
}

// consumeFieldValue returns the length of a field's value of type typ (to
// skip an unknown field), or a negative length.
func consumeFieldValue(num number, typ wireType, b []byte) int {
	switch typ {
	case varintType:
		_, n := consumeVarint(b)
		return n
	case fixed64Type:
		if len(b) < 8 {
			return -1
		}
		return 8
	case fixed32Type:
		if len(b) < 4 {
			return -1
		}
		return 4
	case bytesType:
		_, n := consumeBytes(b)
		return n
	case startGroupType:
		for total := 0; ; {
			n2, t2, n := consumeTag(b[total:])
			if n < 0 {
				return -1
			}
			total += n
			if t2 == endGroupType {
				if n2 != num {
					return -1
				}
				return total
			}
			m := consumeFieldValue(n2, t2, b[total:])
			if m < 0 {
				return -1
			}
			total += m
		}
	}
	return -1
}
