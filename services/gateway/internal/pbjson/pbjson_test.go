package pbjson

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// The API's packages, registered by their imports above.
var _ = []proto.Message{&identityv1.User{}, &directoryv1.Supplier{}, &vaultv1.Document{}, &notifyv1.Notification{}, &eventsv1.Event{}}

// apiMessages are every message type of Vigil's API (every request,
// response and resource, nested ones included), and the well-known types.
func apiMessages(t testing.TB) []protoreflect.MessageType {
	var out []protoreflect.MessageType
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		name := string(mt.Descriptor().FullName())
		if strings.HasPrefix(name, "vigil.") || strings.HasPrefix(name, "google.protobuf.") && !strings.Contains(name, "Descriptor") &&
			!strings.Contains(name, "Options") && !strings.Contains(name, "FeatureSet") && !strings.Contains(name, "CodeGenerator") {
			out = append(out, mt)
		}
		return true
	})
	if len(out) < 100 {
		t.Fatalf("only %d message types registered: the API's packages are not linked in", len(out))
	}
	return out
}

// responseTypes are the output types of every method of Vigil's services.
func responseTypes(t testing.TB) []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "vigil.") {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			methods := fd.Services().Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				out = append(out, methods.Get(j).Output())
			}
		}
		return true
	})
	if len(out) < 50 {
		t.Fatalf("only %d methods found", len(out))
	}
	return out
}

// check compares Marshal with protojson on m: the same bytes, or both an
// error.
func check(t testing.TB, m proto.Message) {
	t.Helper()
	want, werr := protojson.Marshal(m)
	got, gerr := Marshal(m)
	switch {
	case (werr == nil) != (gerr == nil):
		t.Fatalf("%s: protojson error %v, pbjson error %v\nprotojson %s\npbjson    %s", m.ProtoReflect().Descriptor().FullName(), werr, gerr, want, got)
	case werr != nil:
		if werr.Error() != gerr.Error() {
			t.Fatalf("%s: protojson error %q, pbjson error %q", m.ProtoReflect().Descriptor().FullName(), werr, gerr)
		}
	case !bytes.Equal(want, got):
		t.Fatalf("%s:\nprotojson %s\npbjson    %s\nmessage %v", m.ProtoReflect().Descriptor().FullName(), want, got, m)
	}
}

// TestMatchesProtojson fills every message type of the API (and the
// well-known types) at random, many times each, with the values that
// differ in JSON (escapes, invalid UTF-8, NaN and infinities, 64-bit
// extremes, unknown enum numbers, timestamps and durations in and out of
// range, nested and recursive messages, maps of every key kind, oneofs),
// and compares the result with protojson's, byte for byte.
func TestMatchesProtojson(t *testing.T) {
	types := apiMessages(t)
	rng := rand.New(rand.NewPCG(1, 2))
	rounds := 300
	if testing.Short() {
		rounds = 30
	}
	for _, mt := range types {
		check(t, mt.New().Interface()) // empty
		for range rounds {
			m := mt.New()
			fill(rng, m, 0)
			check(t, m.Interface())
		}
	}
	// Dynamic messages (no generated code) take protoreflect's other path.
	for _, mt := range types[:20] {
		m := dynamicpb.NewMessage(mt.Descriptor())
		fill(rng, m, 0)
		check(t, m)
	}
	var nilTimestamp *timestamppb.Timestamp
	check(t, nilTimestamp)
}

// TestAPIResponsesAreNative: every response type of the API is written by
// this package (protojson writes only the Any, Struct, Value, ListValue
// and FieldMask values inside), so that the gateway's speed does not
// silently fall back to protojson's.
func TestAPIResponsesAreNative(t *testing.T) {
	for _, md := range responseTypes(t) {
		if codecOf(md).fallback {
			t.Errorf("%s is written by protojson", md.FullName())
		}
	}
}

func TestWellKnownTypes(t *testing.T) {
	st, _ := structpb.NewStruct(map[string]any{"a": 1.5, "b": []any{"x", nil, true}, "c": map[string]any{"d": "é\n"}})
	anyV, _ := anypb.New(&identityv1.User{Name: "companies/c/users/u", Email: "a@b.c"})
	for _, m := range []proto.Message{
		timestamppb.New(timestamppb.Now().AsTime()), &timestamppb.Timestamp{Seconds: -62135596800}, &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999999999},
		&timestamppb.Timestamp{Seconds: 253402300800}, &timestamppb.Timestamp{Nanos: -1}, &timestamppb.Timestamp{Nanos: 1000}, &timestamppb.Timestamp{Nanos: 1000000},
		durationpb.New(-1500000000), &durationpb.Duration{Seconds: 1, Nanos: -1}, &durationpb.Duration{Seconds: 315576000001}, &durationpb.Duration{Nanos: -5},
		wrapperspb.Int64(math.MinInt64), wrapperspb.UInt64(math.MaxUint64), wrapperspb.Float(float32(math.Inf(-1))), wrapperspb.Double(1e21), wrapperspb.Double(1e-7),
		wrapperspb.Bytes([]byte{0, 255}), wrapperspb.String("\xff"), wrapperspb.Bool(false), &emptypb.Empty{},
		st, structpb.NewNullValue(), anyV, &fieldmaskpb.FieldMask{Paths: []string{"legal_name", "address.city"}}, &fieldmaskpb.FieldMask{Paths: []string{"Bad"}},
	} {
		check(t, m)
	}
}

// FuzzMatchesProtojson decodes the input as the wire form of one of the
// API's message types and compares the two encoders on it.
func FuzzMatchesProtojson(f *testing.F) {
	types := apiMessages(f)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 40 {
		mt := types[i*7%len(types)]
		m := mt.New()
		fill(rng, m, 0)
		raw, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m.Interface())
		if err == nil {
			f.Add(uint16(i*7%len(types)), raw)
		}
	}
	f.Fuzz(func(t *testing.T, which uint16, raw []byte) {
		m := types[int(which)%len(types)].New()
		opts := proto.UnmarshalOptions{AllowPartial: true, DiscardUnknown: true}
		if opts.Unmarshal(raw, m.Interface()) != nil {
			return
		}
		check(t, m.Interface())
	})
}

var tricky = []string{"", "a", "Fournisseur 0000001", "é", "a\"b\\c/d", "\x00\x01\x1f\t\n\r\b\f", "\u2028\u2029", "<script>&amp;",
	"\uFFFD", "日本語", "\xff", "a\xc3", "\U0001F600", strings.Repeat("x", 300)}

func fill(r *rand.Rand, m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if r.IntN(3) == 0 {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range r.IntN(4) {
				if fd.Message() != nil {
					if depth > 3 {
						break
					}
					v := l.NewElement()
					fill(r, v.Message(), depth+1)
					l.Append(v)
				} else {
					l.Append(scalar(r, fd))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range r.IntN(4) {
				k := scalar(r, fd.MapKey()).MapKey()
				if fd.MapValue().Message() != nil {
					if depth > 3 {
						break
					}
					v := mp.NewValue()
					fill(r, v.Message(), depth+1)
					mp.Set(k, v)
				} else {
					mp.Set(k, scalar(r, fd.MapValue()))
				}
			}
		case fd.Message() != nil:
			if depth > 3 {
				continue
			}
			v := m.NewField(fd)
			fill(r, v.Message(), depth+1)
			m.Set(fd, v)
		default:
			m.Set(fd, scalar(r, fd))
		}
	}
}

func scalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	ints := []int64{0, 1, -1, 42, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, 1e15, -62135596800, 253402300799, 253402300800, 999999999, 1e9}
	i := ints[r.IntN(len(ints))]
	if r.IntN(3) == 0 {
		i = r.Int64N(1<<40) - 1<<39
	}
	floats := []float64{0, math.Copysign(0, -1), 1, -1.5, 3.14159, 1e21, 1e20, 1e-6, 1e-7, 5e-6, 2e-5, 123456789.125, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64}
	f := floats[r.IntN(len(floats))]
	if r.IntN(3) == 0 {
		f = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.StringKind:
		if r.IntN(4) == 0 {
			var b strings.Builder
			for range r.IntN(20) {
				b.WriteRune(rune(r.IntN(0x3000)))
			}
			return protoreflect.ValueOfString(b.String())
		}
		return protoreflect.ValueOfString(tricky[r.IntN(len(tricky))])
	case protoreflect.BytesKind:
		b := make([]byte, r.IntN(8))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		return protoreflect.ValueOfBytes(b)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(i))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(i))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(i)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(i))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(f))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(f)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if r.IntN(5) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(r.IntN(200) - 100))
		}
		return protoreflect.ValueOfEnum(vals.Get(r.IntN(vals.Len())).Number())
	}
	panic("no scalar for " + fd.Kind().String())
}

// supplierPage is a page of 100 suppliers as the directory answers it.
func supplierPage() *directoryv1.ListSuppliersResponse {
	page := &directoryv1.ListSuppliersResponse{NextPageToken: "eyJhZnRlciI6ImZvdXJuaXNzZXVyIDAwMDAxMDAifQ"}
	for i := range 100 {
		id := "06h2k6tc6tuh66umpd1dvh5f" + strings.Repeat("x", 2) + string(rune('a'+i%26))
		page.Suppliers = append(page.Suppliers, &directoryv1.Supplier{
			Name: "companies/06h2k6tc4arrngneqgt2sj8dms/suppliers/" + id, Company: "companies/" + id,
			LegalName: "Fournisseur 2000000", Country: "FR", RegistrationNumber: "920000007",
			Address: &directoryv1.PostalAddress{City: "Lyon", Country: "FR"}, CreateTime: timestamppb.Now(),
		})
	}
	return page
}

// compliancePage is a page of 100 summaries as the vault answers it.
func compliancePage() *vaultv1.ListComplianceSummariesResponse {
	page := &vaultv1.ListComplianceSummariesResponse{NextPageToken: "eyJhZnRlciI6InMwMDEwMCJ9",
		Totals: &vaultv1.ComplianceTotals{SupplierCount: 10000, NonCompliantCount: 9000, ExpiringCount: 500, CompliantCount: 500}}
	for i := range 100 {
		sup := "companies/s" + strings.Repeat("0", 4) + string(rune('a'+i%26))
		s := &vaultv1.ComplianceSummary{Customer: "companies/scalecust", Supplier: sup, SupplierDisplayName: "Supplier 0" + string(rune('a'+i%26)),
			Counts: &vaultv1.ComplianceCounts{Missing: 2, Valid: 6, ExpiringSoon: 1, Expired: 1}, AsOfDate: "2026-11-30"}
		for _, t := range []string{"KBIS_EXTRACT", "URSSAF_VIGILANCE", "ISO_9001"} {
			s.OpenEntries = append(s.OpenEntries, &vaultv1.ComplianceEntry{DocumentType: "documentTypes/" + t, Subject: sup,
				Status: vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRED, ValidUntil: "2026-10-01"})
		}
		page.Summaries = append(page.Summaries, s)
	}
	return page
}

// BenchmarkMarshal: a page of 100 suppliers and a page of 100 compliance
// summaries, protojson against pbjson.
func BenchmarkMarshal(b *testing.B) {
	for name, page := range map[string]proto.Message{"suppliers": supplierPage(), "compliance": compliancePage()} {
		b.Run(name+"/protojson", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := protojson.Marshal(page); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/pbjson", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := Marshal(page); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPages: the benchmark's pages come out as protojson's.
func TestPages(t *testing.T) {
	check(t, supplierPage())
	check(t, compliancePage())
}

// TestDateTime compares appendDateTime with the time package over the
// whole range protojson accepts.
func TestDateTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	edges := []int64{minTimestampSeconds, maxTimestampSeconds, 0, -1, 1, 86399, 86400, -86400, -86401, 951782400, 951868800, 4107542400, -2203891200}
	for i := range 200000 {
		secs := rng.Int64N(maxTimestampSeconds-minTimestampSeconds+1) + minTimestampSeconds
		if i < len(edges) {
			secs = edges[i]
		}
		want := time.Unix(secs, 0).UTC().Format("2006-01-02T15:04:05")
		if got := string(appendDateTime(nil, secs)); got != want {
			t.Fatalf("%d: %s, want %s", secs, got, want)
		}
	}
}

// TestDirectLayouts: the messages of list pages and of GET /v1/me are read
// from their structs (layout.go), so that the comparisons above exercise
// that path; a type with a oneof or a map is read through protoreflect.
func TestDirectLayouts(t *testing.T) {
	for _, m := range []proto.Message{&directoryv1.ListSuppliersResponse{}, &directoryv1.Supplier{}, &directoryv1.PostalAddress{},
		&vaultv1.ListComplianceSummariesResponse{}, &vaultv1.ComplianceSummary{}, &vaultv1.ComplianceEntry{}, &identityv1.User{}} {
		if c := codecOf(m.ProtoReflect().Descriptor()); c.direct == nil {
			t.Errorf("%T is read through protoreflect", m)
		}
	}
	for _, m := range []proto.Message{&eventsv1.Event{}, &timestamppb.Timestamp{}} {
		if c := codecOf(m.ProtoReflect().Descriptor()); c.direct != nil {
			t.Errorf("%T has a direct layout", m)
		}
	}
}

// TestEdgeValues: values no decoder makes but a service's code may: empty
// lists that are not nil, nil items, typed nil messages, zero values set.
func TestEdgeValues(t *testing.T) {
	var nilUser *identityv1.User
	for _, m := range []proto.Message{
		&directoryv1.Customer{References: []string{}}, &directoryv1.ListSuppliersResponse{Suppliers: []*directoryv1.Supplier{}},
		&directoryv1.ListSuppliersResponse{Suppliers: []*directoryv1.Supplier{nil, {}}}, nilUser,
		&directoryv1.Supplier{Address: &directoryv1.PostalAddress{}, CreateTime: &timestamppb.Timestamp{}},
		&vaultv1.ComplianceSummary{Counts: &vaultv1.ComplianceCounts{}, OpenEntries: []*vaultv1.ComplianceEntry{{Status: 99}}},
	} {
		check(t, m)
	}
}

func TestTimestampLayouts(t *testing.T) {
	for _, m := range []proto.Message{&timestamppb.Timestamp{}, &durationpb.Duration{}} {
		if c := codecOf(m.ProtoReflect().Descriptor()); c.goType == nil {
			t.Errorf("%T's seconds and nanos are read through protoreflect", m)
		}
	}
}
