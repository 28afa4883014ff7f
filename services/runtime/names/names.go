// Package names is the one place where Vigil makes ids and formats and reads
// resource names (AIP-122): `companies/{company}`,
// `companies/{company}/users/{user}`, …. A name a request carries is read
// with Parse, whose error is INVALID_ARGUMENT naming the request field; a
// name from a trusted source (a service's answer, an event) with Match.
package names

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/vigil/vigil/services/runtime/errs"
)

// idEncoding is base32 with the "extended hex" alphabet, lower-cased: a
// string sorts as the bytes it encodes.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// IDLen is the length of the ids NewID makes.
const IDLen = 26

// NewID returns a new id: 26 URL-safe characters ([0-9a-v]) encoding 8
// bytes of the creation time (Unix nanoseconds, big-endian) then 8 random
// bytes. Ids made later sort later, as strings and as store keys, so that
// records created together are written side by side in ordered indexes and
// queues read oldest first; the random part keeps them unguessable.
//
// Ids stored before stay valid (ValidID) and keep their order: directory's
// and vault's earlier ids (6 bytes of milliseconds, then random) sort before
// every id NewID makes, notify's were made this way already, identity's
// were random.
func NewID() string { return NewIDAt(time.Now()) }

// NewIDAt is NewID for creation time t (a service's own clock).
func NewIDAt(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	_, _ = rand.Read(b[8:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// IDTime is the creation time that an id made by NewID carries (its first
// 26 characters are read, so that ids derived by a suffix work too).
func IDTime(id string) (time.Time, bool) {
	if len(id) < IDLen {
		return time.Time{}, false
	}
	b, err := idEncoding.DecodeString(strings.ToUpper(id[:IDLen]))
	if err != nil || len(b) < 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))).UTC(), true
}

// IsNewID reports whether id has the shape NewID makes: 26 of [0-9a-v].
func IsNewID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'v') {
			return false
		}
	}
	return true
}

// MaxIDLen bounds an id in a resource name.
const MaxIDLen = 64

// ValidID reports whether id may stand in a resource name: 1 to 64 of
// [A-Za-z0-9_-]. Every id a service made passes.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// pattern is a resource name's shape: collections and {variables}
// alternating, "companies/{company}/users/{user}".
type pattern struct {
	shape       string
	collections []string
}

func newPattern(shape string, vars int) pattern {
	parts := strings.Split(shape, "/")
	if len(parts) != 2*vars {
		panic(fmt.Sprintf("names: %q does not have %d variables", shape, vars))
	}
	p := pattern{shape: shape}
	for i := 0; i < len(parts); i += 2 {
		if v := parts[i+1]; len(v) < 3 || v[0] != '{' || v[len(v)-1] != '}' || parts[i] == "" {
			panic(fmt.Sprintf("names: %q is not collection/{variable} pairs", shape))
		}
		p.collections = append(p.collections, parts[i])
	}
	return p
}

func (p pattern) format(ids ...string) string {
	var b strings.Builder
	for i, c := range p.collections {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(c)
		b.WriteByte('/')
		b.WriteString(ids[i])
	}
	return b.String()
}

// match reads the ids of name into ids (one per collection).
func (p pattern) match(name string, ids []string) bool {
	if len(p.collections) == 0 {
		return false // the zero Name matches nothing
	}
	for i, c := range p.collections {
		rest, ok := strings.CutPrefix(name, c+"/")
		if !ok {
			return false
		}
		id := rest
		if i < len(p.collections)-1 {
			var found bool
			if id, rest, found = strings.Cut(rest, "/"); !found {
				return false
			}
		} else {
			rest = ""
		}
		if !ValidID(id) {
			return false
		}
		ids[i], name = id, rest
	}
	return true
}

func (p pattern) bad(field string) error { return errs.InvalidArgument(field, "must be %s", p.shape) }

// Name1 is a resource name with one id: `companies/{company}`.
type Name1 struct{ p pattern }

// Name2 is a resource name with two ids: `companies/{company}/users/{user}`.
type Name2 struct{ p pattern }

// Name3 is a resource name with three ids.
type Name3 struct{ p pattern }

// New1, New2 and New3 declare a name's shape; they panic on a shape that
// does not have as many collection/{variable} pairs (package variables).
func New1(shape string) Name1 { return Name1{newPattern(shape, 1)} }

// New2 declares a name of two ids.
func New2(shape string) Name2 { return Name2{newPattern(shape, 2)} }

// New3 declares a name of three ids.
func New3(shape string) Name3 { return Name3{newPattern(shape, 3)} }

// String is the shape, as error messages show it.
func (n Name1) String() string { return n.p.shape }

// String is the shape, as error messages show it.
func (n Name2) String() string { return n.p.shape }

// String is the shape, as error messages show it.
func (n Name3) String() string { return n.p.shape }

// Format is the name of id.
func (n Name1) Format(id string) string { return n.p.format(id) }

// Format is the name of the ids a, b.
func (n Name2) Format(a, b string) string { return n.p.format(a, b) }

// Format is the name of the ids a, b, c.
func (n Name3) Format(a, b, c string) string { return n.p.format(a, b, c) }

// Match returns the id of name, or false when name does not have the shape
// or its id is not ValidID.
func (n Name1) Match(name string) (string, bool) {
	var ids [1]string
	ok := n.p.match(name, ids[:])
	return ids[0], ok
}

// Match returns the ids of name, or false.
func (n Name2) Match(name string) (string, string, bool) {
	var ids [2]string
	if !n.p.match(name, ids[:]) {
		return "", "", false
	}
	return ids[0], ids[1], true
}

// Match returns the ids of name, or false.
func (n Name3) Match(name string) (string, string, string, bool) {
	var ids [3]string
	if !n.p.match(name, ids[:]) {
		return "", "", "", false
	}
	return ids[0], ids[1], ids[2], true
}

// Parse is Match for a name a request carries in field: a mismatch is
// INVALID_ARGUMENT naming the field ("must be companies/{company}").
func (n Name1) Parse(field, name string) (string, error) {
	id, ok := n.Match(name)
	if !ok {
		return "", n.p.bad(field)
	}
	return id, nil
}

// Parse is Match for a name a request carries in field.
func (n Name2) Parse(field, name string) (string, string, error) {
	a, b, ok := n.Match(name)
	if !ok {
		return "", "", n.p.bad(field)
	}
	return a, b, nil
}

// Parse is Match for a name a request carries in field.
func (n Name3) Parse(field, name string) (string, string, string, error) {
	a, b, c, ok := n.Match(name)
	if !ok {
		return "", "", "", n.p.bad(field)
	}
	return a, b, c, nil
}

// Match reads a name of any shape by its collections:
// Match("companies/a/documents/b", "companies", "documents") returns
// [a b]. The declared names (Company, Member, …) say more and are to be
// preferred; Match serves names chosen at run time.
func Match(name string, collections ...string) ([]string, bool) {
	p := pattern{collections: collections}
	ids := make([]string, len(collections))
	if !p.match(name, ids) {
		return nil, false
	}
	return ids, true
}

// The suite's resource names.
var (
	Company      = New1("companies/{company}")
	User         = New1("users/{user}")
	DocumentType = New1("documentTypes/{type}")

	Member          = New2("companies/{company}/users/{user}")
	Grant           = New2("companies/{company}/grants/{grant}")
	Supplier        = New2("companies/{company}/suppliers/{supplier}")
	Customer        = New2("companies/{company}/customers/{customer}")
	Employee        = New2("companies/{company}/employees/{employee}")
	Project         = New2("companies/{company}/projects/{project}")
	SupplierImport  = New2("companies/{company}/supplierImports/{import}")
	Document        = New2("companies/{company}/documents/{document}")
	Requirement     = New2("companies/{company}/requirements/{requirement}")
	Webhook         = New2("companies/{company}/webhooks/{webhook}")
	WebhookDelivery = New3("companies/{company}/webhooks/{webhook}/deliveries/{delivery}")

	SupplierDocument = New3("companies/{company}/suppliers/{supplier}/documents/{document}")
)
