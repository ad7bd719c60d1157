// Package dingtalktest is a fake of DingTalk's custom-robot service
// (oapi.dingtalk.com/robot/send) for tests. It listens on a real loopback
// port, routes each request by its access_token as DingTalk does, enforces
// each robot's security settings (the "加签" signature of the query, a
// keyword), the message schema and size (Check) and DingTalk's limit of 20
// messages a minute, and answers like DingTalk: always HTTP 200, with an
// errcode and errmsg. It records everything it is sent, and for each
// message it accepts, whom it mentions and whether the mention works.
// Failures can be injected. It is independent of package dingtalk: it
// checks Herald's requests against DingTalk's rules, not Herald's own.
package dingtalktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

// Request is one request the fake received; Refusal says why a message was
// refused.
type Request = platformtest.Request

// Path is the path of every robot URL.
const Path = "/robot/send"

// MaxClockSkew is how far a signed request's timestamp may be from the
// fake's clock, as DingTalk allows.
const MaxClockSkew = time.Hour

// DefaultPerMinute is DingTalk's limit of messages a minute per robot.
const DefaultPerMinute = 20

// Server is a fake oapi.dingtalk.com. All its methods are safe for
// concurrent use. Its Recorder logs every request (Requests), keeps the
// messages each robot accepted (Accepted) and injects failures
// (FailNext): those apply to requests to a known robot, answered instead of
// being checked and accepted; e.g. HTTP 200 with errcode -1 "system busy".
type Server struct {
	*httptest.Server
	platformtest.Recorder

	mu        sync.Mutex
	hooks     map[string]*hook // by access_token
	perMinute int
}

type hook struct {
	opts     platformtest.HookOptions
	recent   platformtest.Window // accepted in the last minute, for the rate limit
	mentions [][]Mention         // of each accepted message
}

// NewServer starts a fake DingTalk robot service, closed when the test
// ends, limiting each robot to DefaultPerMinute messages a minute.
func NewServer(t testing.TB) *Server {
	s := &Server{hooks: map[string]*hook{}, perMinute: DefaultPerMinute}
	// Every robot shares the path; DingTalk tells them apart by token.
	s.HookKey = func(u *url.URL) string { return u.Query().Get("access_token") }
	s.Server = s.Serve(t, s.answer)
	return s
}

var _ platformtest.Fake = (*Server)(nil)

// NewHook registers a robot and returns its URL, s.URL +
// "/robot/send?access_token=<64 hex digits>" like DingTalk's. When
// o.Secret is set ("SEC…"), the robot requires a valid timestamp and sign
// in the query; when o.Keyword is set, every message must contain it.
func (s *Server) NewHook(o platformtest.HookOptions) string {
	token := platformtest.RandomString(64, "0123456789abcdef")
	s.mu.Lock()
	s.hooks[token] = &hook{opts: o}
	s.mu.Unlock()
	return s.URL + Path + "?access_token=" + token
}

// SetRateLimit limits every robot to perMinute accepted messages in any
// one-minute window; zero or less lifts the limit.
func (s *Server) SetRateLimit(perMinute int) {
	s.mu.Lock()
	s.perMinute = perMinute
	s.mu.Unlock()
}

// Mentions returns, for each message the robot of hookURL accepted, in
// order, the mobiles it named in at.atMobiles and whether each mention
// works (Mention.Effective).
func (s *Server) Mentions(hookURL string) [][]Mention {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[token(hookURL)]
	if h == nil {
		return nil
	}
	out := make([][]Mention, len(h.mentions))
	copy(out, h.mentions)
	return out
}

func token(hookURL string) string {
	u, err := url.Parse(hookURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("access_token")
}

// RateLimitNext answers the next n requests as DingTalk does over its
// limit: HTTP 200, errcode 130101.
func (s *Server) RateLimitNext(n int) {
	s.FailNext(n, http.StatusOK, reply(CodeTooFast, "send too fast, exceed 20 times per minute"), jsonHeader())
}

// RejectNext answers the next n requests as DingTalk does for a message
// without the robot's keyword: HTTP 200, errcode 310000.
func (s *Server) RejectNext(n int) string {
	s.FailNext(n, http.StatusOK, reply(CodeSecurity, "keywords not in content"), jsonHeader())
	return strconv.Itoa(CodeSecurity)
}

// answer decides the answer to one request, in the order DingTalk checks:
// the token, the method, the signature, the body, the keyword, the rate.
func (s *Server) answer(r *http.Request, body []byte, readErr error) platformtest.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != Path {
		return platformtest.Reply{Status: http.StatusNotFound, Body: "Not Found", Refusal: "unknown path"}
	}
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		return refuse(&Refusal{CodeMissingParam, "缺少参数 access_token", "no access_token"})
	}
	h := s.hooks[tok]
	if h == nil {
		return refuse(&Refusal{CodeUnknownToken, "token is not exist", "unknown access_token"})
	}
	if r.Method != http.MethodPost {
		return refuse(&Refusal{CodeNotPost, "需要POST请求", "method " + r.Method})
	}
	if f, ok := s.NextFailure(); ok {
		return f
	}
	if h.opts.Secret != "" {
		if ref := verify(r.URL.Query(), h.opts.Secret, time.Now()); ref != nil {
			return refuse(ref)
		}
	}
	if readErr != nil {
		return refuse(&Refusal{CodeMissingParam, "缺少参数 json", "reading the body: " + readErr.Error()})
	}
	if !platformtest.IsJSON(r) {
		return refuse(&Refusal{CodeMissingParam, "缺少参数 json", "Content-Type is not application/json"})
	}
	if ref := check(body); ref != nil {
		return refuse(ref)
	}
	if kw := h.opts.Keyword; kw != "" && !containsAny(content(body), kw) {
		return refuse(&Refusal{CodeSecurity, "keywords not in content", fmt.Sprintf("neither title nor text has %q", kw)})
	}
	if h.recent.Take(time.Now(), s.perMinute, time.Minute) > 0 {
		return refuse(&Refusal{CodeTooFast, "send too fast, exceed 20 times per minute", "over the rate limit"})
	}
	mentions, _ := ParseMentions(body)
	h.mentions = append(h.mentions, mentions)
	return platformtest.Reply{Status: http.StatusOK, Body: reply(CodeOK, "ok"), Header: jsonHeader(), Accepted: true}
}

// verify checks the "加签" security of a request: a timestamp in
// milliseconds within MaxClockSkew of now, and sign, the base64 of
// HMAC-SHA256 keyed by the secret over timestamp + "\n" + secret (the
// query is URL-decoded already).
func verify(q url.Values, secret string, now time.Time) *Refusal {
	ts, sig := q.Get("timestamp"), q.Get("sign")
	if ts == "" || sig == "" {
		return &Refusal{CodeSecurity, "sign not match", "timestamp or sign missing from the query"}
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return &Refusal{CodeSecurity, "invalid timestamp", "timestamp is not a number"}
	}
	if skew := now.Sub(time.UnixMilli(ms)); skew > MaxClockSkew || skew < -MaxClockSkew {
		return &Refusal{CodeSecurity, "invalid timestamp", fmt.Sprintf("timestamp is %v away", skew)}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return &Refusal{CodeSecurity, "sign not match", "the signature differs"}
	}
	return nil
}

func containsAny(texts []string, kw string) bool {
	for _, t := range texts {
		if strings.Contains(t, kw) {
			return true
		}
	}
	return false
}

// refuse is DingTalk's answer to a refused request: still HTTP 200.
func refuse(r *Refusal) platformtest.Reply {
	return platformtest.Reply{Status: http.StatusOK, Body: reply(r.Code, r.Msg), Header: jsonHeader(), Refusal: r.Error()}
}

func reply(code int, msg string) string {
	b, _ := json.Marshal(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}{code, msg})
	return string(b)
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json;charset=utf-8"}}
}

// BusyNext answers the next n requests as DingTalk does when it is
// overloaded: HTTP 200, errcode -1 "system busy".
func (s *Server) BusyNext(n int) {
	s.AnswerNext(n, CodeBusy, "系统繁忙")
}

// AnswerNext answers the next n requests with HTTP 200 and the given
// errcode and errmsg, instead of checking them.
func (s *Server) AnswerNext(n, code int, msg string) {
	s.FailNext(n, http.StatusOK, reply(code, msg), jsonHeader())
}
