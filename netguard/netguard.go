// Package netguard enforces SPEC §4, "Webhook URL validation and network
// safety": it decides which webhook URLs are accepted, and it builds the one
// HTTP client every outgoing request (webhooks and IM APIs) goes through.
//
// The protection has two layers:
//
//   - CheckURL, at validation time, rejects a URL whose scheme, host or
//     address is not acceptable, with a message fit for a 400 answer that
//     names the webhook type and the host but never the path or query
//     (they hold secrets).
//   - NewClient, at dial time, refuses to connect to blocked addresses after
//     DNS resolution, so a host that resolves (or later re-resolves) to a
//     private address cannot be reached; it never follows redirects and
//     never uses a proxy.
//
// Only the dial-time check is a security boundary: validation-time address
// checks can only see IP literals and "localhost", not what a name resolves
// to.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald"
)

// EnvAllowPrivate and EnvAllowedHosts are the environment variables that
// set a Policy (SPEC §4). They are named in error messages so operators know
// which knob to turn.
const (
	EnvAllowPrivate = "HERALD_ALLOW_PRIVATE_TARGETS"
	EnvAllowedHosts = "HERALD_ALLOWED_HOSTS"
)

// allowPrivateHint ends every address rejection.
const allowPrivateHint = "set " + EnvAllowPrivate + "=true to allow private targets"

// Policy is the operator's network policy. The zero Policy is the default
// of SPEC §4: blocked addresses are refused and no extra hosts are accepted.
type Policy struct {
	// AllowPrivate (HERALD_ALLOW_PRIVATE_TARGETS=true) lifts the address
	// check, both in CheckURL and in the dialer of NewClient.
	AllowPrivate bool
	// AllowedHosts (HERALD_ALLOWED_HOSTS) are extra hosts every webhook type
	// accepts, over http or https, with any path. Each entry is "host"
	// (any port), "host:port" (that port only; a URL without a port has
	// its scheme's default port), "[v6addr]" or "[v6addr]:port"; a host
	// may be "*.example.com" to accept every subdomain. Entries are
	// compared case-insensitively; entries that do not parse are ignored
	// (ParseAllowedHosts rejects them up front). AllowedHosts never lifts
	// the address check.
	AllowedHosts []string
}

// CheckURL validates raw as the URL of a webhook of type t and returns it
// parsed. It guarantees that an accepted URL
//
//   - is absolute, with scheme https or http, a non-empty host and, if
//     present, a port in 1–65535;
//   - carries no user info (user:password@): secrets belong in the path or
//     query;
//   - has a host in p.AllowedHosts, or else is accepted by platformCheck
//     (the platform's own host and path rules; nil accepts any host, as
//     CUSTOM does). platformCheck is not called for an allowed host;
//   - unless p.AllowPrivate is set, is not "localhost", a "*.localhost"
//     name, or an IP literal (including legacy forms such as 2130706433 or
//     127.1) that Blocked refuses. AllowedHosts does not lift this check.
//
// Every rejection is a herald INVALID_ARGUMENT error on field "url" whose
// message names the type and the host, e.g. `url: host "evil.example.com"
// is not accepted for SLACK webhooks (accepted: hooks.slack.com, …)`. The
// messages CheckURL writes never contain the URL's path, query, fragment or
// user info. The text of platformCheck's error is embedded (prefixed with
// the type and host when it names neither); as a safeguard, every path
// segment, query value or fragment of 16 characters or more is redacted
// from it, but platformCheck should not quote the path or query at all.
func (p *Policy) CheckURL(t herald.WebhookType, raw string, platformCheck func(*url.URL) error) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the URL: never embed them.
		return nil, herald.Invalidf("url", "is not a valid URL for %s webhooks", t)
	}
	switch u.Scheme {
	case "https", "http":
	case "":
		return nil, herald.Invalidf("url", "must be an absolute https or http URL for %s webhooks", t)
	default:
		return nil, herald.Invalidf("url", "scheme %q is not accepted for %s webhooks (use https or http)", u.Scheme, t)
	}
	host := strings.ToLower(u.Hostname())
	if u.Opaque != "" || host == "" {
		return nil, herald.Invalidf("url", "must be an absolute https or http URL with a host for %s webhooks", t)
	}
	if u.User != nil {
		return nil, herald.Invalidf("url", "host %q of this %s webhook is preceded by user info (user:password@), which is not accepted; put secrets in the path or query", host, t)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, herald.Invalidf("url", "host %q of this %s webhook has an invalid port", host, t)
		}
	}

	if !p.allowedHost(u) && platformCheck != nil {
		if err := platformCheck(u); err != nil {
			return nil, herald.Invalidf("url", "%s", platformMessage(t, host, u, err))
		}
	}

	if !p.AllowPrivate {
		if reason, blocked := blockedHost(host); blocked {
			return nil, herald.Invalidf("url", "host %q of this %s webhook is %s %s address; %s", host, t, article(reason), reason, allowPrivateHint)
		}
	}
	return u, nil
}

// platformMessage is the text of a platformCheck error, made to name the
// type and host and scrubbed of the URL's secret parts.
func platformMessage(t herald.WebhookType, host string, u *url.URL, err error) string {
	var he *herald.Error
	msg := err.Error()
	if errors.As(err, &he) {
		msg = he.Message
	}
	msg = redact(msg, u)
	if !strings.Contains(msg, strconv.Quote(host)) || !strings.Contains(msg, string(t)) {
		msg = fmt.Sprintf("this %s webhook URL (host %q) is not accepted: %s", t, host, msg)
	}
	return msg
}

// minSecret is the length from which a path segment, query value or
// fragment is taken for a secret (webhook tokens are 24 to 70 characters);
// shorter pieces such as "api" or "webhooks" are left alone so that
// messages quoting expected paths stay readable.
const minSecret = 16

// redact replaces in msg every secret-looking piece of u's path, query and
// fragment, raw or escaped, with "…".
func redact(msg string, u *url.URL) string {
	var pieces []string
	add := func(s string) {
		if len(s) >= minSecret {
			pieces = append(pieces, s)
			if e := url.PathEscape(s); e != s {
				pieces = append(pieces, e)
			}
			if e := url.QueryEscape(s); e != s {
				pieces = append(pieces, e)
			}
		}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		add(seg)
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		add(seg)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			add(v)
		}
	}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		_, v, _ := strings.Cut(kv, "=")
		add(v)
	}
	add(u.Fragment)
	add(u.EscapedFragment())
	for _, p := range pieces {
		msg = strings.ReplaceAll(msg, p, "…")
	}
	return msg
}

// allowedHost reports whether u's host (and port) is in p.AllowedHosts.
func (p *Policy) allowedHost(u *url.URL) bool {
	if len(p.AllowedHosts) == 0 {
		return false
	}
	host := u.Hostname()
	port := effectivePort(u)
	for _, entry := range p.AllowedHosts {
		eh, ep, err := splitEntry(strings.ToLower(strings.TrimSpace(entry)))
		if err != nil {
			continue
		}
		if ep != "" && ep != port {
			continue
		}
		if HostMatches(eh, host) {
			return true
		}
	}
	return false
}

// effectivePort is u's port as a canonical decimal string, or its scheme's
// default port when it has none.
func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			return strconv.Itoa(n)
		}
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// blockedHost is the validation-time address check of a URL host: the
// "localhost" names and IP literals that Blocked refuses.
func blockedHost(host string) (string, bool) {
	h := strings.TrimSuffix(host, ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "loopback", true
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return Blocked(a)
	}
	if a, ok := parseLegacyIPv4(h); ok {
		return Blocked(a)
	}
	return "", false
}

// parseLegacyIPv4 reads the inet_aton forms of an IPv4 address that
// netip rejects but resolvers and browsers accept: fewer than four parts
// ("127.1"), a single number ("2130706433"), and octal or hexadecimal parts
// ("0177.0.0.1", "0x7f.0.0.1").
func parseLegacyIPv4(h string) (netip.Addr, bool) {
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, s := range parts {
		base := 10
		switch {
		case strings.HasPrefix(s, "0x"):
			base, s = 16, s[2:]
			if s == "" {
				s = "0"
			}
		case len(s) >= 2 && s[0] == '0':
			base, s = 8, s[1:]
		}
		n, err := strconv.ParseUint(s, base, 32) // no sign, prefix or '_' accepted
		if err != nil {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 0xff {
			return netip.Addr{}, false
		}
		v |= n << (24 - 8*i)
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// article is "an" before a vowel and "a" otherwise.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// HostMatches reports whether host matches a host rule. Matching is
// case-insensitive and ignores one trailing dot and IPv6 brackets.
// "example.com" matches exactly that host; "*.example.com" matches every
// subdomain at any depth (a.example.com, a.b.example.com) but not
// example.com itself, and never an IP literal. Two IP addresses match when
// they are equal, whatever their spelling ("::1" and "0:0::1"). An empty
// rule or host, or a bare "*", matches nothing.
func HostMatches(rule, host string) bool {
	rule, host = normalizeHost(rule), normalizeHost(host)
	if rule == "" || host == "" {
		return false
	}
	if base, ok := strings.CutPrefix(rule, "*."); ok {
		if base == "" || strings.Contains(base, "*") {
			return false
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return false
		}
		return len(host) > len(base)+1 && strings.HasSuffix(host, "."+base)
	}
	if strings.Contains(rule, "*") {
		return false
	}
	if ra, err := netip.ParseAddr(rule); err == nil {
		ha, err := netip.ParseAddr(host)
		return err == nil && ra == ha
	}
	return rule == host
}

// normalizeHost lower-cases h and removes IPv6 brackets and one trailing dot.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return strings.TrimSuffix(h, ".")
}

// CheckHost is the host check platforms build their CheckURL from: it
// returns nil when u.Hostname() matches one of rules (see HostMatches), and
// otherwise an error `host "h" is not accepted for T webhooks (accepted:
// r1, r2)` that names only the host, never the path or query. It checks
// nothing else: schemes, ports and paths are left to the caller.
func CheckHost(t herald.WebhookType, u *url.URL, rules ...string) error {
	host := u.Hostname()
	for _, r := range rules {
		if HostMatches(r, host) {
			return nil
		}
	}
	accepted := strings.Join(rules, ", ")
	if accepted == "" {
		accepted = "none"
	}
	return fmt.Errorf("host %q is not accepted for %s webhooks (accepted: %s)", strings.ToLower(host), t, accepted)
}

// ParseAllowedHosts parses the value of HERALD_ALLOWED_HOSTS, a
// comma-separated list such as "h1,h2:8443, *.internal, [fd00::1]:9000".
// Entries are trimmed and lower-cased, empty entries and duplicates are
// dropped, and IPv6 addresses are written in brackets in canonical form.
// An entry with a scheme, user info, path, query or fragment, an invalid
// host or an invalid port (not 1–65535) is an error naming
// HERALD_ALLOWED_HOSTS and the entry. An empty s gives no hosts.
func ParseAllowedHosts(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.ToLower(strings.TrimSpace(entry))
		if entry == "" {
			continue
		}
		host, port, err := splitEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("%s: entry %q: %v", EnvAllowedHosts, entry, err)
		}
		norm := host
		if strings.Contains(host, ":") {
			norm = "[" + host + "]"
		}
		if port != "" {
			norm += ":" + port
		}
		if !seen[norm] {
			seen[norm] = true
			out = append(out, norm)
		}
	}
	return out, nil
}

// splitEntry splits a lower-cased allowed-hosts entry into its host (IPv6
// without brackets, canonical) and its port ("" for any port, else the
// decimal port).
func splitEntry(entry string) (host, port string, err error) {
	if strings.ContainsAny(entry, "/?#@\\ \t") {
		return "", "", errors.New("must be a host or host:port, without scheme, user info or path")
	}
	switch {
	case strings.HasPrefix(entry, "["):
		end := strings.IndexByte(entry, ']')
		if end < 0 {
			return "", "", errors.New("missing ] after an IPv6 address")
		}
		host = entry[1:end]
		rest := entry[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return "", "", errors.New("unexpected text after ]")
			}
			port = p
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", "", errors.New("invalid IPv6 address in brackets")
		}
		host = a.String()
	case strings.Count(entry, ":") > 1:
		a, err := netip.ParseAddr(entry)
		if err != nil || !a.Is6() {
			return "", "", errors.New("invalid host (write an IPv6 address with a port as [addr]:port)")
		}
		host = a.String()
	default:
		host, port, _ = strings.Cut(entry, ":")
		if strings.Contains(entry, ":") && port == "" {
			return "", "", errors.New("empty port")
		}
		if err := checkHostName(host); err != nil {
			return "", "", err
		}
	}
	if port != "" || strings.HasSuffix(entry, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
			return "", "", fmt.Errorf("invalid port %q", port)
		}
		port = strconv.Itoa(n)
	}
	return host, port, nil
}

// checkHostName accepts a DNS name (letters, digits, '-', '_' and dots,
// optionally starting with "*."), or an IPv4 address.
func checkHostName(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return errors.New("empty host")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("invalid host name")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("invalid character %q in host name", c)
			}
		}
	}
	return nil
}

// blockedRange is one range of Blocked's table.
type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// blockedRanges is checked in order; the first match wins, so narrow
// ranges come before the wider ones that contain them.
var blockedRanges = func() []blockedRange {
	table := []struct{ prefix, reason string }{
		// IPv4.
		{"0.0.0.0/32", "unspecified"},
		{"0.0.0.0/8", "reserved"}, // "this network"
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "CGNAT"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local"}, // includes 169.254.169.254, cloud metadata
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "reserved"}, // IETF protocol assignments
		{"192.0.2.0/24", "documentation"},
		{"192.88.99.0/24", "reserved"}, // deprecated 6to4 relay anycast
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"255.255.255.255/32", "broadcast"},
		{"240.0.0.0/4", "reserved"},
		// IPv6. IPv4-mapped, NAT64 and 6to4 addresses never reach this
		// table: Blocked judges their embedded IPv4 address instead.
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"64:ff9b:1::/48", "private"}, // local-use NAT64, RFC 8215
		{"100::/64", "reserved"},      // discard-only
		{"2001::/32", "reserved"},     // Teredo
		{"2001:2::/48", "benchmarking"},
		{"2001:db8::/32", "documentation"},
		{"3fff::/20", "documentation"},
		{"fc00::/7", "private"}, // unique local addresses
		{"fe80::/10", "link-local"},
		{"fec0::/10", "private"}, // deprecated site-local
		{"ff00::/8", "multicast"},
	}
	out := make([]blockedRange, len(table))
	for i, r := range table {
		out[i] = blockedRange{netip.MustParsePrefix(r.prefix), r.reason}
	}
	return out
}()

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
	globalIPv6  = netip.MustParsePrefix("2000::/3")
)

// Blocked reports whether a must never be dialled, and why. The reason is
// one word or two: "loopback" (127/8, ::1), "private" (10/8, 172.16/12,
// 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48), "link-local"
// (169.254/16, including the 169.254.169.254 metadata service, and
// fe80::/10), "CGNAT" (100.64/10), "multicast" (224/4, ff00::/8),
// "unspecified" (0.0.0.0, ::), "broadcast" (255.255.255.255),
// "documentation" (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32,
// 3fff::/20), "benchmarking" (198.18/15, 2001:2::/48), "reserved" (the rest
// of 0/8, 192.0.0/24, 192.88.99/24, 240/4, Teredo 2001::/32, 100::/64, and
// every IPv6 address outside the global unicast range 2000::/3), or
// "invalid" for the zero Addr.
//
// Addresses that embed an IPv4 address are judged by it: IPv4-mapped
// (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::/48).
// The zone of a scoped address is ignored. Every other address — public
// unicast such as 8.8.8.8 or 2606:4700::1111 — is not blocked, and the
// reason is "".
func Blocked(a netip.Addr) (reason string, blocked bool) {
	if !a.IsValid() {
		return "invalid", true
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64Prefix.Contains(a):
			return Blocked(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			return Blocked(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(a) {
			return r.reason, true
		}
	}
	if a.Is6() && !globalIPv6.Contains(a) {
		// Unassigned space, and deprecated IPv4-compatible ::a.b.c.d.
		return "reserved", true
	}
	return "", false
}

// DialRefusedError is the error NewClient's dialer returns for an address
// it will not connect to. Its message names the address and the reason,
// never the URL or host name. Callers can detect it with errors.As through
// the *url.Error and *net.OpError that wrap it.
type DialRefusedError struct {
	// Addr is the resolved address; it is the zero Addr when the dialer
	// was handed something it could not read as ip:port.
	Addr netip.Addr
	// Reason is Blocked's reason.
	Reason string
}

// Error reads "refusing to connect to <ip> (<reason>); set
// HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets".
func (e *DialRefusedError) Error() string {
	addr := "an unreadable address"
	if e.Addr.IsValid() {
		addr = e.Addr.String()
	}
	return fmt.Sprintf("refusing to connect to %s (%s); %s", addr, e.Reason, allowPrivateHint)
}

// control is the net.Dialer Control function of NewClient. It runs after DNS
// resolution, once for every address the dialer tries, so address is always
// the resolved ip:port; anything it cannot read is refused.
func control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &DialRefusedError{Reason: "unreadable address"}
	}
	if reason, blocked := Blocked(ap.Addr()); blocked {
		return &DialRefusedError{Addr: ap.Addr().WithZone(""), Reason: reason}
	}
	return nil
}

// NewClient returns the *http.Client for every outgoing request, webhooks
// and IM APIs alike. It guarantees that
//
//   - each request, including reading the body, is bounded by timeout
//     (zero or less means no overall limit, as with http.Client);
//   - redirects are never followed: a 3xx answer is returned as is;
//   - no proxy is used, whatever the environment says (a proxy would
//     connect on our behalf and bypass the address check);
//   - unless p.AllowPrivate is set, the dialer refuses, after DNS
//     resolution and for every address it tries, any address that Blocked
//     refuses, with a *DialRefusedError; a host name that resolves (or
//     re-resolves, DNS rebinding) to a private address is thus never
//     reached. AllowedHosts does not lift this check.
//
// The policy is read when NewClient is called; later changes to p do not
// affect the client. The transport keeps up to 64 idle connections per
// host for 90 s, allows 10 s for TLS handshakes and attempts HTTP/2.
func (p *Policy) NewClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
	}
	if !p.AllowPrivate {
		dialer.Control = control
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
	if timeout < 0 {
		timeout = 0
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
