package platformtest

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
)

func TestCheckResult(t *testing.T) {
	ok := platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200, PlatformCode: "ok"}
	limited := platform.Result{Outcome: herald.OutcomeRateLimited, HTTPStatus: 429, RetryAfter: time.Second, Error: "X answered 429"}
	tests := []struct {
		name    string
		res     platform.Result
		want    Want
		failure string
	}{
		{"success", ok, Want{Outcome: herald.OutcomeSuccess, Status: 200, Code: "ok"}, ""},
		{"rate limited", limited, Want{Outcome: herald.OutcomeRateLimited, Status: 429, RetryAfter: time.Second, Err: "answered"}, ""},
		{"other code", ok, Want{Outcome: herald.OutcomeSuccess, Status: 200, Code: "1"}, "want SUCCESS 200 \"1\""},
		{"other delay", limited, Want{Outcome: herald.OutcomeRateLimited, Status: 429, Err: "answered"}, "retry after 0s"},
		{"other error", limited, Want{Outcome: herald.OutcomeRateLimited, Status: 429, RetryAfter: time.Second, Err: "503"}, "want one containing \"503\""},
		{"success with an error", platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200, Error: "x"}, Want{Outcome: herald.OutcomeSuccess, Status: 200}, "error \"x\""},
	}
	for _, tt := range tests {
		f := &failures{TB: t}
		CheckResult(f, tt.res, tt.want)
		switch {
		case tt.failure == "" && len(f.msgs) > 0:
			t.Errorf("%s: failed: %q", tt.name, f.msgs)
		case tt.failure != "" && (len(f.msgs) != 1 || !strings.Contains(f.msgs[0], tt.failure)):
			t.Errorf("%s: failures %q, want one containing %q", tt.name, f.msgs, tt.failure)
		}
	}
}

func TestCheckSecrets(t *testing.T) {
	res := platform.Result{Error: "HTTP 500", RequestBody: `{"a":1}`, ResponseBody: "token abc123 expired"}
	f := &failures{TB: t}
	CheckSecrets(f, res, "", "zzz", "abc123")
	if len(f.msgs) != 1 || !strings.Contains(f.msgs[0], "abc123") {
		t.Errorf("failures %q, want one about abc123", f.msgs)
	}
}
