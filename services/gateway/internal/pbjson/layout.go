package pbjson

import (
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Reading a message through protoreflect costs a reflection call per
// field (most of pbjson's time on a page of a hundred small messages).
// A generated message is a Go struct whose fields carry their proto
// numbers in a `protobuf:"…"` tag (what protobuf-go's own fast paths
// read): for the message types made only of the shapes the API's answers
// use (strings, bools, 32-bit and 64-bit integers, enums, messages,
// repeated strings and messages, in proto3 without explicit presence), the
// encoder reads the struct's fields at their offsets, with protojson's rule
// of presence (a scalar is written when it is not its zero value, a string
// or a list when not empty, a message when set). Any other shape (floats,
// bytes, oneofs, maps, optional fields, other repeated kinds, a Go field of
// an unexpected type), and any value not of the registered Go type
// (dynamic messages), goes through protoreflect.

type directKind uint8

const (
	dString directKind = iota
	dBool
	dInt32
	dInt64
	dUint64
	dEnum
	dMessage
	dStrings  // repeated string
	dMessages // repeated message
)

type directField struct {
	index  int // the field's declaration index (codec.fields)
	offset uintptr
	kind   directKind
	elem   reflect.Type // a message field's Go type (pointer to struct)
}

// directLayout maps md's fields to its generated struct, or returns nil
// when one field is of a shape read through protoreflect.
func directLayout(md protoreflect.MessageDescriptor, fields []field) (reflect.Type, []directField) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil || mt.Descriptor() != md {
		return nil, nil
	}
	ptr := reflect.TypeOf(mt.Zero().Interface())
	if ptr.Kind() != reflect.Pointer || ptr.Elem().Kind() != reflect.Struct {
		return nil, nil
	}
	st := ptr.Elem()
	byNumber := map[protoreflect.FieldNumber]reflect.StructField{}
	for i := 0; i < st.NumField(); i++ {
		sf := st.Field(i)
		if _, oneof := sf.Tag.Lookup("protobuf_oneof"); oneof {
			return nil, nil
		}
		tag, ok := sf.Tag.Lookup("protobuf")
		if !ok {
			continue
		}
		parts := strings.Split(tag, ",")
		if len(parts) < 2 {
			return nil, nil
		}
		n, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil, nil
		}
		byNumber[protoreflect.FieldNumber(n)] = sf
	}
	var out []directField
	for i := range fields {
		fd := fields[i].fd
		sf, ok := byNumber[fd.Number()]
		if !ok || fd.IsMap() || fd.ContainingOneof() != nil || fd.IsExtension() || fd.IsWeak() ||
			(!fd.IsList() && fd.HasPresence() && fd.Message() == nil) {
			return nil, nil
		}
		df := directField{index: i, offset: sf.Offset}
		t := sf.Type
		if fd.IsList() {
			switch {
			case fd.Kind() == protoreflect.StringKind && t == reflect.TypeFor[[]string]():
				df.kind = dStrings
			case fd.Message() != nil && t.Kind() == reflect.Slice && isMessagePointer(t.Elem()):
				df.kind, df.elem = dMessages, t.Elem()
			default:
				return nil, nil
			}
			out = append(out, df)
			continue
		}
		var want reflect.Kind
		switch fd.Kind() {
		case protoreflect.StringKind:
			df.kind, want = dString, reflect.String
		case protoreflect.BoolKind:
			df.kind, want = dBool, reflect.Bool
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			df.kind, want = dInt32, reflect.Int32
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			df.kind, want = dInt64, reflect.Int64
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			df.kind, want = dUint64, reflect.Uint64
		case protoreflect.EnumKind:
			df.kind, want = dEnum, reflect.Int32
		case protoreflect.MessageKind:
			if !isMessagePointer(t) {
				return nil, nil
			}
			df.kind, df.elem, want = dMessage, t, reflect.Pointer
		default:
			return nil, nil
		}
		if t.Kind() != want {
			return nil, nil
		}
		out = append(out, df)
	}
	return ptr, out
}

func isMessagePointer(t reflect.Type) bool {
	return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Implements(reflect.TypeFor[proto.Message]())
}

// direct writes the message at p (a pointer to c's generated struct).
func (e *encoder) direct(c *codec, p unsafe.Pointer) error {
	e.out = append(e.out, '{')
	if p == nil {
		e.out = append(e.out, '}')
		return nil
	}
	first := true
	for i := range c.direct {
		df := &c.direct[i]
		at := unsafe.Add(p, df.offset)
		if !present(df.kind, at) {
			continue
		}
		f := &c.fields[df.index]
		if !first {
			e.out = append(e.out, comma...)
		}
		first = false
		e.out = append(e.out, f.name...)
		if err := e.directValue(df, &f.val, at); err != nil {
			return err
		}
	}
	e.out = append(e.out, '}')
	return nil
}

// present is protojson's (protoreflect's Has) for a field stored at at.
func present(k directKind, at unsafe.Pointer) bool {
	switch k {
	case dString:
		return len(*(*string)(at)) > 0
	case dBool:
		return *(*bool)(at)
	case dInt32, dEnum:
		return *(*int32)(at) != 0
	case dInt64:
		return *(*int64)(at) != 0
	case dUint64:
		return *(*uint64)(at) != 0
	case dMessage:
		return *(*unsafe.Pointer)(at) != nil
	case dStrings:
		return len(*(*[]string)(at)) > 0
	case dMessages:
		return len(*(*[]unsafe.Pointer)(at)) > 0
	}
	return false
}

func (e *encoder) directValue(df *directField, v *value, at unsafe.Pointer) error {
	var err error
	switch df.kind {
	case dString:
		e.out, err = appendJSONString(e.out, *(*string)(at))
	case dBool:
		e.out = append(e.out, "true"...) // present: true
	case dInt32:
		e.out = strconv.AppendInt(e.out, int64(*(*int32)(at)), 10)
	case dInt64:
		e.out = append(strconv.AppendInt(append(e.out, '"'), *(*int64)(at), 10), '"')
	case dUint64:
		e.out = append(strconv.AppendUint(append(e.out, '"'), *(*uint64)(at), 10), '"')
	case dEnum:
		return e.value(v, protoreflect.ValueOfEnum(protoreflect.EnumNumber(*(*int32)(at))))
	case dMessage:
		return e.subMessage(v, df.elem, *(*unsafe.Pointer)(at))
	case dStrings:
		e.out = append(e.out, '[')
		for i, s := range *(*[]string)(at) {
			if i > 0 {
				e.out = append(e.out, comma...)
			}
			if e.out, err = appendJSONString(e.out, s); err != nil {
				return err
			}
		}
		e.out = append(e.out, ']')
	case dMessages:
		e.out = append(e.out, '[')
		for i, m := range *(*[]unsafe.Pointer)(at) {
			if i > 0 {
				e.out = append(e.out, comma...)
			}
			if err := e.subMessage(v, df.elem, m); err != nil {
				return err
			}
		}
		e.out = append(e.out, ']')
	}
	return err
}

// secondsLayout finds the seconds (int64, 1) and nanos (int32, 2) fields
// of google.protobuf.Timestamp or Duration in its generated struct.
func secondsLayout(md protoreflect.MessageDescriptor) (reflect.Type, uintptr, uintptr) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil || mt.Descriptor() != md {
		return nil, 0, 0
	}
	ptr := reflect.TypeOf(mt.Zero().Interface())
	if ptr.Kind() != reflect.Pointer || ptr.Elem().Kind() != reflect.Struct {
		return nil, 0, 0
	}
	secs, ok1 := ptr.Elem().FieldByName("Seconds")
	nanos, ok2 := ptr.Elem().FieldByName("Nanos")
	if !ok1 || !ok2 || secs.Type.Kind() != reflect.Int64 || nanos.Type.Kind() != reflect.Int32 ||
		!strings.Contains(secs.Tag.Get("protobuf"), ",1,") || !strings.Contains(nanos.Tag.Get("protobuf"), ",2,") {
		return nil, 0, 0
	}
	return ptr, secs.Offset, nanos.Offset
}

// subMessage writes a message field's value (p points to its struct, of
// Go type t): directly when its codec can, else through protoreflect (a
// nil item of a repeated field is an empty message, as for protoreflect).
func (e *encoder) subMessage(v *value, t reflect.Type, p unsafe.Pointer) error {
	if !v.delegate && v.msg.goType == t && v.msg.direct == nil && (v.msg.wkt == wktTimestamp || v.msg.wkt == wktDuration) {
		var secs, nanos int64
		if p != nil {
			secs, nanos = *(*int64)(unsafe.Add(p, v.msg.seconds)), int64(*(*int32)(unsafe.Add(p, v.msg.nanos)))
		}
		if v.msg.wkt == wktTimestamp {
			return e.timestampOf(secs, nanos)
		}
		return e.durationOf(secs, nanos)
	}
	if v.delegate || v.msg.direct == nil || v.msg.goType != t {
		m := reflect.NewAt(t.Elem(), p).Interface().(proto.Message)
		return e.value(v, protoreflect.ValueOfMessage(m.ProtoReflect()))
	}
	return e.direct(v.msg, p)
}
