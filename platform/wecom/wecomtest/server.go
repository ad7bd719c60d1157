// Package wecomtest is a fake of WeCom's group-robot webhook service
// (qyapi.weixin.qq.com/cgi-bin/webhook/send) for tests: it listens on a real
// loopback port, routes by the "key" query parameter as WeCom does (every
// robot shares one path), answers every request with HTTP 200 and an
// errcode, enforces the message rules of platforms.md F1 (Check) and the
// limit of 20 messages a minute per robot, in which refused requests count
// too, and records everything it is sent. Failures and rate limits can be
// injected. IMAPI (imapi.go) is a fake of the self-built app API direct
// messages go through. Both are independent of package wecom, so that they
// check Herald's requests against WeCom's rules rather than Herald's own.
package wecomtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/platform/platformtest"
)

// Path is the path of every robot's URL.
const Path = "/cgi-bin/webhook/send"

// DefaultPerMinute is WeCom's limit of messages a minute per robot.
const DefaultPerMinute = 20

// Request is one request the fake received; Refusal says why a message was
// refused.
type Request = platformtest.Request

// Server is a fake qyapi.weixin.qq.com group-robot service. All its methods
// are safe for concurrent use. Its Recorder logs every request (Requests),
// keeps the messages each robot accepted (Accepted, Messages, Contents) and
// injects failures (FailNext, FailNextCode, RateLimitNext, RejectNext):
// those apply to POSTs to a registered robot, answered instead of being
// checked and accepted, and do not count toward the rate limit.
type Server struct {
	*httptest.Server
	platformtest.Recorder

	mu        sync.Mutex
	robots    map[string]*robot // by key
	perMinute int
	now       func() time.Time
	hints     int
}

type robot struct {
	sent platformtest.Window // requests in the last minute, for the rate limit
}

// NewServer starts a fake WeCom robot service, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{robots: map[string]*robot{}, perMinute: DefaultPerMinute, now: time.Now}
	s.HookKey = func(u *url.URL) string { return u.Query().Get("key") }
	s.Server = s.Serve(t, s.answer)
	return s
}

// NewHook registers a robot and returns its URL, s.URL +
// "/cgi-bin/webhook/send?key=<uuid>" like WeCom's. WeCom robots have no
// signing or keyword settings: o is ignored.
func (s *Server) NewHook(o platformtest.HookOptions) string {
	key := uuid.NewString()
	s.mu.Lock()
	s.robots[key] = &robot{}
	s.mu.Unlock()
	return s.URL + Path + "?key=" + key
}

// RemoveHook removes the robot of hookURL from its group: from now on its
// URL is answered 93000, as WeCom does.
func (s *Server) RemoveHook(hookURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.robots, Key(hookURL))
}

// Key returns the key of a robot URL, "" when it has none.
func Key(hookURL string) string {
	u, err := url.Parse(hookURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("key")
}

// SetRateLimit sets how many requests each robot takes in any one-minute
// window (DefaultPerMinute unless set); zero or less lifts the limit.
func (s *Server) SetRateLimit(perMinute int) {
	s.mu.Lock()
	s.perMinute = perMinute
	s.mu.Unlock()
}

// SetClock makes the rate limit read the time from now, so that a test
// can move a minute on without waiting for it.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// Contents returns the content (markdown or text) of each message the robot
// of hookURL accepted, in order.
func (s *Server) Contents(hookURL string) []string {
	var out []string
	for _, m := range s.Accepted(hookURL) {
		out = append(out, Content(m))
	}
	return out
}

// answer decides the answer to one request.
func (s *Server) answer(r *http.Request, body []byte, readErr error) platformtest.Reply {
	if r.URL.Path != Path {
		return platformtest.Reply{Status: http.StatusNotFound, Body: "404 page not found", Refusal: "unknown path"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ip := remoteIP(r)
	if r.Method != http.MethodPost {
		return s.errcode(CodeRequirePost, "require POST method", ip, "method "+r.Method)
	}
	key := r.URL.Query().Get("key")
	rb := s.robots[key]
	if rb == nil {
		reason := "unknown key"
		if key == "" {
			reason = "no key"
		}
		return s.errcode(CodeInvalidWebhook, "invalid webhook url", ip, reason)
	}
	if f, ok := s.NextFailure(); ok {
		return f
	}
	// Counted before the message is checked: refused sends count too.
	if rb.sent.Take(s.now(), s.perMinute, time.Minute) > 0 {
		return s.errcode(CodeRateLimited, "api freq out of limit", ip, fmt.Sprintf("%d requests in the last minute", len(rb.sent)))
	}
	if readErr != nil {
		return s.errcode(CodeBadJSON, "invalid parameter, Warning: wrong json format.", ip, "reading the body: "+readErr.Error())
	}
	if err := Check(body); err != nil {
		var ref *Refusal
		if errors.As(err, &ref) {
			return s.errcode(ref.Errcode, ref.Errmsg, ip, ref.Reason)
		}
		return s.errcode(CodeBadJSON, "invalid parameter", ip, err.Error())
	}
	return reply(CodeOK, "ok", "", true)
}

// errcode is WeCom's answer to a refused request: HTTP 200 and the errcode,
// its errmsg followed by the hint, caller IP and help URL WeCom appends.
func (s *Server) errcode(code int, errmsg, ip, reason string) platformtest.Reply {
	s.hints++
	return reply(code, decorate(code, errmsg, fmt.Sprintf("%d%06d", s.now().Unix(), s.hints), ip), reason, false)
}

func decorate(code int, errmsg, hint, ip string) string {
	return fmt.Sprintf("%s, hint: [%s], from ip: %s, more info at https://open.work.weixin.qq.com/devtool/query?e=%d", errmsg, hint, ip, code)
}

func reply(code int, errmsg, refusal string, accepted bool) platformtest.Reply {
	return platformtest.Reply{Status: http.StatusOK, Body: body(code, errmsg), Header: jsonHeader(), Refusal: refusal, Accepted: accepted}
}

func body(code int, errmsg string) string {
	b, _ := json.Marshal(struct {
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}{code, errmsg})
	return string(b)
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=UTF-8"}}
}

func remoteIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

var _ platformtest.Fake = (*Server)(nil)

// FailNextCode answers the next n requests to a registered robot with HTTP
// 200 and errcode (errmsg decorated as WeCom does), e.g. -1 "system busy"
// or 93004 "robot disabled".
func (s *Server) FailNextCode(n, errcode int, errmsg string) {
	s.FailNext(n, http.StatusOK, body(errcode, decorate(errcode, errmsg, "injected", "127.0.0.1")), jsonHeader())
}

// RateLimitNext answers the next n requests as WeCom does over its limit:
// errcode 45009 "api freq out of limit" (HTTP 200, no Retry-After).
func (s *Server) RateLimitNext(n int) {
	s.FailNextCode(n, CodeRateLimited, "api freq out of limit")
}

// RejectNext answers the next n requests as WeCom does for a robot removed
// from its group, errcode 93000, and returns "93000".
func (s *Server) RejectNext(n int) string {
	s.FailNextCode(n, CodeInvalidWebhook, "invalid webhook url")
	return "93000"
}
