package webhooks

import (
	"encoding/json"
	"time"
)

// CloudEvent is an event as integrations receive it, CloudEvents 1.0 in
// structured JSON mode: the body of a delivery and an entry of the change
// feed (the handlers turn this same value into the feed's proto).
type CloudEvent struct {
	SpecVersion     string         `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	Subject         string         `json:"subject,omitempty"`
	Time            time.Time      `json:"time"`
	DataContentType string         `json:"datacontenttype"`
	Data            CloudEventData `json:"data"`
}

// CloudEventData is a CloudEvent's data: the company it is for, the
// resources involved by role, and further facts.
type CloudEventData struct {
	Company    string            `json:"company"`
	Resources  map[string]string `json:"resources,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// TypeTest is the type of the event TestWebhook sends.
const TypeTest = "webhook.test"

// SourceURI is a service's CloudEvents source.
func SourceURI(source string) string { return "/vigil/" + source }

// ToCloudEvent renders a kept event.
func ToCloudEvent(e Event) CloudEvent {
	return CloudEvent{
		SpecVersion: "1.0", ID: e.ID, Source: SourceURI(e.Source), Type: e.Type, Subject: e.Subject,
		Time: e.Time.UTC(), DataContentType: "application/json",
		Data: CloudEventData{Company: e.Company, Resources: e.Resources, Attributes: e.Attributes},
	}
}

// body is the JSON of a delivery.
func body(e Event) ([]byte, error) { return json.Marshal(ToCloudEvent(e)) }
