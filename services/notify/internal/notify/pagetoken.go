package notify

import (
	"strconv"
	"time"

	"github.com/vigil/vigil/services/runtime/pagetoken"
)

// Page tokens are runtime/pagetoken's, bound to the query that produced it
// (a token from an unread-only listing is refused by a full listing); the
// position is a cursor's time (Unix nanoseconds, empty when none) and id.

// encodePageToken returns the token that continues after c for query q.
func encodePageToken(c Cursor, q string) string {
	t := ""
	if !c.Time.IsZero() {
		t = strconv.FormatInt(c.Time.UnixNano(), 10)
	}
	return pagetoken.Encode(q, t, c.ID)
}

// decodePageToken parses a token made by encodePageToken for query q; the
// empty token is the first page. Anything else is INVALID_ARGUMENT page_token.
func decodePageToken(s, q string) (Cursor, error) {
	parts, err := pagetoken.Decode(s, q, 2)
	if err != nil || parts == nil {
		return Cursor{}, err
	}
	c := Cursor{ID: parts[1]}
	if !ValidDeliveryID(c.ID) {
		return Cursor{}, pagetoken.Invalid()
	}
	if parts[0] != "" {
		ns, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil || ns <= 0 || strconv.FormatInt(ns, 10) != parts[0] {
			return Cursor{}, pagetoken.Invalid()
		}
		c.Time = time.Unix(0, ns).UTC()
	}
	return c, nil
}
