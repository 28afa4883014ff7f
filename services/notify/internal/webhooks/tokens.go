package webhooks

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/vigil/vigil/services/runtime/errs"
)

// idEncoding keeps byte order in string order, so that IDs sort by time.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newID is 26 characters: 8 bytes of time (Unix ns) and 8 random bytes.
func newID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	_, _ = rand.Read(b[8:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

var idPattern = regexp.MustCompile(`^[0-9a-v]{26}$`)

// validID reports whether id has newID's shape.
func validID(id string) bool { return idPattern.MatchString(id) }

// Page tokens are base64url of a small JSON cursor bound to the listing
// that made it. They are not secret: a forged one only moves within what
// the caller may list anyway.
type pageToken struct {
	V  int    `json:"v"`
	ID string `json:"id"`
	Q  string `json:"q"`
}

func encodePageToken(id, q string) string {
	b, _ := json.Marshal(pageToken{V: 1, ID: id, Q: q})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s, q string) (string, error) {
	if s == "" {
		return "", nil
	}
	bad := errs.InvalidArgument("page_token", "not a token this list returned")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 1000 {
		return "", bad
	}
	var t pageToken
	if json.Unmarshal(raw, &t) != nil || t.V != 1 || t.Q != q || !validID(t.ID) {
		return "", bad
	}
	return t.ID, nil
}

// The change feed's cursor is opaque to integrations: a version byte and
// notify's event position, base64url. Any cursor, even an old one, resumes
// after its position; events older than 30 days are gone.
const cursorVersion = 1

// EncodeCursor is the cursor after position seq.
func EncodeCursor(seq uint64) string {
	var b [9]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], seq)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor reads a cursor made by EncodeCursor; "" is the start.
func DecodeCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 9 || b[0] != cursorVersion {
		return 0, errs.InvalidArgument("after", "not a cursor this feed returned")
	}
	return binary.BigEndian.Uint64(b[1:]), nil
}
