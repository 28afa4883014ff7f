package notify

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// idEncoding keeps byte order in string order (base32 "hex" alphabet), so
// IDs sort by creation time as strings and as bbolt keys.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newNotificationID returns a 26-character ID: 8 bytes of creation time
// (Unix nanoseconds, big-endian) and 8 random bytes.
func newNotificationID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	_, _ = rand.Read(b[8:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// DeliveryID is the ID of the delivery (and inbox entry) of recipient index
// of notification id.
func DeliveryID(notificationID string, index int) string {
	return fmt.Sprintf("%s-%03d", notificationID, index)
}

var deliveryIDPattern = regexp.MustCompile(`^[0-9a-v]{26}-[0-9]{3}$`)

// ValidDeliveryID reports whether id has the shape DeliveryID makes.
func ValidDeliveryID(id string) bool { return deliveryIDPattern.MatchString(id) }

// IDTime is the creation time a notification or delivery ID carries.
func IDTime(id string) (time.Time, bool) {
	if len(id) < 26 {
		return time.Time{}, false
	}
	b, err := idEncoding.DecodeString(strings.ToUpper(id[:26]))
	if err != nil || len(b) < 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))).UTC(), true
}

// NewIDForTest returns a notification ID created at t (store conformance
// tests that check creation times).
func NewIDForTest(t time.Time) string { return newNotificationID(t) }
