// Package pbjson writes protobuf messages as JSON byte for byte as
// protojson.MarshalOptions{} does (lowerCamel names, enum names, 64-bit
// integers as strings, RFC 3339 timestamps, defaults omitted, the same
// escaping and number formatting), several times faster: the gateway
// spends most of its time per list page in protojson (issue 14, issues 8
// and 10's benchmarks).
//
// It walks a message through protoreflect with an encoder built once per
// message type from its descriptor (the fields in declaration order with
// their JSON names already quoted, enum names by number), where protojson
// sorts the populated fields of every message it writes and checks its
// options at every value. What it does not write itself it leaves to
// protojson: google.protobuf.Any, Struct, Value, ListValue and FieldMask
// values (written by protojson in place), and whole messages whose type
// has required fields, extension ranges or the message-set wire format.
// Any error (text that is not UTF-8, a timestamp out of range) makes it
// start again with protojson, so that errors are protojson's too.
//
// TestMatchesProtojson and FuzzMatchesProtojson compare it with protojson
// over every message type of the API.
package pbjson

import (
	"encoding/base64"
	"errors"
	"math"
	"math/bits"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// Marshal writes m as protojson.MarshalOptions{}.Marshal(m) does.
func Marshal(m proto.Message) ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	rm := m.ProtoReflect()
	c := codecOf(rm.Descriptor())
	if c.fallback {
		return protojson.MarshalOptions{}.Marshal(m)
	}
	e := encoders.Get().(*encoder)
	defer e.release()
	e.out = make([]byte, 0, c.sizeHint.Load())
	if err := e.message(c, rm); err != nil {
		// protojson's error (or, should the two disagree about what is an
		// error, its output).
		return protojson.MarshalOptions{}.Marshal(m)
	}
	out := e.out
	if n := int64(len(out)); n > c.sizeHint.Load() && n <= maxSizeHint {
		c.sizeHint.Store(n)
	}
	return out, nil
}

// encoder is the state of one Marshal: the output, and a stack of the
// populated fields of the messages being written.
type encoder struct {
	out     []byte
	fields  []populated
	collect func(protoreflect.FieldDescriptor, protoreflect.Value) bool
}

type populated struct {
	fd protoreflect.FieldDescriptor
	v  protoreflect.Value
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.collect = func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		e.fields = append(e.fields, populated{fd, v})
		return true
	}
	return e
}}

func (e *encoder) release() {
	e.out = nil
	clear(e.fields) // no references kept to the message
	e.fields = e.fields[:0]
	if cap(e.fields) > 1024 {
		e.fields = nil
	}
	encoders.Put(e)
}

// maxSizeHint bounds the buffer preallocated from earlier answers.
const maxSizeHint = 1 << 20

// comma is what protojson writes between two values on one line: "," or,
// in some binaries, ", " (protojson adds a space after every comma or after
// none, chosen from a hash of the executable, so that nobody relies on its
// exact bytes; this package follows the choice of the binary it is in).
var comma = func() string {
	b, err := protojson.Marshal(&structpb.ListValue{Values: []*structpb.Value{structpb.NewBoolValue(true), structpb.NewBoolValue(true)}})
	if err == nil && string(b) == "[true, true]" {
		return ", "
	}
	return ","
}()

var errFallback = errors.New("pbjson: written by protojson")

type kind uint8

const (
	kBool kind = iota
	kString
	kInt     // int32, sint32, sfixed32: a number
	kUint    // uint32, fixed32: a number
	kInt64   // int64, sint64, sfixed64: a string
	kUint64  // uint64, fixed64: a string
	kFloat32 // float: a number, or "NaN", "Infinity", "-Infinity"
	kFloat64
	kBytes // base64 (standard, padded)
	kEnum  // its name, or its number when it has none
	kNull  // google.protobuf.NullValue: null
	kMessage
)

// value writes one singular value of a field, a list item or a map value.
type value struct {
	kind     kind
	enum     *enumNames
	msg      *codec
	delegate bool // a message protojson writes (Any, Struct, Value, ListValue, FieldMask)
}

type field struct {
	fd    protoreflect.FieldDescriptor
	name  string // `"jsonName":`
	list  bool
	isMap bool
	key   protoreflect.Kind // of a map
	val   value
}

type wkt uint8

const (
	wktNone wkt = iota
	wktTimestamp
	wktDuration
	wktWrapper
)

type codec struct {
	wkt      wkt
	fields   []field
	fallback bool         // the whole message is protojson's
	sizeHint atomic.Int64 // the largest answer of this type so far (top-level use)
	// direct is how to read the generated Go struct of the type (nil: read
	// through protoreflect), goType its pointer type (see layout.go).
	direct []directField
	goType reflect.Type
	// seconds and nanos are the offsets of a Timestamp's or a Duration's
	// two fields in goType's struct (goType nil: through protoreflect).
	seconds, nanos uintptr
}

type enumNames struct {
	dense []string // quoted names by number, for numbers 0..len-1
	named map[protoreflect.EnumNumber]string
}

func (e *enumNames) name(n protoreflect.EnumNumber) (string, bool) {
	if n >= 0 && int(n) < len(e.dense) {
		s := e.dense[n]
		return s, s != ""
	}
	s, ok := e.named[n]
	return s, ok
}

var (
	codecs sync.Map // protoreflect.FullName → *codec
	mu     sync.Mutex
)

// codecOf returns the encoder of a message type, built on first use.
func codecOf(md protoreflect.MessageDescriptor) *codec {
	if c, ok := codecs.Load(md.FullName()); ok {
		return c.(*codec)
	}
	mu.Lock()
	defer mu.Unlock()
	if c, ok := codecs.Load(md.FullName()); ok {
		return c.(*codec)
	}
	b := &builder{building: map[protoreflect.FullName]*codec{}, unsupported: map[protoreflect.FullName]bool{}}
	c := b.build(md)
	for name, bc := range b.building {
		codecs.Store(name, bc)
	}
	return c
}

type builder struct {
	building    map[protoreflect.FullName]*codec
	unsupported map[protoreflect.FullName]bool // memo of needsProtojson
}

func (b *builder) build(md protoreflect.MessageDescriptor) *codec {
	if c, ok := codecs.Load(md.FullName()); ok {
		return c.(*codec)
	}
	if c, ok := b.building[md.FullName()]; ok {
		return c
	}
	c := &codec{}
	b.building[md.FullName()] = c
	if b.needsProtojson(md, map[protoreflect.FullName]bool{}) {
		c.fallback = true
		return c
	}
	switch wellKnown(md) {
	case "Any", "Struct", "Value", "ListValue", "FieldMask":
		c.fallback = true
		return c
	case "Timestamp":
		c.wkt = wktTimestamp
		c.goType, c.seconds, c.nanos = secondsLayout(md)
		return c
	case "Duration":
		c.wkt = wktDuration
		c.goType, c.seconds, c.nanos = secondsLayout(md)
		return c
	case "BoolValue", "Int32Value", "Int64Value", "UInt32Value", "UInt64Value", "FloatValue", "DoubleValue", "StringValue", "BytesValue":
		c.wkt = wktWrapper
	}
	fds := md.Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		f := field{fd: fd, name: string(appendString(nil, fd.JSONName())) + ":", list: fd.IsList(), isMap: fd.IsMap()}
		if f.isMap {
			f.key = fd.MapKey().Kind()
			f.val = b.value(fd.MapValue())
		} else {
			f.val = b.value(fd)
		}
		c.fields = append(c.fields, f)
	}
	if c.wkt == wktNone {
		c.goType, c.direct = directLayout(md, c.fields)
	}
	return c
}

// value describes how one value of fd is written.
func (b *builder) value(fd protoreflect.FieldDescriptor) value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return value{kind: kBool}
	case protoreflect.StringKind:
		return value{kind: kString}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return value{kind: kInt}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return value{kind: kUint}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return value{kind: kInt64}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return value{kind: kUint64}
	case protoreflect.FloatKind:
		return value{kind: kFloat32}
	case protoreflect.DoubleKind:
		return value{kind: kFloat64}
	case protoreflect.BytesKind:
		return value{kind: kBytes}
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			return value{kind: kNull}
		}
		return value{kind: kEnum, enum: enumsOf(ed)}
	default: // MessageKind, GroupKind
		md := fd.Message()
		switch wellKnown(md) {
		case "Any", "Struct", "Value", "ListValue", "FieldMask":
			return value{kind: kMessage, delegate: true}
		}
		return value{kind: kMessage, msg: b.build(md)}
	}
}

// needsProtojson reports whether a message type, or one it holds, is one
// this package leaves whole to protojson.
func (b *builder) needsProtojson(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if v, ok := b.unsupported[md.FullName()]; ok {
		return v
	}
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	switch wellKnown(md) {
	case "Any", "Struct", "Value", "ListValue", "FieldMask":
		return false // written in place by protojson
	}
	out := md.ExtensionRanges().Len() > 0 || md.RequiredNumbers().Len() > 0 || isMessageSet(md)
	fds := md.Fields()
	for i := 0; i < fds.Len() && !out; i++ {
		fd := fds.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if m := fd.Message(); m != nil && b.needsProtojson(m, seen) {
			out = true
		}
	}
	b.unsupported[md.FullName()] = out
	return out
}

func isMessageSet(md protoreflect.MessageDescriptor) bool {
	type messageSet interface{ IsMessageSet() bool }
	ms, ok := md.(messageSet)
	return ok && ms.IsMessageSet()
}

// wellKnown is the name of a google.protobuf message type, else "".
func wellKnown(md protoreflect.MessageDescriptor) string {
	if md.FullName().Parent() != "google.protobuf" {
		return ""
	}
	return string(md.Name())
}

var enumCache sync.Map // protoreflect.FullName → *enumNames

func enumsOf(ed protoreflect.EnumDescriptor) *enumNames {
	if e, ok := enumCache.Load(ed.FullName()); ok {
		return e.(*enumNames)
	}
	e := &enumNames{named: map[protoreflect.EnumNumber]string{}}
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		v := vals.Get(i)
		n := v.Number()
		if _, dup := e.named[n]; dup {
			continue // an alias: protojson names the first value of a number
		}
		e.named[n] = string(appendString(nil, string(v.Name())))
	}
	for n := protoreflect.EnumNumber(0); n < 64; n++ {
		if _, ok := e.named[n]; !ok {
			break
		}
		e.dense = append(e.dense, e.named[n])
	}
	enumCache.Store(ed.FullName(), e)
	return e
}

// message writes m's JSON object (or its well-known type's value). It
// visits the populated fields only (protoreflect's Range: a message's
// unset fields cost nothing), then writes them in declaration order, as
// protojson does.
func (e *encoder) message(c *codec, m protoreflect.Message) error {
	switch c.wkt {
	case wktTimestamp:
		return e.timestamp(m)
	case wktDuration:
		return e.duration(m)
	case wktWrapper:
		f := &c.fields[0]
		return e.value(&f.val, m.Get(f.fd))
	}
	if c.fallback {
		return errFallback
	}
	if c.direct != nil {
		if pm := m.Interface(); reflect.TypeOf(pm) == c.goType {
			return e.direct(c, reflect.ValueOf(pm).UnsafePointer())
		}
	}
	start := len(e.fields)
	m.Range(e.collect)
	n := len(e.fields) - start
	// Range's order is declaration order but for a pair (on purpose) and
	// for oneofs: an insertion sort on a nearly sorted few.
	pop := e.fields[start:]
	for i := 1; i < n; i++ {
		for j := i; j > 0 && pop[j].fd.Index() < pop[j-1].fd.Index(); j-- {
			pop[j], pop[j-1] = pop[j-1], pop[j]
		}
	}
	e.out = append(e.out, '{')
	var err error
	for k := range n {
		p := e.fields[start+k] // nested messages push above start+n
		idx := p.fd.Index()
		if p.fd.IsExtension() || idx >= len(c.fields) || c.fields[idx].fd != p.fd {
			return errFallback
		}
		f := &c.fields[idx]
		if k > 0 {
			e.out = append(e.out, comma...)
		}
		e.out = append(e.out, f.name...)
		switch {
		case f.list:
			err = e.list(f, p.v.List())
		case f.isMap:
			err = e.mapValue(f, p.v.Map())
		default:
			err = e.value(&f.val, p.v)
		}
		if err != nil {
			return err
		}
	}
	clear(e.fields[start:])
	e.fields = e.fields[:start]
	e.out = append(e.out, '}')
	return nil
}

func (e *encoder) list(f *field, l protoreflect.List) error {
	e.out = append(e.out, '[')
	for i, n := 0, l.Len(); i < n; i++ {
		if i > 0 {
			e.out = append(e.out, comma...)
		}
		if err := e.value(&f.val, l.Get(i)); err != nil {
			return err
		}
	}
	e.out = append(e.out, ']')
	return nil
}

type entry struct {
	k protoreflect.MapKey
	v protoreflect.Value
}

// mapValue writes a map's entries ordered by key as protojson does:
// false before true, numbers ascending, strings by UTF-8 bytes.
func (e *encoder) mapValue(f *field, m protoreflect.Map) error {
	entries := make([]entry, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		entries = append(entries, entry{k, v})
		return true
	})
	switch f.key {
	case protoreflect.BoolKind:
		slices.SortFunc(entries, func(a, b entry) int {
			if a.k.Bool() == b.k.Bool() {
				return 0
			}
			if !a.k.Bool() {
				return -1
			}
			return 1
		})
	case protoreflect.StringKind:
		slices.SortFunc(entries, func(a, b entry) int { return cmpString(a.k.String(), b.k.String()) })
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		slices.SortFunc(entries, func(a, b entry) int { return cmpOrdered(a.k.Uint(), b.k.Uint()) })
	default:
		slices.SortFunc(entries, func(a, b entry) int { return cmpOrdered(a.k.Int(), b.k.Int()) })
	}
	e.out = append(e.out, '{')
	var err error
	for i, en := range entries {
		if i > 0 {
			e.out = append(e.out, comma...)
		}
		if e.out, err = appendJSONString(e.out, en.k.String()); err != nil {
			return err
		}
		e.out = append(e.out, ':')
		if err := e.value(&f.val, en.v); err != nil {
			return err
		}
	}
	e.out = append(e.out, '}')
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpOrdered[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// value writes one value.
func (e *encoder) value(v *value, val protoreflect.Value) error {
	var err error
	out := e.out
	switch v.kind {
	case kString:
		out, err = appendJSONString(out, val.String())
	case kBool:
		if val.Bool() {
			out = append(out, "true"...)
		} else {
			out = append(out, "false"...)
		}
	case kInt:
		out = strconv.AppendInt(out, val.Int(), 10)
	case kUint:
		out = strconv.AppendUint(out, val.Uint(), 10)
	case kInt64:
		out = append(strconv.AppendInt(append(out, '"'), val.Int(), 10), '"')
	case kUint64:
		out = append(strconv.AppendUint(append(out, '"'), val.Uint(), 10), '"')
	case kFloat32:
		out = appendFloat(out, val.Float(), 32)
	case kFloat64:
		out = appendFloat(out, val.Float(), 64)
	case kBytes:
		out = append(base64.StdEncoding.AppendEncode(append(out, '"'), val.Bytes()), '"')
	case kEnum:
		if name, ok := v.enum.name(val.Enum()); ok {
			out = append(out, name...)
		} else {
			out = strconv.AppendInt(out, int64(val.Enum()), 10)
		}
	case kNull:
		out = append(out, "null"...)
	default: // kMessage
		if v.delegate {
			out, err = protojson.MarshalOptions{}.MarshalAppend(out, val.Message().Interface())
		} else {
			return e.message(v.msg, val.Message())
		}
	}
	e.out = out
	return err
}

// appendJSONString writes s quoted and escaped as protojson does; text
// that is not UTF-8 is an error.
func appendJSONString(out []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendStringSlow(out, s)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"'), nil
}

var errInvalidUTF8 = errors.New("invalid UTF-8")

func appendStringSlow(out []byte, s string) ([]byte, error) {
	out = appendString(out, s)
	if out == nil {
		return nil, errInvalidUTF8
	}
	return out, nil
}

// appendString is protojson's (internal/encoding/json): only '"', '\\' and
// control characters are escaped; it returns nil for text that is not UTF-8.
func appendString(out []byte, in string) []byte {
	out = append(out, '"')
	i := indexNeedEscapeInString(in)
	in, out = in[i:], append(out, in[:i]...)
	for len(in) > 0 {
		switch r, n := utf8.DecodeRuneInString(in); {
		case r == utf8.RuneError && n == 1:
			return nil
		case r < ' ' || r == '"' || r == '\\':
			out = append(out, '\\')
			switch r {
			case '"', '\\':
				out = append(out, byte(r))
			case '\b':
				out = append(out, 'b')
			case '\f':
				out = append(out, 'f')
			case '\n':
				out = append(out, 'n')
			case '\r':
				out = append(out, 'r')
			case '\t':
				out = append(out, 't')
			default:
				out = append(out, 'u')
				out = append(out, "0000"[1+(bits.Len32(uint32(r))-1)/4:]...)
				out = strconv.AppendUint(out, uint64(r), 16)
			}
			in = in[n:]
		default:
			i := indexNeedEscapeInString(in[n:])
			in, out = in[n+i:], append(out, in[:n+i]...)
		}
	}
	return append(out, '"')
}

func indexNeedEscapeInString(s string) int {
	for i, r := range s {
		if r < ' ' || r == '\\' || r == '"' || r == utf8.RuneError {
			return i
		}
	}
	return len(s)
}

// appendFloat is protojson's number formatting (encoding/json's).
func appendFloat(out []byte, n float64, bitSize int) []byte {
	switch {
	case math.IsNaN(n):
		return append(out, `"NaN"`...)
	case math.IsInf(n, +1):
		return append(out, `"Infinity"`...)
	case math.IsInf(n, -1):
		return append(out, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	out = strconv.AppendFloat(out, n, format, -1, bitSize)
	if format == 'e' {
		n := len(out)
		if n >= 4 && out[n-4] == 'e' && out[n-3] == '-' && out[n-2] == '0' {
			out[n-2] = out[n-1]
			out = out[:n-1]
		}
	}
	return out
}

const (
	secondsInNanos       = 999999999
	maxSecondsInDuration = 315576000000
	maxTimestampSeconds  = 253402300799
	minTimestampSeconds  = -62135596800
)

// secondsAndNanos reads the two fields of a Timestamp or a Duration.
func secondsAndNanos(m protoreflect.Message) (int64, int64) {
	fds := m.Descriptor().Fields()
	return m.Get(fds.ByNumber(1)).Int(), m.Get(fds.ByNumber(2)).Int()
}

// timestamp writes "2006-01-02T15:04:05[.000|.000000|.000000000]Z".
func (e *encoder) timestamp(m protoreflect.Message) error {
	secs, nanos := secondsAndNanos(m)
	return e.timestampOf(secs, nanos)
}

func (e *encoder) timestampOf(secs, nanos int64) error {
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos > secondsInNanos {
		return errFallback
	}
	out := append(e.out, '"')
	out = appendDateTime(out, secs)
	out = appendNanos(out, nanos)
	e.out = append(out, 'Z', '"')
	return nil
}

// appendDateTime writes secs since the Unix epoch as
// time.Unix(secs, 0).UTC().Format("2006-01-02T15:04:05") does, for years
// 1 to 9999 (days to a civil date: H. Hinnant's days_from_civil inverse).
func appendDateTime(out []byte, secs int64) []byte {
	days, rem := secs/86400, secs%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if month > 12 {
		month -= 12
	}
	year := yoe + era*400
	if month <= 2 {
		year++
	}
	out = append4(out, year)
	out = append(out, '-')
	out = append2(out, month)
	out = append(out, '-')
	out = append2(out, day)
	out = append(out, 'T')
	out = append2(out, rem/3600)
	out = append(out, ':')
	out = append2(out, rem/60%60)
	out = append(out, ':')
	return append2(out, rem%60)
}

func append2(out []byte, v int64) []byte { return append(out, byte('0'+v/10), byte('0'+v%10)) }

func append4(out []byte, v int64) []byte {
	return append(out, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendNanos writes a fraction of a second with 0, 3, 6 or 9 digits.
func appendNanos(out []byte, nanos int64) []byte {
	digits := 9
	switch {
	case nanos == 0:
		return out
	case nanos%1e6 == 0:
		nanos, digits = nanos/1e6, 3
	case nanos%1e3 == 0:
		nanos, digits = nanos/1e3, 6
	}
	out = append(out, '.')
	var buf [9]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + nanos%10)
		nanos /= 10
	}
	return append(out, buf[:digits]...)
}

// duration writes "[-]S[.fff]s".
func (e *encoder) duration(m protoreflect.Message) error {
	secs, nanos := secondsAndNanos(m)
	return e.durationOf(secs, nanos)
}

func (e *encoder) durationOf(secs, nanos int64) error {
	if secs < -maxSecondsInDuration || secs > maxSecondsInDuration || nanos < -secondsInNanos || nanos > secondsInNanos ||
		(secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) {
		return errFallback
	}
	out := append(e.out, '"')
	if secs < 0 || nanos < 0 {
		out = append(out, '-')
		secs, nanos = -secs, -nanos
	}
	out = strconv.AppendInt(out, secs, 10)
	out = appendNanos(out, nanos)
	e.out = append(out, 's', '"')
	return nil
}
