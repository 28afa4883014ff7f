package webhooks

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vigil/vigil/services/runtime/errs"
)

// TestForbiddenAddresses: the table of where webhooks may not connect
// (issue 13: loopback, private, link-local, CGNAT, multicast, unspecified,
// metadata), IPv4 inside IPv6 included.
func TestForbiddenAddresses(t *testing.T) {
	cases := []struct {
		addr string
		why  string // "" = allowed; else a word of the reason
	}{
		{"93.184.216.34", ""},
		{"8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"172.32.0.1", ""},
		{"192.168.1.1", "private"},
		{"fd12:3456::1", "private"},
		{"169.254.10.10", "link-local"},
		{"fe80::1", "link-local"},
		{"100.64.0.1", "CGNAT"},
		{"100.127.255.255", "CGNAT"},
		{"100.128.0.1", ""},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"255.255.255.255", "reserved"},
		{"169.254.169.254", "metadata"},
		{"100.100.100.200", "metadata"},
		{"192.0.0.192", "metadata"},
		{"fd00:ec2::254", "metadata"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "metadata"},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::a9fe:a9fe", "metadata (embedded"},
		{"64:ff9b::a9fe:101", "link-local (embedded"},
		{"64:ff9b::808:808", ""},
		{"2002:7f00:1::1", "loopback (embedded"},
		{"2002:0808:0808::1", ""},
		{"::10.0.0.1", "private (embedded"},
		{"fe80::1%eth0", "zone"},
	}
	for _, c := range cases {
		ip, err := netip.ParseAddr(c.addr)
		if err != nil {
			t.Fatalf("%s: %v", c.addr, err)
		}
		why := Forbidden(ip)
		if c.why == "" && why != "" || c.why != "" && !strings.Contains(why, c.why) {
			t.Errorf("Forbidden(%s) = %q, want %q", c.addr, why, c.why)
		}
	}
}

func TestGuardControl(t *testing.T) {
	g := Guard{}
	for _, c := range []struct {
		network, addr string
		ok            bool
	}{
		{"tcp4", "93.184.216.34:443", true},
		{"tcp6", "[2606:4700:4700::1111]:443", true},
		{"tcp4", "127.0.0.1:443", false},
		{"tcp6", "[::1]:443", false},
		{"tcp4", "169.254.169.254:80", false},
		{"tcp6", "[::ffff:10.0.0.1]:443", false},
		{"udp4", "93.184.216.34:53", false},
		{"tcp4", "not-an-address", false},
	} {
		err := g.Control(c.network, c.addr, nil)
		if (err == nil) != c.ok {
			t.Errorf("Control(%s, %s) = %v, want ok=%v", c.network, c.addr, err, c.ok)
		}
	}
	if err := (Guard{AllowPrivate: true}).Control("tcp4", "127.0.0.1:443", nil); err != nil {
		t.Errorf("allowed private: %v", err)
	}
}

// fakeResolver answers from a table; unknown names do not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "slow.example" {
		return nil, &net.DNSError{Err: "timeout", Name: host, IsTimeout: true}
	}
	addrs, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

var resolver = fakeResolver{
	"erp.example":      {"93.184.216.34"},
	"dual.example":     {"93.184.216.34", "2606:4700:4700::1111"},
	"internal.example": {"10.0.0.7"},
	"mixed.example":    {"93.184.216.34", "192.168.0.2"},
	"meta.example":     {"169.254.169.254"},
	"localhost":        {"127.0.0.1", "::1"},
}

// TestCheckURL: what an Administrator may register (issue 13, "Bad input"):
// every refusal is a 400 naming the field.
func TestCheckURL(t *testing.T) {
	cases := []struct {
		url          string
		allowPrivate bool
		ok           bool
		msg          string
	}{
		{"https://erp.example/vigil/hooks?x=1", false, true, ""},
		{"https://dual.example:8443/hook", false, true, ""},
		{"https://93.184.216.34/hook", false, true, ""},
		{"", false, false, "required"},
		{"http://erp.example/hook", false, false, "https"},
		{"ftp://erp.example/hook", false, false, "https"},
		{"erp.example/hook", false, false, "absolute"},
		{"https:///hook", false, false, "absolute"},
		{"https://user:pw@erp.example/hook", false, false, "user information"},
		{"https://erp.example/hook#frag", false, false, "fragment"},
		{"https://erp.example:99999/hook", false, false, "port"},
		{"https://erp.example:0/hook", false, false, "port"},
		{"https://erp.example/ho ok", false, false, "spaces"},
		{"https://erp.example/" + strings.Repeat("a", MaxURLBytes), false, false, "bytes"},
		{"https://%zz/", false, false, "absolute"},
		{"https://nowhere.example/hook", false, false, "does not resolve"},
		{"https://internal.example/hook", false, false, "private"},
		{"https://mixed.example/hook", false, false, "192.168.0.2"},
		{"https://meta.example/latest", false, false, "metadata"},
		{"https://localhost:8443/hook", false, false, "loopback"},
		{"https://127.0.0.1/hook", false, false, "loopback"},
		{"https://[::1]/hook", false, false, "loopback"},
		{"https://169.254.169.254/latest/meta-data", false, false, "metadata"},
		{"https://[fe80::1%25eth0]/hook", false, false, "zone"},
		{"https://internal.example/hook", true, true, ""},
		{"https://127.0.0.1:8443/hook", true, true, ""},
		{"http://127.0.0.1:8443/hook", true, false, "https"},
		{"https://nowhere.example/hook", true, false, "does not resolve"},
	}
	for _, c := range cases {
		err := checkURL(context.Background(), c.url, "webhook.url", resolver, c.allowPrivate)
		if c.ok {
			if err != nil {
				t.Errorf("%q: %v", c.url, err)
			}
			continue
		}
		var de *errs.Error
		if !errors.As(err, &de) || de.Kind != errs.KindInvalidArgument || de.Field != "webhook.url" || !strings.Contains(de.Message, c.msg) {
			t.Errorf("%q (allow private %v): %v, want INVALID_ARGUMENT on webhook.url mentioning %q", c.url, c.allowPrivate, err, c.msg)
		}
	}
	if err := checkURL(context.Background(), "https://slow.example/", "webhook.url", resolver, false); !errors.Is(err, errs.ErrUnavailable) {
		t.Errorf("a DNS timeout is not the caller's fault: %v", err)
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://erp.example/x", "http://a", "https://[::1]:1/", "https://u@h/#f", "https://127.1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := checkURL(context.Background(), raw, "webhook.url", resolver, false)
		if err == nil && !strings.HasPrefix(raw, "https://") {
			t.Fatalf("accepted %q", raw)
		}
		var de *errs.Error
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("%q: untyped error %v", raw, err)
		}
	})
}
