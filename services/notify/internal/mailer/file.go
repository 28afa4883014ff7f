package mailer

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"

	"github.com/vigil/vigil/services/notify/internal/notify"
)

// Files writes each e-mail as `<MessageID>.eml` in a folder, for running
// without an SMTP server (`make run`). It implements notify.Sender. A file is
// written to a temporary name, synced, then renamed, so a reader never sees
// half a message; a resend rewrites the same file, so it is idempotent.
type Files struct {
	dir    string
	from   *mail.Address
	domain string
}

// NewFiles returns a sender writing into dir (created if needed).
func NewFiles(dir, from string) (*Files, error) {
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("smtp-from: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail folder: %w", err)
	}
	return &Files{dir: dir, from: addr, domain: domainOf(addr.Address)}, nil
}

// Dir is the folder the messages are written to.
func (f *Files) Dir() string { return f.dir }

// Send writes e; see Files.
func (f *Files) Send(_ context.Context, e notify.Email) (string, error) {
	if !notify.ValidDeliveryID(e.MessageID) {
		return "", notify.Permanent(fmt.Errorf("message id %q is not a file name", e.MessageID))
	}
	msg, err := Compose(f.from, e, f.domain)
	if err != nil {
		return "", notify.Permanent(err)
	}
	final := filepath.Join(f.dir, e.MessageID+".eml")
	tmp, err := os.CreateTemp(f.dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(msg); err != nil {
		_ = tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	if d, err := os.Open(f.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return "written " + final, nil
}
