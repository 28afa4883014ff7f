package notify

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/vigil/vigil/services/runtime/errs"
)

// Page tokens are opaque to callers: base64url of a small JSON cursor, bound
// to the query that produced it (a token from an unread-only listing is
// refused by a full listing). They are not secret: a forged token can only
// move the cursor within what the caller may list anyway.
type pageToken struct {
	V  int    `json:"v"`
	T  int64  `json:"t,omitempty"`
	ID string `json:"id"`
	Q  string `json:"q,omitempty"`
}

const (
	tokenVersion  = 1
	maxTokenBytes = 1000
)

// encodePageToken returns the token that continues after c for query q.
func encodePageToken(c Cursor, q string) string {
	t := pageToken{V: tokenVersion, ID: c.ID, Q: q}
	if !c.Time.IsZero() {
		t.T = c.Time.UnixNano()
	}
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken parses a token made by encodePageToken for query q; the
// empty token is the first page. Anything else is INVALID_ARGUMENT page_token.
func decodePageToken(s, q string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	bad := errs.InvalidArgument("page_token", "not a token this list returned")
	if len(s) > maxTokenBytes {
		return Cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	var t pageToken
	if err := json.Unmarshal(raw, &t); err != nil {
		return Cursor{}, bad
	}
	if t.V != tokenVersion || t.Q != q || !ValidDeliveryID(t.ID) || t.T < 0 {
		return Cursor{}, bad
	}
	c := Cursor{ID: t.ID}
	if t.T != 0 {
		c.Time = time.Unix(0, t.T).UTC()
	}
	return c, nil
}
