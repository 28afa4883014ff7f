package notify

import (
	"fmt"

	"github.com/vigil/vigil/services/runtime/names"
)

// Notification ids are runtime/names ids (creation time first, so that the
// pending queue and the inboxes read in time order). A delivery's id is its
// notification's and the recipient's index.

// DeliveryID is the ID of the delivery (and inbox entry) of recipient index
// of notification id.
func DeliveryID(notificationID string, index int) string {
	return fmt.Sprintf("%s-%03d", notificationID, index)
}

// ValidDeliveryID reports whether id has the shape DeliveryID makes: a
// notification id, a dash and three digits.
func ValidDeliveryID(id string) bool {
	if len(id) != names.IDLen+4 || !names.IsNewID(id[:names.IDLen]) || id[names.IDLen] != '-' {
		return false
	}
	for _, c := range id[names.IDLen+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
