package ttrpcwire

import (
	"encoding/binary"
	"io"
)

const (
	headerLength = 10
	// maxMessage is ttrpc's messageLengthMax.
	maxMessage = 4 << 20

	typeRequest  = 1
	typeResponse = 2
	typeData     = 3
)

type header struct {
	length   uint32
	streamID uint32
	typ      byte
	flags    byte
}

func readHeader(r io.Reader) (header, error) {
	var b [headerLength]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return header{}, err
	}
	return header{
		length:   binary.BigEndian.Uint32(b[0:4]),
		streamID: binary.BigEndian.Uint32(b[4:8]),
		typ:      b[8],
		flags:    b[9],
	}, nil
}

// frame is a message with its header, ready to be written at once.
func frame(streamID uint32, typ byte, payload []byte) []byte {
	b := make([]byte, headerLength, headerLength+len(payload))
	binary.BigEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:8], streamID)
	b[8] = typ
	return append(b, payload...)
}
