package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/vigil/vigil/services/runtime/errs"
)

// An endpoint is a URL on the internet, never an address inside the
// platform's own network: notify must not become a way to reach loopback
// services, the cluster, or a cloud's metadata service (SSRF). The check is
// made twice: when an endpoint is registered (a clear 400), and on every
// connection, on the address actually dialled after DNS (Guard.Control), so
// that a name that resolves elsewhere later (DNS rebinding) gains nothing.
// The operator lifts it with WebhookAllowPrivate (tests, on-premises ERPs).

// metadataAddrs are cloud metadata services; all lie in ranges below, but
// are named for the message.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba
	netip.MustParseAddr("192.0.0.192"):     true, // Oracle
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS over IPv6
}

var forbiddenRanges = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private (local NAT64)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4  = netip.MustParsePrefix("2002::/16")
	teredo  = netip.MustParsePrefix("2001::/32")
	v4compa = netip.MustParsePrefix("::/96")
)

// Forbidden says why a webhook may not connect to ip ("" when it may). An
// IPv6 address that embeds an IPv4 one (mapped, compatible, NAT64, 6to4,
// Teredo) is judged by the IPv4 address too.
func Forbidden(ip netip.Addr) string {
	if !ip.IsValid() {
		return "not an IP address"
	}
	if ip.Zone() != "" {
		return "scoped (zone) address"
	}
	ip = ip.Unmap()
	if metadataAddrs[ip] {
		return "cloud metadata"
	}
	for _, r := range forbiddenRanges {
		if r.prefix.Contains(ip) {
			return r.why
		}
	}
	if ip.Is6() {
		if v4, ok := embeddedV4(ip); ok {
			if why := Forbidden(v4); why != "" {
				return why + " (embedded in IPv6)"
			}
		}
	}
	return ""
}

func embeddedV4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip), v4compa.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixTo4.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredo.Contains(ip):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// ForbiddenAddressError is a connection refused by the guard.
type ForbiddenAddressError struct {
	Addr netip.Addr
	Why  string
}

func (e *ForbiddenAddressError) Error() string {
	return fmt.Sprintf("address %s may not be reached by webhooks (%s)", e.Addr, e.Why)
}

// Guard checks every connection a webhook delivery opens.
type Guard struct {
	// AllowPrivate lets connections reach every address (the operator's
	// choice: tests, on-premises ERPs).
	AllowPrivate bool
}

// Control is a net.Dialer Control function: it runs after DNS resolution,
// before connecting, with the very address dialled.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("webhooks connect over TCP only, not %s", network)
	}
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook connection to %q: %w", address, err)
	}
	if why := Forbidden(ap.Addr()); why != "" {
		return &ForbiddenAddressError{Addr: ap.Addr(), Why: why}
	}
	return nil
}

// Resolver resolves host names (net.DefaultResolver; tests fake it).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// MaxURLBytes bounds an endpoint URL.
const MaxURLBytes = 2000

// resolveTimeout bounds the DNS lookup of a registration.
const resolveTimeout = 5 * time.Second

// checkURL is the registration rule of an endpoint URL: an absolute https
// URL without user information or fragment, whose host resolves only to
// addresses webhooks may reach. Its errors name field.
func checkURL(ctx context.Context, raw, field string, resolver Resolver, allowPrivate bool) error {
	if raw == "" {
		return errs.InvalidArgument(field, "required")
	}
	if len(raw) > MaxURLBytes || strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return errs.InvalidArgument(field, "must be a URL of at most %d bytes without spaces", MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return errs.InvalidArgument(field, "must be an absolute URL such as https://erp.example.com/vigil")
	}
	if u.Scheme != "https" {
		return errs.InvalidArgument(field, "must use https (got %s)", u.Scheme)
	}
	if u.User != nil {
		return errs.InvalidArgument(field, "must not carry user information; authenticate deliveries by their signature")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errs.InvalidArgument(field, "must not have a fragment")
	}
	host := u.Hostname()
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errs.InvalidArgument(field, "has an invalid port")
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := Forbidden(ip); why != "" && !allowPrivate {
			return errs.InvalidArgument(field, "%s is a %s address, which webhooks may not reach", ip, why)
		}
		return nil
	}
	if strings.Contains(host, "%") {
		return errs.InvalidArgument(field, "must not name a scoped address")
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	var dnsErr *net.DNSError
	switch {
	case err != nil && errors.As(err, &dnsErr) && (dnsErr.IsTimeout || dnsErr.IsTemporary):
		return errs.Unavailable("DNS_UNAVAILABLE", "cannot resolve %s now; retry", host)
	case err != nil || len(addrs) == 0:
		return errs.InvalidArgument(field, "host %s does not resolve", host)
	}
	if allowPrivate {
		return nil
	}
	for _, a := range addrs {
		if why := Forbidden(a); why != "" {
			return errs.InvalidArgument(field, "host %s resolves to %s, a %s address, which webhooks may not reach", host, a, why)
		}
	}
	return nil
}
