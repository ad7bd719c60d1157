package netguard

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestBlocked(t *testing.T) {
	tests := []struct {
		addr   string
		reason string // "" means not blocked
	}{
		// Loopback.
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		// Private, RFC 1918 and IPv6 ULA.
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.0.1", "private"},
		{"192.168.255.255", "private"},
		{"fc00::1", "private"},
		{"fd12:3456:789a::1", "private"},
		{"fec0::1", "private"},
		// Link-local, including the cloud metadata address.
		{"169.254.0.1", "link-local"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf::1", "link-local"},
		// CGNAT.
		{"100.64.0.1", "CGNAT"},
		{"100.127.255.255", "CGNAT"},
		// Multicast.
		{"224.0.0.1", "multicast"},
		{"239.255.255.255", "multicast"},
		{"ff02::1", "multicast"},
		{"ff0e::1", "multicast"},
		// Unspecified and "this network".
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "reserved"},
		// Broadcast and reserved.
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"254.1.2.3", "reserved"},
		{"192.0.0.1", "reserved"},
		{"192.0.0.170", "reserved"},
		{"192.88.99.1", "reserved"},
		{"100::1", "reserved"},
		{"2001::1", "reserved"},
		{"::2", "reserved"},         // IPv4-compatible, deprecated
		{"::8.8.8.8", "reserved"},   // IPv4-compatible, deprecated
		{"4000::1", "reserved"},     // outside 2000::/3
		{"64:ff9b:1::1", "private"}, // local-use NAT64
		{"1234::5678", "reserved"},  // outside 2000::/3
		{"e000::1", "reserved"},     // outside 2000::/3
		// Documentation and benchmarking.
		{"192.0.2.1", "documentation"},
		{"198.51.100.1", "documentation"},
		{"203.0.113.255", "documentation"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"2001:2::1", "benchmarking"},
		// IPv4-mapped IPv6 is judged by its IPv4 address.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:8.8.8.8", ""},
		// NAT64 is judged by its IPv4 address.
		{"64:ff9b::127.0.0.1", "loopback"},
		{"64:ff9b::a9fe:a9fe", "link-local"},
		{"64:ff9b::c0a8:101", "private"},
		{"64:ff9b::8.8.8.8", ""},
		// 6to4 is judged by its IPv4 address.
		{"2002:7f00:1::1", "loopback"},
		{"2002:a00:1::", "private"},
		{"2002:a9fe:a9fe::1", "link-local"},
		{"2002:808:808::1", ""},
		// Public addresses, including the neighbours of blocked ranges.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"9.255.255.255", ""},
		{"11.0.0.0", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"126.255.255.255", ""},
		{"128.0.0.0", ""},
		{"169.253.255.255", ""},
		{"169.255.0.0", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.167.255.255", ""},
		{"192.169.0.0", ""},
		{"198.17.255.255", ""},
		{"198.20.0.0", ""},
		{"223.255.255.255", ""},
		{"2606:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"2a00:1450:4001::1", ""},
		{"2001:db9::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			reason, blocked := Blocked(netip.MustParseAddr(tt.addr))
			if reason != tt.reason || blocked != (tt.reason != "") {
				t.Errorf("Blocked(%s) = %q, %v; want %q, %v", tt.addr, reason, blocked, tt.reason, tt.reason != "")
			}
		})
	}
}

func TestBlockedZeroAddr(t *testing.T) {
	if reason, blocked := Blocked(netip.Addr{}); !blocked || reason == "" {
		t.Errorf("Blocked(zero Addr) = %q, %v; want blocked with a reason", reason, blocked)
	}
}

func TestHostMatches(t *testing.T) {
	tests := []struct {
		rule, host string
		want       bool
	}{
		{"hooks.slack.com", "hooks.slack.com", true},
		{"hooks.slack.com", "HOOKS.Slack.COM", true},
		{"Hooks.Slack.Com", "hooks.slack.com", true},
		{"hooks.slack.com", "hooks.slack.com.", true},
		{"hooks.slack.com", "evil.hooks.slack.com", false},
		{"hooks.slack.com", "hooks.slack.com.evil.com", false},
		{"hooks.slack.com", "xhooks.slack.com", false},
		{"hooks.slack.com", "slack.com", false},
		{"*.office.com", "a.office.com", true},
		{"*.office.com", "a.b.office.com", true},
		{"*.office.com", "A.B.OFFICE.COM", true},
		{"*.office.com", "office.com", false},
		{"*.office.com", "evil-office.com", false},
		{"*.office.com", "office.com.evil.com", false},
		{"*.office.com", "aoffice.com", false},
		{"*.office.com", ".office.com", false},
		{"*.0.0.1", "127.0.0.1", false},
		{"*", "example.com", false},
		{"", "example.com", false},
		{"example.com", "", false},
		{"a.*.com", "a.b.com", false},
		{"::1", "0:0::1", true},
		{"[::1]", "::1", true},
		{"::1", "::2", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
	}
	for _, tt := range tests {
		if got := HostMatches(tt.rule, tt.host); got != tt.want {
			t.Errorf("HostMatches(%q, %q) = %v; want %v", tt.rule, tt.host, got, tt.want)
		}
	}
}

func TestCheckHost(t *testing.T) {
	u, _ := url.Parse("https://Evil.Example.com/services/T000/B000/SECRETSECRETSECRETSECRET?token=SECRET")
	err := CheckHost(herald.Slack, u, "hooks.slack.com", "hooks.slack-gov.com")
	want := `host "evil.example.com" is not accepted for SLACK webhooks (accepted: hooks.slack.com, hooks.slack-gov.com)`
	if err == nil || err.Error() != want {
		t.Fatalf("CheckHost = %v; want %s", err, want)
	}
	u, _ = url.Parse("http://a.b.office.com/x")
	if err := CheckHost(herald.Teams, u, "*.office.com"); err != nil {
		t.Errorf("CheckHost(*.office.com, a.b.office.com) = %v; want nil", err)
	}
	if err := CheckHost(herald.Teams, u); err == nil {
		t.Error("CheckHost with no rules accepted a host")
	}
}

// slackCheck is a fake SLACK platform check that accepts hooks.slack.com only.
func slackCheck(calls *int) func(*url.URL) error {
	return func(u *url.URL) error {
		*calls++
		return CheckHost(herald.Slack, u, "hooks.slack.com")
	}
}

// wantInvalid fails unless err is an INVALID_ARGUMENT error on field "url"
// whose message contains every string of want and none of notWant.
func wantInvalid(t *testing.T, err error, want, notWant []string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted; want an error")
	}
	var he *herald.Error
	if !errors.As(err, &he) || he.Code != herald.CodeInvalidArgument || he.Field != "url" {
		t.Fatalf("error %v (%T) is not an INVALID_ARGUMENT error on field url", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	for _, nw := range notWant {
		if strings.Contains(err.Error(), nw) {
			t.Errorf("error %q contains %q", err, nw)
		}
	}
}

// Secret parts of the test URLs; no error message may contain them.
var secrets = []string{"services", "T0123", "B0456", "XyZsecretTOKENvalue1234", "sig=", "qsecret", "pw0rd", "alice"}

func TestCheckURLSlack(t *testing.T) {
	var p Policy
	tests := []struct {
		name    string
		raw     string
		ok      bool
		want    []string
		checked bool // platformCheck is called
	}{
		{"accepted", "https://hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", true, nil, true},
		{"accepted http", "http://hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", true, nil, true},
		{"accepted upper case", "HTTPS://HOOKS.SLACK.COM/services/T0123/B0456/XyZsecretTOKENvalue1234", true, nil, true},
		{"wrong host", "https://evil.example.com/services/T0123/B0456/XyZsecretTOKENvalue1234?sig=qsecret", false,
			[]string{`url: host "evil.example.com" is not accepted for SLACK webhooks (accepted: hooks.slack.com)`}, true},
		{"look-alike host", "https://hooks.slack.com.evil.example.com/services/T0123/B0456/XyZsecretTOKENvalue1234", false,
			[]string{`"hooks.slack.com.evil.example.com"`, "SLACK"}, true},
		{"ftp", "ftp://hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{"SLACK", `"ftp"`}, false},
		{"javascript", "javascript:alert(1)", false, []string{"SLACK"}, false},
		{"no scheme", "hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{"SLACK"}, false},
		{"scheme-relative", "//hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{"SLACK"}, false},
		{"opaque", "https:hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{"SLACK"}, false},
		{"no host", "https:///services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{"SLACK"}, false},
		{"port only", "https://:443/services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{"SLACK"}, false},
		{"user info", "https://alice:pw0rd@hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", false,
			[]string{`"hooks.slack.com"`, "SLACK", "user info"}, false},
		{"empty user info", "https://@hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", false,
			[]string{`"hooks.slack.com"`, "SLACK"}, false},
		{"port 0", "https://hooks.slack.com:0/services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{`"hooks.slack.com"`, "port"}, false},
		{"port too big", "https://hooks.slack.com:65536/services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{`"hooks.slack.com"`, "port"}, false},
		{"unparseable", "https://hooks.slack.com/services/T0123/%zz/XyZsecretTOKENvalue1234", false, []string{"SLACK"}, false},
		{"control character", "https://hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234\n", false, []string{"SLACK"}, false},
		{"loopback for SLACK", "https://127.0.0.1/services/T0123/B0456/XyZsecretTOKENvalue1234", false, []string{`"127.0.0.1"`, "SLACK"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			u, err := p.CheckURL(herald.Slack, tt.raw, slackCheck(&calls))
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v; want nil", tt.raw, err)
				}
				if u == nil || !strings.EqualFold(u.Hostname(), "hooks.slack.com") {
					t.Errorf("CheckURL returned URL %v", u)
				}
			} else {
				if u != nil {
					t.Errorf("CheckURL returned a URL with an error")
				}
				wantInvalid(t, err, tt.want, secrets)
			}
			if got := calls > 0; got != tt.checked {
				t.Errorf("platformCheck called %d times; want called = %v", calls, tt.checked)
			}
		})
	}
}

func TestCheckURLAddressCheck(t *testing.T) {
	tests := []struct {
		raw    string
		host   string
		reason string
	}{
		{"http://localhost/hook?sig=qsecret", "localhost", "a loopback address"},
		{"http://LOCALHOST:8080/hook", "localhost", "a loopback address"},
		{"http://localhost./hook", "localhost.", "a loopback address"},
		{"http://api.localhost/hook", "api.localhost", "a loopback address"},
		{"http://127.0.0.1/hook", "127.0.0.1", "a loopback address"},
		{"http://127.0.0.1:9000/services/T0123/B0456/XyZsecretTOKENvalue1234", "127.0.0.1", "a loopback address"},
		{"http://127.1/hook", "127.1", "a loopback address"},
		{"http://2130706433/hook", "2130706433", "a loopback address"},
		{"http://0x7f000001/hook", "0x7f000001", "a loopback address"},
		{"http://0177.0.0.1/hook", "0177.0.0.1", "a loopback address"},
		{"http://[::1]/hook", "::1", "a loopback address"},
		{"http://[::1]:8080/hook", "::1", "a loopback address"},
		{"http://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1", "a loopback address"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254", "a link-local address"},
		{"http://[fe80::1%25eth0]/hook", "fe80::1%eth0", "a link-local address"},
		{"http://10.0.0.1/hook", "10.0.0.1", "a private address"},
		{"https://192.168.1.10/hook", "192.168.1.10", "a private address"},
		{"https://[fd00::1]/hook", "fd00::1", "a private address"},
		{"http://100.64.1.1/hook", "100.64.1.1", "a CGNAT address"},
		{"http://0.0.0.0/hook", "0.0.0.0", "an unspecified address"},
		{"http://[::]/hook", "::", "an unspecified address"},
		{"http://224.0.0.1/hook", "224.0.0.1", "a multicast address"},
		{"http://255.255.255.255/hook", "255.255.255.255", "a broadcast address"},
		{"http://240.0.0.1/hook", "240.0.0.1", "a reserved address"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			var strict Policy
			_, err := strict.CheckURL(herald.Custom, tt.raw, nil)
			wantInvalid(t, err, []string{
				fmt.Sprintf("url: host %q of this CUSTOM webhook is %s; set HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets", tt.host, tt.reason),
			}, append([]string{"/hook", "meta-data"}, secrets...))

			lax := Policy{AllowPrivate: true}
			if _, err := lax.CheckURL(herald.Custom, tt.raw, nil); err != nil {
				t.Errorf("with AllowPrivate: CheckURL(%q) = %v; want nil", tt.raw, err)
			}
		})
	}
}

func TestCheckURLCustomPublic(t *testing.T) {
	var p Policy
	for _, raw := range []string{
		"https://example.com/hook?token=abc",
		"http://example.com:8080/hook",
		"https://8.8.8.8/hook",
		"https://[2606:4700::1111]:8443/hook",
		"https://sub.localhostx.com/hook",
		"https://localhost.example.com/hook",
		"https://1.example.com/hook",
		"https://example.com/hook#fragment",
	} {
		if _, err := p.CheckURL(herald.Custom, raw, nil); err != nil {
			t.Errorf("CheckURL(CUSTOM, %q) = %v; want nil", raw, err)
		}
	}
}

func TestCheckURLAllowedHosts(t *testing.T) {
	p := Policy{AllowedHosts: []string{"sink.internal:9000", "Relay.Example.org", "*.hooks.test", "[2606:4700::1111]:8443", "not a host/"}}
	tests := []struct {
		raw     string
		ok      bool
		checked bool
	}{
		{"http://sink.internal:9000/any/path", true, false},
		{"https://sink.internal:9000/any/path?x=1", true, false},
		{"http://SINK.INTERNAL:9000/", true, false},
		{"http://sink.internal:9001/any/path", false, true},
		{"http://sink.internal/any/path", false, true},
		{"https://sink.internal/any/path", false, true},
		{"http://relay.example.org/x", true, false},
		{"https://relay.example.org:8443/x", true, false},
		{"http://a.b.hooks.test/x", true, false},
		{"http://hooks.test/x", false, true},
		{"https://[2606:4700::1111]:8443/x", true, false},
		{"https://[2606:4700::1111]/x", false, true},
		{"ftp://sink.internal:9000/x", false, false},
		{"http://user:pw0rd@sink.internal:9000/x", false, false},
		{"https://hooks.slack.com/services/T0123/B0456/XyZsecretTOKENvalue1234", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			calls := 0
			_, err := p.CheckURL(herald.Slack, tt.raw, slackCheck(&calls))
			if tt.ok && err != nil {
				t.Errorf("CheckURL = %v; want nil", err)
			}
			if !tt.ok {
				wantInvalid(t, err, []string{"SLACK"}, []string{"any/path"})
			}
			if got := calls > 0; got != tt.checked {
				t.Errorf("platformCheck called %d times; want called = %v", calls, tt.checked)
			}
		})
	}

	// A default port entry matches a URL without a port.
	p = Policy{AllowedHosts: []string{"sink.internal:443", "plain.internal:80"}}
	for _, raw := range []string{"https://sink.internal/x", "https://sink.internal:443/x", "http://plain.internal/x"} {
		if _, err := p.CheckURL(herald.Slack, raw, slackCheck(new(int))); err != nil {
			t.Errorf("CheckURL(%q) = %v; want nil", raw, err)
		}
	}
	for _, raw := range []string{"http://sink.internal/x", "https://plain.internal/x"} {
		if _, err := p.CheckURL(herald.Slack, raw, slackCheck(new(int))); err == nil {
			t.Errorf("CheckURL(%q) accepted; the default port differs from the entry's", raw)
		}
	}
}

func TestCheckURLAllowedHostsKeepAddressCheck(t *testing.T) {
	p := Policy{AllowedHosts: []string{"127.0.0.1:9000", "[::1]", "localhost", "10.0.0.5"}}
	for _, tt := range []struct{ raw, host string }{
		{"http://127.0.0.1:9000/hook", "127.0.0.1"},
		{"http://[::1]:8080/hook", "::1"},
		{"http://localhost:8080/hook", "localhost"},
		{"https://10.0.0.5/hook", "10.0.0.5"},
	} {
		for _, typ := range []herald.WebhookType{herald.Slack, herald.Custom} {
			calls := 0
			_, err := p.CheckURL(typ, tt.raw, slackCheck(&calls))
			wantInvalid(t, err, []string{fmt.Sprintf("host %q of this %s webhook is a", tt.host, typ), "HERALD_ALLOW_PRIVATE_TARGETS=true"}, []string{"/hook"})
			if calls != 0 {
				t.Errorf("%s %s: platformCheck called for an allowed host", typ, tt.raw)
			}
		}
		p.AllowPrivate = true
		if _, err := p.CheckURL(herald.Slack, tt.raw, slackCheck(new(int))); err != nil {
			t.Errorf("with AllowPrivate: CheckURL(SLACK, %q) = %v; want nil", tt.raw, err)
		}
		p.AllowPrivate = false
	}
}

func TestCheckURLPlatformError(t *testing.T) {
	var p Policy
	raw := "https://discord.com/api/hooks/123456789012345678/XyZsecretTOKENvalue1234?wait=qsecretqsecretqsecret"
	tests := []struct {
		name  string
		check func(*url.URL) error
		want  string
	}{
		{"plain error naming neither type nor host",
			func(*url.URL) error { return errors.New("path must start with /api/webhooks/") },
			`url: this DISCORD webhook URL (host "discord.com") is not accepted: path must start with /api/webhooks/`},
		{"error echoing the path",
			func(u *url.URL) error { return fmt.Errorf("path %q is not a webhook path", u.Path) },
			`host "discord.com"`},
		{"error echoing the query",
			func(u *url.URL) error { return fmt.Errorf("query %s not accepted", u.RawQuery) },
			`host "discord.com"`},
		{"herald error is not prefixed twice",
			func(u *url.URL) error {
				return herald.Invalidf("url", "host %q of this DISCORD webhook has a wrong path", u.Hostname())
			},
			`url: host "discord.com" of this DISCORD webhook has a wrong path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.CheckURL(herald.Discord, raw, tt.check)
			wantInvalid(t, err, []string{tt.want, "DISCORD"}, []string{"123456789012345678", "XyZsecretTOKENvalue1234", "qsecret", "url: url:"})
		})
	}
}

func TestParseAllowedHosts(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"h1,h2:8443, h3", []string{"h1", "h2:8443", "h3"}},
		{" Sink.Internal:9000 ,RELAY.example.org", []string{"sink.internal:9000", "relay.example.org"}},
		{"a.test,a.test, A.TEST", []string{"a.test"}},
		{"*.hooks.test", []string{"*.hooks.test"}},
		{"10.0.0.5:80,127.0.0.1", []string{"10.0.0.5:80", "127.0.0.1"}},
		{"[::1]:8080", []string{"[::1]:8080"}},
		{"[::1]", []string{"[::1]"}},
		{"::1", []string{"[::1]"}},
		{"[2606:4700:0::1111]:08443", []string{"[2606:4700::1111]:8443"}},
		{"my_host.internal", []string{"my_host.internal"}},
	}
	for _, tt := range tests {
		got, err := ParseAllowedHosts(tt.in)
		if err != nil {
			t.Errorf("ParseAllowedHosts(%q) = %v", tt.in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
			t.Errorf("ParseAllowedHosts(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}

	for _, bad := range []string{
		"https://h1",
		"h1/path",
		"h1:8443/path",
		"h1?x=1",
		"h1#x",
		"user@h1",
		"h1:",
		"h1:0",
		"h1:65536",
		"h1:http",
		"h1:-1",
		"h1:+80",
		"h1:80:90",
		"h 1",
		"*",
		"*.",
		"[::1",
		"[::1]x",
		"[127.0.0.1]:80",
		"[::1]:",
		"[::1]:99999",
		"fe80::zz",
		"exa$mple.com",
		"ok.test, bad/one",
	} {
		_, err := ParseAllowedHosts(bad)
		if err == nil {
			t.Errorf("ParseAllowedHosts(%q) accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "HERALD_ALLOWED_HOSTS") {
			t.Errorf("ParseAllowedHosts(%q) = %q; want it to name HERALD_ALLOWED_HOSTS", bad, err)
		}
	}
}

func TestParseAllowedHostsRoundTrip(t *testing.T) {
	hosts, err := ParseAllowedHosts("sink.internal:9000, [::1]:8080, *.hooks.test")
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{AllowedHosts: hosts, AllowPrivate: true}
	for _, raw := range []string{"http://sink.internal:9000/a", "http://[::1]:8080/a", "https://x.hooks.test/a"} {
		if _, err := p.CheckURL(herald.Slack, raw, slackCheck(new(int))); err != nil {
			t.Errorf("CheckURL(%q) = %v; want nil", raw, err)
		}
	}
}

func TestControl(t *testing.T) {
	tests := []struct {
		address string
		reason  string // "" means allowed
	}{
		{"8.8.8.8:443", ""},
		{"[2606:4700::1111]:443", ""},
		{"127.0.0.1:80", "loopback"},
		{"[::1]:80", "loopback"},
		{"[::ffff:127.0.0.1]:80", "loopback"},
		{"169.254.169.254:80", "link-local"},
		{"[fe80::1%eth0]:80", "link-local"},
		{"10.0.0.1:443", "private"},
		{"100.64.0.1:443", "CGNAT"},
		{"0.0.0.0:80", "unspecified"},
		{"[64:ff9b::7f00:1]:80", "loopback"},
		{"not-an-address:80", "unreadable address"},
		{"localhost:80", "unreadable address"},
	}
	for _, tt := range tests {
		err := control("tcp", tt.address, nil)
		if tt.reason == "" {
			if err != nil {
				t.Errorf("control(%s) = %v; want nil", tt.address, err)
			}
			continue
		}
		var re *DialRefusedError
		if !errors.As(err, &re) || re.Reason != tt.reason {
			t.Errorf("control(%s) = %v; want a refusal for %q", tt.address, err, tt.reason)
			continue
		}
		if !strings.HasPrefix(err.Error(), "refusing to connect to ") ||
			!strings.HasSuffix(err.Error(), "("+tt.reason+"); set HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets") {
			t.Errorf("control(%s) = %q; wrong message", tt.address, err)
		}
	}
	err := control("tcp", "127.0.0.1:8080", nil)
	want := "refusing to connect to 127.0.0.1 (loopback); set HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets"
	if err == nil || err.Error() != want {
		t.Errorf("control(127.0.0.1:8080) = %v; want %s", err, want)
	}
}

// countingServer starts a server that counts its requests and answers 200 "ok".
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// wantRefused fails unless err is a dial refusal for reason whose innermost
// text does not contain the secret path.
func wantRefused(t *testing.T, err error, reason, path string) {
	t.Helper()
	if err == nil {
		t.Fatal("request succeeded; want a refusal")
	}
	var re *DialRefusedError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a *DialRefusedError", err)
	}
	if re.Reason != reason {
		t.Errorf("refused for %q; want %q", re.Reason, reason)
	}
	if !strings.Contains(err.Error(), "refusing to connect to ") ||
		!strings.Contains(err.Error(), "("+reason+"); set HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets") {
		t.Errorf("error %q does not explain the refusal", err)
	}
	if strings.Contains(re.Error(), path) {
		t.Errorf("refusal %q contains the URL path", re)
	}
	// Without net/http's *url.Error wrapper, the error holds no URL.
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(ue.Err.Error(), path) {
		t.Errorf("error %q contains the URL path", ue.Err)
	}
}

func TestNewClientRefusesPrivateAddressAtDialTime(t *testing.T) {
	srv, hits := countingServer(t)
	var p Policy
	c := p.NewClient(5 * time.Second)
	resp, err := c.Post(srv.URL+"/secret-path-XyZsecretTOKENvalue1234", "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
	}
	wantRefused(t, err, "loopback", "secret-path")
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests; want 0", n)
	}
}

func TestNewClientAllowPrivate(t *testing.T) {
	srv, hits := countingServer(t)
	p := Policy{AllowPrivate: true}
	c := p.NewClient(5 * time.Second)
	resp, err := c.Get(srv.URL + "/hook")
	if err != nil {
		t.Fatalf("GET with AllowPrivate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("answer %d %q; want 200 ok", resp.StatusCode, body)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests; want 1", n)
	}
}

func TestNewClientRefusesNameResolvingToLoopback(t *testing.T) {
	srv, hits := countingServer(t)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	target := "http://localhost:" + port + "/secret-path"

	// CUSTOM validation is a separate step; here the client alone must refuse.
	var p Policy
	resp, err := p.NewClient(5 * time.Second).Get(target)
	if err == nil {
		resp.Body.Close()
	}
	wantRefused(t, err, "loopback", "secret-path")
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests; want 0", n)
	}

	// The name does resolve and the server is reachable: the refusal above
	// comes from the policy, not from the network.
	lax := Policy{AllowPrivate: true}
	resp, err = lax.NewClient(5 * time.Second).Get(target)
	if err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	resp.Body.Close()
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests; want 1", n)
	}
}

func TestNewClientAllowedHostsDoNotLiftDialCheck(t *testing.T) {
	srv, hits := countingServer(t)
	host := srv.Listener.Addr().String()
	p := Policy{AllowedHosts: []string{host}}
	if _, err := p.CheckURL(herald.Custom, srv.URL, nil); err == nil {
		t.Error("CheckURL accepted a loopback allowed host without AllowPrivate")
	}
	resp, err := p.NewClient(5 * time.Second).Get(srv.URL)
	if err == nil {
		resp.Body.Close()
	}
	wantRefused(t, err, "loopback", "\x00")
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests; want 0", n)
	}
}

func TestNewClientDoesNotFollowRedirects(t *testing.T) {
	var first, second atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/second", func(w http.ResponseWriter, r *http.Request) {
		second.Add(1)
		io.WriteString(w, "second")
	})
	mux.HandleFunc("/first", func(w http.ResponseWriter, r *http.Request) {
		first.Add(1)
		http.Redirect(w, r, "/second", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	p := Policy{AllowPrivate: true}
	c := p.NewClient(5 * time.Second)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, err := http.NewRequest(method, srv.URL+"/first", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Errorf("%s: status %d; want 302 returned as is", method, resp.StatusCode)
		}
		if loc := resp.Header.Get("Location"); loc != "/second" {
			t.Errorf("%s: Location %q; want /second", method, loc)
		}
	}
	if n := first.Load(); n != 2 {
		t.Errorf("first handler hit %d times; want 2", n)
	}
	if n := second.Load(); n != 0 {
		t.Errorf("redirect target hit %d times; want 0", n)
	}
}

func TestNewClientIgnoresProxyEnvironment(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		io.WriteString(w, "proxied")
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("https_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	for _, allow := range []bool{false, true} {
		p := Policy{AllowPrivate: allow}
		c := p.NewClient(2 * time.Second)
		tr, ok := c.Transport.(*http.Transport)
		if !ok {
			t.Fatalf("Transport is %T; want *http.Transport", c.Transport)
		}
		if tr.Proxy != nil {
			t.Errorf("AllowPrivate=%v: Transport.Proxy is set", allow)
		}
		// A name that cannot resolve: a proxy would answer for it.
		resp, err := c.Get("http://herald-netguard-test.invalid/hook")
		if err == nil {
			resp.Body.Close()
			t.Errorf("AllowPrivate=%v: request to an unresolvable host succeeded (through a proxy?)", allow)
		}
	}
	if n := proxied.Load(); n != 0 {
		t.Errorf("proxy saw %d requests; want 0", n)
	}
}

func TestNewClientSettings(t *testing.T) {
	var p Policy
	c := p.NewClient(7 * time.Second)
	if c.Timeout != 7*time.Second {
		t.Errorf("Timeout = %v; want 7s", c.Timeout)
	}
	if c.CheckRedirect == nil || c.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Error("CheckRedirect does not return http.ErrUseLastResponse")
	}
	if c.Jar != nil {
		t.Error("client has a cookie jar")
	}
	tr := c.Transport.(*http.Transport)
	if tr.MaxIdleConnsPerHost != 256 || tr.IdleConnTimeout != 90*time.Second ||
		tr.TLSHandshakeTimeout != 10*time.Second || !tr.ForceAttemptHTTP2 || tr.DialContext == nil {
		t.Errorf("transport settings: MaxIdleConnsPerHost=%d IdleConnTimeout=%v TLSHandshakeTimeout=%v ForceAttemptHTTP2=%v",
			tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.TLSHandshakeTimeout, tr.ForceAttemptHTTP2)
	}
	if tr.DialTLSContext != nil || tr.Dial != nil || tr.DialTLS != nil { //nolint:staticcheck // checking the deprecated hooks are unset too
		t.Error("a dial hook other than DialContext bypasses the address check")
	}
}

func TestNewClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	defer srv.Close()
	defer close(release)

	p := Policy{AllowPrivate: true}
	start := time.Now()
	resp, err := p.NewClient(200 * time.Millisecond).Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request to a stalled server succeeded")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("error %v is not a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("request took %v; the 200ms timeout was not applied", d)
	}
}
