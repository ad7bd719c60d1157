// Package feishutest is a fake of the Feishu and Lark custom-bot webhook
// service (open.feishu.cn and open.larksuite.com, one service on two
// hosts) for tests. It listens on a real loopback port, so both platforms'
// tests can use one server; accepts messages only for the bot tokens it
// issued; enforces what platforms.md E1 says the real service enforces —
// the body's signature and its one-hour window, keyword security, the
// 20 KB limit, the message and card schema, 5 messages per second and 100
// per minute per bot — and answers like it: always HTTP 200 with a JSON
// code, except the gateway's plain-text 404 for a wrong path or method.
// It records everything it is sent. Failures and rate limits can be
// injected. It is independent of package feishu: its signature check and
// schema are written from the platform's rules, not from Herald's code.
//
// IMAPI (imapi.go) is a fake of the Open API calls direct messages make.
package feishutest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/platform/platformtest"
)

// PathPrefix starts every webhook path; the bot's token follows it.
const PathPrefix = "/open-apis/bot/v2/hook/"

// SignWindow is how far a signed request's timestamp may be from the
// server's clock, either way.
const SignWindow = time.Hour

// Default rate limits of one bot (platforms.md E1).
const (
	DefaultPerSecond = 5
	DefaultPerMinute = 100
)

// Request is one request the fake received; Refusal says why a message was
// refused.
type Request = platformtest.Request

// Server is a fake custom-bot service. All its methods are safe for
// concurrent use. Its Recorder logs every request (Requests), keeps the
// messages each bot accepted (Messages, or Accepted) and injects failures
// (FailNext): those apply to POSTs to a registered bot and are answered
// instead of checking and accepting the request.
type Server struct {
	*httptest.Server
	platformtest.Recorder

	mu        sync.Mutex
	hooks     map[string]*hook // by token
	perSecond int
	perMinute int
	now       func() time.Time
}

type hook struct {
	opts   platformtest.HookOptions
	recent []time.Time // requests counted in the last minute, for the rate limits
}

var _ platformtest.Fake = (*Server)(nil)

// NewServer starts a fake custom-bot service with the default rate limits,
// closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{hooks: map[string]*hook{}, perSecond: DefaultPerSecond, perMinute: DefaultPerMinute, now: time.Now}
	s.Server = s.Serve(t, s.answer)
	return s
}

// NewHook registers a bot with o's security settings — a signing secret
// the body's sign must match, a keyword a text of the message must
// contain — and returns its URL, s.URL + "/open-apis/bot/v2/hook/{uuid}"
// like Feishu's and Lark's.
func (s *Server) NewHook(o platformtest.HookOptions) string {
	token := uuid.NewString()
	s.mu.Lock()
	s.hooks[token] = &hook{opts: o}
	s.mu.Unlock()
	return s.URL + PathPrefix + token
}

// SetRateLimits sets how many requests each bot takes in any one-second
// and any one-minute window; over either, it answers code 11232. Zero or
// less lifts that limit.
func (s *Server) SetRateLimits(perSecond, perMinute int) {
	s.mu.Lock()
	s.perSecond, s.perMinute = perSecond, perMinute
	s.mu.Unlock()
}

// SetClock makes the fake read the time from now, for the signature window
// and the rate limits, so that tests need not wait; nil restores the real
// clock.
func (s *Server) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// RateLimitNext answers the next n requests as the bot does over its
// limits: HTTP 200 with code 11232 and no delay.
func (s *Server) RateLimitNext(n int) {
	s.FailNext(n, http.StatusOK, answerBody(CodeRateLimited, MsgRateLimited), jsonHeader())
}

// RejectNext answers the next n requests as a bot whose keyword is not in
// the message does: HTTP 200 with code 19024.
func (s *Server) RejectNext(n int) string {
	s.FailNext(n, http.StatusOK, answerBody(CodeNoKeyword, MsgNoKeyword), jsonHeader())
	return strconv.Itoa(CodeNoKeyword)
}

// FailNextCode answers the next n requests with HTTP 200 and the given code
// and message, as the bot does, e.g. 9499 "Bad Request" or 19022
// "Ip Not Allowed".
func (s *Server) FailNextCode(n, code int, msg string) {
	s.FailNext(n, http.StatusOK, answerBody(code, msg), jsonHeader())
}

// SuccessBody is the bot's answer to a message it took, legacy
// StatusCode and StatusMessage included.
const SuccessBody = `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`

// answer decides the answer to one request, in the order the service
// checks: route, bot token, rate limits, body, signature, schema, keyword.
func (s *Server) answer(r *http.Request, body []byte, readErr error) platformtest.Reply {
	token, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || token == "" || strings.Contains(token, "/") || r.Method != http.MethodPost {
		// The Open API gateway's answer to an unknown path or method:
		// plain text, not JSON.
		return platformtest.Reply{Status: http.StatusNotFound, Body: "404 page not found", Refusal: "no such route"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[token]
	if h == nil {
		return refuse(&Refusal{Code: CodeBadToken, Message: MsgBadToken, Reason: "unknown bot token"})
	}
	if f, ok := s.NextFailure(); ok {
		return f
	}
	now := s.now()
	if reason := s.limit(h, now); reason != "" {
		return refuse(&Refusal{Code: CodeRateLimited, Message: MsgRateLimited, Reason: reason})
	}
	if readErr != nil {
		return refuse(badRequest("reading the body: %v", readErr))
	}
	if len(body) > MaxBody {
		return refuse(badRequest("body has %d bytes, more than %d", len(body), MaxBody))
	}
	if !platformtest.IsJSON(r) {
		return refuse(badRequest("Content-Type is not application/json"))
	}
	var b wireBody
	if err := json.Unmarshal(body, &b); err != nil {
		return refuse(badRequest("body is not a JSON message: %v", err))
	}
	if h.opts.Secret != "" {
		if reason := verify(b, h.opts.Secret, now); reason != "" {
			return refuse(&Refusal{Code: CodeBadSign, Message: MsgBadSign, Reason: reason})
		}
	}
	if err := Check(body); err != nil {
		return refuse(err.(*Refusal))
	}
	if h.opts.Keyword != "" && !containsKeyword(body, h.opts.Keyword) {
		return refuse(&Refusal{Code: CodeNoKeyword, Message: MsgNoKeyword, Reason: fmt.Sprintf("no text contains %q", h.opts.Keyword)})
	}
	return platformtest.Reply{Status: http.StatusOK, Body: SuccessBody, Header: jsonHeader(), Accepted: true}
}

// jitter is taken off each rate-limit window. Herald paces requests by
// when it sends them, the fake counts them when they arrive, and on
// loopback the first request to a bot (which opens the connection) can
// arrive later than the next ones; without the allowance the sixth
// request, sent exactly a second after the first, could look like a burst.
const jitter = 50 * time.Millisecond

// limit counts one request to h at now and returns why it is over a rate
// limit, or "". A refused request is not counted.
func (s *Server) limit(h *hook, now time.Time) string {
	h.recent = platformtest.TrimWindow(h.recent, now, time.Minute-jitter)
	if s.perMinute > 0 && len(h.recent) >= s.perMinute {
		return fmt.Sprintf("%d requests in the last minute", len(h.recent))
	}
	inSecond := 0
	for _, t := range h.recent {
		if now.Sub(t) < time.Second-jitter {
			inSecond++
		}
	}
	if s.perSecond > 0 && inSecond >= s.perSecond {
		return fmt.Sprintf("%d requests in the last second", inSecond)
	}
	h.recent = append(h.recent, now)
	return ""
}

// verify checks a signed body as the service does: "timestamp" (Unix
// seconds, a string) within SignWindow of now, and "sign" the base64
// HMAC-SHA256 of nothing under the key timestamp + "\n" + secret. It
// returns why the check failed, or "".
func verify(b wireBody, secret string, now time.Time) string {
	var ts string
	if err := json.Unmarshal(b.Timestamp, &ts); err != nil {
		// A number is taken too: platforms.md does not say it is refused.
		var n json.Number
		if json.Unmarshal(b.Timestamp, &n) != nil {
			return "no timestamp in the body"
		}
		ts = n.String()
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Sprintf("timestamp %q is not Unix seconds", ts)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > SignWindow || d < -SignWindow {
		return fmt.Sprintf("timestamp is %v away from now", d.Round(time.Second))
	}
	if b.Sign == nil {
		return "no sign in the body"
	}
	got, err := base64.StdEncoding.DecodeString(*b.Sign)
	if err != nil {
		return "sign is not base64"
	}
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "sign does not match"
	}
	return ""
}

func refuse(r *Refusal) platformtest.Reply {
	return platformtest.Reply{Status: http.StatusOK, Body: answerBody(r.Code, r.Message), Header: jsonHeader(), Refusal: r.Reason}
}

// answerBody is the bot's answer to a request it did not take.
func answerBody(code int, msg string) string {
	b, _ := json.Marshal(struct {
		Code int      `json:"code"`
		Msg  string   `json:"msg"`
		Data struct{} `json:"data"`
	}{code, msg, struct{}{}})
	return string(b)
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}}
}
