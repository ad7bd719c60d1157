package platform

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// maxErrmsg is how much of an errmsg goes into Result.Error.
const maxErrmsg = 200

// Errcode reads the answers of a platform that says what became of a
// request in a JSON body {"errcode": N, "errmsg": "…"}, with HTTP 200
// whether it worked or not (DingTalk, WeCom).
type Errcode struct {
	// Name names the platform in errors: "DingTalk answered errcode …".
	Name string
	// Outcome is what the errcode of a 2xx answer means; 0 must be
	// SUCCESS.
	Outcome func(code int) herald.Outcome
	// RateLimitDelay is how long a RATE_LIMITED errcode asks the engine to
	// wait; zero means the Retry-After header's delay, usually none.
	RateLimitDelay time.Duration
	// Trim, when set, removes what the platform appends to every errmsg
	// and says nothing the errcode does not.
	Trim func(errmsg string) string
}

// errcodeBody is the body of every answer Errcode reads.
type errcodeBody struct {
	Errcode *int   `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

// Classify reads one answer. A status outside 2xx is judged by the status
// (Answer), the errcode, when there is one, becoming the PlatformCode. A
// 2xx is judged by the errcode alone (see Outcome); a 2xx without one is
// RETRYABLE, because it is not the platform's answer (a proxy's page, a
// cut-off body) and whether the message arrived is unknown. The Error
// quotes errmsg, trimmed and cut to 200 characters.
func (e *Errcode) Classify(resp *Response, requestBody []byte, now time.Time) Result {
	r := Answer(resp, requestBody, now)
	var a errcodeBody
	parsed := json.Unmarshal(resp.Body, &a) == nil && a.Errcode != nil
	if parsed {
		r.PlatformCode = strconv.Itoa(*a.Errcode)
	}
	if resp.Status < 200 || resp.Status > 299 {
		r.Error = e.Name + " answered HTTP " + strconv.Itoa(resp.Status)
		if parsed {
			r.Error += e.describe(*a.Errcode, a.Errmsg)
		}
		return r
	}
	if !parsed {
		r.Outcome = herald.OutcomeRetryable
		r.Error = e.Name + " answered HTTP " + strconv.Itoa(resp.Status) + " without an errcode"
		return r
	}
	r.Outcome = e.Outcome(*a.Errcode)
	if r.Outcome == herald.OutcomeSuccess {
		return r
	}
	r.Error = e.Name + " answered" + e.describe(*a.Errcode, a.Errmsg)
	if r.Outcome == herald.OutcomeRateLimited {
		r.RetryAfter = e.RateLimitDelay
		if r.RetryAfter == 0 {
			r.RetryAfter = RetryAfter(resp.Header, now)
		}
	}
	return r
}

// describe is " errcode N: errmsg", errmsg trimmed and cut to maxErrmsg
// characters.
func (e *Errcode) describe(code int, errmsg string) string {
	if e.Trim != nil {
		errmsg = e.Trim(errmsg)
	}
	s := " errcode " + strconv.Itoa(code)
	if errmsg = strings.TrimSpace(strings.ToValidUTF8(errmsg, "")); errmsg != "" {
		s += ": " + message.Truncate(errmsg, maxErrmsg)
	}
	return s
}
