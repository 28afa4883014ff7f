package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vigil/vigil/services/gateway/internal/pbjson"
	"github.com/vigil/vigil/services/runtime/errs"
)

// Errors that say what to fix (issue 12 point 4): a malformed body names the
// position and what was expected, an invalid enum lists the accepted values,
// and text that is not UTF-8 names the parameter (issue 7 point 9) instead of
// failing inside gRPC with a 500.

// validUTF8 is a grpc-gateway middleware (it runs once the route is known, so
// that path parameters have names): every path parameter and every query
// parameter must be UTF-8, as proto strings must.
func validUTF8(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if err := checkUTF8(params, r.URL.RawQuery); err != nil {
			writeErr(w, r, err)
			return
		}
		next(w, r, params)
	}
}

// checkUTF8 names the first path parameter, query parameter name or value
// (in name order) that is not UTF-8, or a malformed query string.
func checkUTF8(params map[string]string, rawQuery string) error {
	valid := true
	for _, v := range params {
		valid = valid && utf8.ValidString(v)
	}
	// A query without escapes and separators other than & and = decodes to
	// its own UTF-8 text (issue 14: most requests are checked without
	// parsing their query).
	if valid && utf8.ValidString(rawQuery) && !strings.ContainsAny(rawQuery, "%;+") {
		return nil
	}
	return checkUTF8Parsed(params, rawQuery)
}

// checkUTF8Parsed is checkUTF8 parsing the query.
func checkUTF8Parsed(params map[string]string, rawQuery string) error {
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if !utf8.ValidString(params[name]) {
			return errs.InvalidArgument(name, "path parameter is not valid UTF-8")
		}
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errs.InvalidArgument("query", "malformed query string: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(query)) {
		if !utf8.ValidString(k) {
			return errs.InvalidArgument(strconv.QuoteToASCII(k), "query parameter name is not valid UTF-8")
		}
		for _, v := range query[k] {
			if !utf8.ValidString(v) {
				return errs.InvalidArgument(k, "query parameter is not valid UTF-8")
			}
		}
	}
	return nil
}

// jsonMarshaler is grpc-gateway's JSONPb with a decoder whose errors say
// where the body is wrong and what was expected, and an encoder that
// writes protojson's output several times faster (pbjson).
type jsonMarshaler struct {
	*runtime.JSONPb
}

// Marshal writes a message with pbjson when the options are protojson's
// defaults (what pbjson reproduces byte for byte), anything else as JSONPb.
func (j jsonMarshaler) Marshal(v any) ([]byte, error) {
	if m, ok := v.(proto.Message); ok && j.JSONPb.MarshalOptions == (protojson.MarshalOptions{}) && j.JSONPb.Indent == "" {
		return pbjson.Marshal(m)
	}
	return j.JSONPb.Marshal(v)
}

func (j jsonMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		return j.decode(data, v)
	})
}

func (j jsonMarshaler) decode(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return io.EOF // an empty body is an empty request, as grpc-gateway has it
	}
	d := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := d.Decode(&raw); err != nil {
		return syntaxError(data, err)
	}
	if rest := bytes.TrimSpace(data[d.InputOffset():]); len(rest) > 0 {
		off := len(data) - len(bytes.TrimLeft(data[d.InputOffset():], " \t\r\n"))
		line, col := position(data, off)
		return fmt.Errorf("body: malformed JSON at line %d, column %d: unexpected data after the JSON value; expected the end of the body", line, col)
	}
	if err := j.JSONPb.Unmarshal(raw, v); err != nil {
		return protoJSONError(raw, v, err)
	}
	return nil
}

// syntaxError explains an encoding/json error with its line and column.
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line, col := position(data, int(se.Offset)-1)
		return fmt.Errorf("body: malformed JSON at line %d, column %d: %s", line, col, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(data, len(data))
		return fmt.Errorf("body: malformed JSON: the body ends at line %d, column %d %s", line, col, unfinished(data))
	}
	return fmt.Errorf("body: %v", err)
}

// unfinished says what is left open at the end of a truncated JSON text.
func unfinished(data []byte) string {
	type open struct {
		c   byte
		off int
	}
	var stack []open
	inString, escaped, strStart := false, false, 0
	for i, c := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString, strStart = true, i
		case c == '{' || c == '[':
			stack = append(stack, open{c, i})
		case (c == '}' || c == ']') && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	if inString {
		line, col := position(data, strStart)
		return fmt.Sprintf("inside the string that starts at line %d, column %d; expected its closing '\"'", line, col)
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		line, col := position(data, top.off)
		if top.c == '{' {
			return fmt.Sprintf("inside the object opened at line %d, column %d; expected a value, ',' or '}'", line, col)
		}
		return fmt.Sprintf("inside the array opened at line %d, column %d; expected a value, ',' or ']'", line, col)
	}
	return "in the middle of a value; expected the rest of it"
}

// position is the 1-based line and column of byte offset off.
func position(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	col = 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:off], '\n')+1:off])
	return line, col
}

// protobuf-go prefixes its errors with "proto:" and a space or a no-break
// space (on purpose, against exact matching).
var (
	protoPrefix   = regexp.MustCompile(`^proto:[ \x{00a0}]`)
	protoPosition = regexp.MustCompile(`^(?:syntax error )?\(line (\d+):(\d+)\): `)
)

// protoJSONError rewrites a protojson error: "line L, column C: …", and an
// invalid enum names the field's path and lists the accepted values.
func protoJSONError(raw []byte, v any, err error) error {
	msg := protoPrefix.ReplaceAllString(err.Error(), "")
	where := ""
	if m := protoPosition.FindStringSubmatch(msg); m != nil {
		where = " at line " + m[1] + ", column " + m[2]
		msg = msg[len(m[0]):]
	}
	if strings.HasPrefix(msg, "invalid value for enum") {
		if pm, ok := protoMessage(v); ok {
			var doc any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if dec.Decode(&doc) == nil {
				if path, value, accepted, found := badEnum(pm.ProtoReflect().Descriptor(), doc, ""); found {
					return fmt.Errorf("body: %s: invalid value %s%s; accepted values: %s", path, value, where, strings.Join(accepted, ", "))
				}
			}
		}
	}
	if where != "" {
		return fmt.Errorf("body%s: %s", where, msg)
	}
	return fmt.Errorf("body: %s", msg)
}

// protoMessage finds the message a decoder fills: v is a message, or a
// pointer to a message field (body: "user").
func protoMessage(v any) (proto.Message, bool) {
	if m, ok := v.(proto.Message); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if m, ok := rv.Interface().(proto.Message); ok {
			return m, true
		}
		if rv.Elem().Kind() == reflect.Pointer && rv.Elem().IsNil() {
			// **T with *T nil: make the message type from T.
			if m, ok := reflect.New(rv.Elem().Type().Elem()).Interface().(proto.Message); ok {
				return m, true
			}
		}
		rv = rv.Elem()
	}
	return nil, false
}

// badEnum walks a decoded JSON value beside its message descriptor and
// returns the first enum field whose value is not one of the enum's.
func badEnum(md protoreflect.MessageDescriptor, doc any, prefix string) (path, value string, accepted []string, found bool) {
	obj, ok := doc.(map[string]any)
	if !ok || isWellKnown(md) {
		return "", "", nil, false
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		fd := md.Fields().ByJSONName(k)
		if fd == nil {
			fd = md.Fields().ByTextName(k)
		}
		if fd == nil {
			continue
		}
		name := prefix + k
		val := obj[k]
		switch {
		case fd.IsMap():
			m, _ := val.(map[string]any)
			vd := fd.MapValue()
			for _, mk := range slices.Sorted(maps.Keys(m)) {
				if p, v, a, ok := checkValue(vd, m[mk], name+"."+mk); ok {
					return p, v, a, true
				}
			}
		case fd.IsList():
			list, _ := val.([]any)
			for i, item := range list {
				if p, v, a, ok := checkValue(fd, item, name+"["+strconv.Itoa(i)+"]"); ok {
					return p, v, a, true
				}
			}
		default:
			if p, v, a, ok := checkValue(fd, val, name); ok {
				return p, v, a, true
			}
		}
	}
	return "", "", nil, false
}

func checkValue(fd protoreflect.FieldDescriptor, val any, path string) (string, string, []string, bool) {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			return "", "", nil, false
		}
		if s, ok := val.(string); ok && ed.Values().ByName(protoreflect.Name(s)) == nil {
			return path, strconv.Quote(s), enumNames(ed), true
		}
		if n, ok := val.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, 32); err != nil || ed.Values().ByNumber(protoreflect.EnumNumber(i)) == nil {
				return path, string(n), enumNames(ed), true
			}
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return badEnum(fd.Message(), val, path+".")
	}
	return "", "", nil, false
}

// enumNames lists the values a caller may send (not the _UNSPECIFIED zero).
func enumNames(ed protoreflect.EnumDescriptor) []string {
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		v := ed.Values().Get(i)
		if v.Number() == 0 && strings.HasSuffix(string(v.Name()), "_UNSPECIFIED") {
			continue
		}
		names = append(names, string(v.Name()))
	}
	return names
}

func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile() != nil && md.ParentFile().Package() == "google.protobuf"
}

// queryParser is grpc-gateway's query parser with errors that name the
// parameter and, for enums, list the accepted values.
type queryParser struct{ runtime.DefaultQueryParser }

func (q *queryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	err := q.DefaultQueryParser.Parse(msg, values, filter)
	if err == nil {
		return nil
	}
	// Find the parameter at fault: parse each alone into a scratch message.
	for _, key := range slices.Sorted(maps.Keys(values)) {
		scratch := msg.ProtoReflect().New().Interface()
		if q.DefaultQueryParser.Parse(scratch, url.Values{key: values[key]}, filter) == nil {
			continue
		}
		if fd := queryField(msg.ProtoReflect().Descriptor(), key); fd != nil && fd.Kind() == protoreflect.EnumKind {
			return errs.InvalidArgument(key, "invalid value %q; accepted values: %s", values.Get(key), strings.Join(enumNames(fd.Enum()), ", "))
		}
		var numErr *strconv.NumError
		if errors.As(err, &numErr) {
			return errs.InvalidArgument(key, "invalid value %q: %v", numErr.Num, numErr.Err)
		}
		return errs.InvalidArgument(key, "%v", err)
	}
	return errs.InvalidArgument("query", "%v", err)
}

// queryField resolves a dotted query key (JSON or proto names) to its field.
func queryField(md protoreflect.MessageDescriptor, key string) protoreflect.FieldDescriptor {
	parts := strings.Split(key, ".")
	for i, part := range parts {
		fd := md.Fields().ByJSONName(part)
		if fd == nil {
			fd = md.Fields().ByTextName(part)
		}
		if fd == nil {
			return nil
		}
		if i == len(parts)-1 {
			return fd
		}
		if fd.Message() == nil {
			return nil
		}
		md = fd.Message()
	}
	return nil
}
