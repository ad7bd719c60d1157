package platformtest

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
)

// URLCase is one webhook URL of a CheckURL test: WantErr is a part of the
// error it must be refused with, or "" when it must be accepted.
type URLCase struct {
	URL     string
	WantErr string
}

// CheckURLs parses the URL of every case and fails t unless check (a
// Platform's CheckURL) accepts it or refuses it as the case says. An error
// must quote none of secrets: the parts of the URLs' paths and queries
// that are credentials.
func CheckURLs(t testing.TB, check func(*url.URL) error, secrets []string, tests []URLCase) {
	t.Helper()
	for _, tt := range tests {
		u, err := url.Parse(tt.URL)
		if err != nil {
			t.Fatal(err)
		}
		err = check(u)
		switch {
		case tt.WantErr == "" && err != nil:
			t.Errorf("CheckURL(%s) = %v, want nil", tt.URL, err)
		case tt.WantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.WantErr)):
			t.Errorf("CheckURL(%s) = %v, want an error containing %q", tt.URL, err, tt.WantErr)
		}
		if err == nil {
			continue
		}
		for _, secret := range secrets {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("CheckURL(%s) = %v quotes %q from the path or query", tt.URL, err, secret)
			}
		}
	}
}

// CheckTypeAndLimits fails t unless p serves webhooks of type typ with
// exactly the rate limits limits, in order.
func CheckTypeAndLimits(t testing.TB, p platform.Platform, typ herald.WebhookType, limits ...platform.Limit) {
	t.Helper()
	if p.Type() != typ {
		t.Errorf("Type() = %s, want %s", p.Type(), typ)
	}
	if got := p.Limits(); !slices.Equal(got, limits) {
		t.Errorf("Limits() = %v, want %v", got, limits)
	}
}
