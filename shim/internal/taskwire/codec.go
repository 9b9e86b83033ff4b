// Package taskwire is the protobuf wire format of the containerd messages
// berth's shim sends and receives (task API v2/v3, task events, the event
// forwarding request, bootstrap, runc options, cgroup metrics), written by
// hand (wire.go) so that the shim links no protobuf registry, no
// generated API package, no gogo and no gRPC.
//
// Messages are plain Go structs named like the generated ones; each field
// carries its protobuf field number in a `pb:"N"` tag. Marshal and
// Unmarshal walk those tags. The field numbers are containerd's (api
// v1.11.1, cgroups v3): the package's tests round-trip every message
// against the generated types, which is what keeps the shim on the stable
// API.
//
// Supported field types: string, []byte, bool, uint32, uint64, int32 (and
// named int32 enums), int64, time.Time (google.protobuf.Timestamp; "opt"
// omits a zero time), *Struct (a nested message, omitted when nil),
// []string, []uint64 (packed), []*Struct and map[string]string.
package taskwire

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

type field struct {
	num   number
	index int
	opt   bool
}

// fields lists a struct type's tagged fields.
func fields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		tag, ok := t.Field(i).Tag.Lookup("pb")
		if !ok {
			continue
		}
		num, rest, _ := strings.Cut(tag, ",")
		n, err := strconv.Atoi(num)
		if err != nil {
			panic(fmt.Sprintf("taskwire: %s.%s: bad tag %q", t, t.Field(i).Name, tag))
		}
		fs = append(fs, field{num: number(n), index: i, opt: rest == "opt"})
	}
	return fs
}

// Marshal encodes a pointer to a message struct.
func Marshal(m any) []byte {
	v := reflect.ValueOf(m)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	return appendMessage(nil, v)
}

func appendMessage(b []byte, v reflect.Value) []byte {
	for _, f := range fields(v.Type()) {
		b = appendField(b, f, v.Field(f.index))
	}
	return b
}

func appendField(b []byte, f field, v reflect.Value) []byte {
	if v.Type() == timeType {
		t := v.Interface().(time.Time)
		if f.opt && t.IsZero() {
			return b
		}
		return appendTimestamp(b, f.num, t)
	}
	switch v.Kind() {
	case reflect.String:
		if v.Len() > 0 {
			b = appendTag(b, f.num, bytesType)
			b = appendString(b, v.String())
		}
	case reflect.Bool:
		if v.Bool() {
			b = appendTag(b, f.num, varintType)
			b = appendVarint(b, 1)
		}
	case reflect.Uint32, reflect.Uint64:
		if v.Uint() != 0 {
			b = appendTag(b, f.num, varintType)
			b = appendVarint(b, v.Uint())
		}
	case reflect.Int32, reflect.Int64:
		if v.Int() != 0 {
			b = appendTag(b, f.num, varintType)
			b = appendVarint(b, uint64(v.Int()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			b = appendNested(b, f.num, v.Elem())
		}
	case reflect.Slice:
		b = appendSlice(b, f.num, v)
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, c reflect.Value) int { return strings.Compare(a.String(), c.String()) })
		for _, k := range keys {
			var e []byte
			e = appendTag(e, 1, bytesType)
			e = appendString(e, k.String())
			e = appendTag(e, 2, bytesType)
			e = appendString(e, v.MapIndex(k).String())
			b = appendTag(b, f.num, bytesType)
			b = appendBytes(b, e)
		}
	default:
		panic("taskwire: unsupported field type " + v.Type().String())
	}
	return b
}

func appendSlice(b []byte, num number, v reflect.Value) []byte {
	if v.Len() == 0 {
		return b
	}
	switch v.Type().Elem().Kind() {
	case reflect.Uint8: // bytes
		b = appendTag(b, num, bytesType)
		return appendBytes(b, v.Bytes())
	case reflect.String:
		for i := range v.Len() {
			b = appendTag(b, num, bytesType)
			b = appendString(b, v.Index(i).String())
		}
	case reflect.Uint64:
		var p []byte
		for i := range v.Len() {
			p = appendVarint(p, v.Index(i).Uint())
		}
		b = appendTag(b, num, bytesType)
		b = appendBytes(b, p)
	case reflect.Pointer:
		for i := range v.Len() {
			b = appendNested(b, num, v.Index(i).Elem())
		}
	default:
		panic("taskwire: unsupported slice type " + v.Type().String())
	}
	return b
}

func appendNested(b []byte, num number, v reflect.Value) []byte {
	b = appendTag(b, num, bytesType)
	return appendBytes(b, appendMessage(nil, v))
}

func appendTimestamp(b []byte, num number, t time.Time) []byte {
	var e []byte
	if s := t.Unix(); s != 0 {
		e = appendTag(e, 1, varintType)
		e = appendVarint(e, uint64(s))
	}
	if n := t.Nanosecond(); n != 0 {
		e = appendTag(e, 2, varintType)
		e = appendVarint(e, uint64(n))
	}
	b = appendTag(b, num, bytesType)
	return appendBytes(b, e)
}

var errMalformed = errors.New("taskwire: malformed message")

// Unmarshal decodes b into a pointer to a message struct. Unknown fields are
// skipped, as protobuf requires.
func Unmarshal(b []byte, m any) error {
	_, err := UnmarshalUnknown(b, m)
	return err
}

// UnmarshalUnknown is Unmarshal that also names the fields it skipped, as
// "Message.N" (N the field number): what a newer peer sent that this
// hand-written type does not know.
func UnmarshalUnknown(b []byte, m any) (unknown []string, err error) {
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, errors.New("taskwire: Unmarshal needs a non-nil pointer")
	}
	v = v.Elem()
	v.SetZero()
	err = decodeMessage(b, v, &unknown)
	return unknown, err
}

// decodeMessage decodes b into v, appending the fields it skips to unknown.
func decodeMessage(b []byte, v reflect.Value, unknown *[]string) error {
	fs := fields(v.Type())
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		i := slices.IndexFunc(fs, func(f field) bool { return f.num == num })
		if i < 0 {
			n = consumeFieldValue(num, typ, b)
			if n < 0 {
				return errMalformed
			}
			b = b[n:]
			if unknown != nil {
				*unknown = append(*unknown, v.Type().Name()+"."+strconv.Itoa(int(num)))
			}
			continue
		}
		n, err := decodeField(b, typ, v.Field(fs[i].index), unknown)
		if err != nil {
			return fmt.Errorf("%s field %d: %w", v.Type().Name(), num, err)
		}
		b = b[n:]
	}
	return nil
}

// decodeField decodes one value of wire type typ into v and returns the
// bytes consumed.
func decodeField(b []byte, typ wireType, v reflect.Value, unknown *[]string) (int, error) {
	if typ == varintType {
		x, n := consumeVarint(b)
		if n < 0 {
			return 0, errMalformed
		}
		switch v.Kind() {
		case reflect.Bool:
			v.SetBool(x != 0)
		case reflect.Uint32:
			v.SetUint(uint64(uint32(x)))
		case reflect.Uint64:
			v.SetUint(x)
		case reflect.Int32:
			v.SetInt(int64(int32(x)))
		case reflect.Int64:
			v.SetInt(int64(x))
		case reflect.Slice:
			if v.Type().Elem().Kind() != reflect.Uint64 {
				return 0, errMalformed
			}
			v.Set(reflect.Append(v, reflect.ValueOf(x)))
		default:
			return 0, errMalformed
		}
		return n, nil
	}
	if typ != bytesType {
		return 0, errMalformed
	}
	p, n := consumeBytes(b)
	if n < 0 {
		return 0, errMalformed
	}
	if v.Type() == timeType {
		t, err := decodeTimestamp(p)
		if err != nil {
			return 0, err
		}
		v.Set(reflect.ValueOf(t))
		return n, nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(string(p))
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		if err := decodeMessage(p, e.Elem(), unknown); err != nil {
			return 0, err
		}
		v.Set(e)
	case reflect.Slice:
		switch v.Type().Elem().Kind() {
		case reflect.Uint8:
			v.SetBytes(slices.Clone(p))
		case reflect.String:
			v.Set(reflect.Append(v, reflect.ValueOf(string(p))))
		case reflect.Uint64: // packed
			for len(p) > 0 {
				x, m := consumeVarint(p)
				if m < 0 {
					return 0, errMalformed
				}
				v.Set(reflect.Append(v, reflect.ValueOf(x)))
				p = p[m:]
			}
		case reflect.Pointer:
			e := reflect.New(v.Type().Elem().Elem())
			if err := decodeMessage(p, e.Elem(), unknown); err != nil {
				return 0, err
			}
			v.Set(reflect.Append(v, e))
		default:
			return 0, errMalformed
		}
	case reflect.Map:
		var kv struct {
			Key   string `pb:"1"`
			Value string `pb:"2"`
		}
		if err := decodeMessage(p, reflect.ValueOf(&kv).Elem(), unknown); err != nil {
			return 0, err
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		v.SetMapIndex(reflect.ValueOf(kv.Key), reflect.ValueOf(kv.Value))
	default:
		return 0, errMalformed
	}
	return n, nil
}

func decodeTimestamp(p []byte) (time.Time, error) {
	var ts struct {
		Seconds int64 `pb:"1"`
		Nanos   int32 `pb:"2"`
	}
	if err := decodeMessage(p, reflect.ValueOf(&ts).Elem(), nil); err != nil {
		return time.Time{}, err
	}
	return time.Unix(ts.Seconds, int64(ts.Nanos)).UTC(), nil
}
