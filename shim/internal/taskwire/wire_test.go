package taskwire

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestWirePrimitives compares the hand-written primitives with protowire's.
func TestWirePrimitives(t *testing.T) {
	minus1, minInt32 := int64(-1), int64(math.MinInt32)
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<32 - 1, 1 << 35, uint64(math.MaxInt64), math.MaxUint64, uint64(minus1), uint64(minInt32)} {
		ours, theirs := appendVarint(nil, v), protowire.AppendVarint(nil, v)
		if !bytes.Equal(ours, theirs) {
			t.Errorf("varint %d: %x, protowire %x", v, ours, theirs)
		}
		if got, n := consumeVarint(theirs); got != v || n != len(theirs) {
			t.Errorf("consume varint %d: %d (%d bytes)", v, got, n)
		}
	}
	if _, n := consumeVarint([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}); n >= 0 {
		t.Error("varint overflowing 64 bits accepted")
	}
	if _, n := consumeVarint([]byte{0x80}); n >= 0 {
		t.Error("truncated varint accepted")
	}
	if !bytes.Equal(appendTag(nil, 536870911, bytesType), protowire.AppendTag(nil, 536870911, protowire.BytesType)) {
		t.Error("tag of the largest field number")
	}
	// Unknown fields of every wire type are skipped as protowire skips them.
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 7)
	b = protowire.AppendTag(b, 2, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 7)
	b = protowire.AppendTag(b, 3, protowire.StartGroupType)
	b = protowire.AppendTag(b, 4, protowire.VarintType)
	b = protowire.AppendVarint(b, 9)
	b = protowire.AppendTag(b, 3, protowire.EndGroupType)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendString(b, "x")
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		pnum, ptyp, pn := protowire.ConsumeTag(b)
		if num != number(pnum) || typ != wireType(ptyp) || n != pn {
			t.Fatalf("tag %x: %d %d %d, protowire %d %d %d", b, num, typ, n, pnum, ptyp, pn)
		}
		b = b[n:]
		m, pm := consumeFieldValue(num, typ, b), protowire.ConsumeFieldValue(pnum, ptyp, b)
		if m != pm {
			t.Fatalf("field %d of type %d: %d bytes, protowire %d", num, typ, m, pm)
		}
		b = b[m:]
	}
}
