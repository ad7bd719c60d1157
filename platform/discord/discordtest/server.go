// Package discordtest is a fake of Discord's execute-webhook endpoint
// (POST /api/webhooks/{id}/{token}) for tests: it listens on a real
// loopback port, accepts messages only on the webhooks it issued (404 10015
// for an unknown id, 401 50027 for a wrong token), enforces the body rules
// and embed limits of platforms.md B (Check), answers like Discord — 204
// without ?wait=true, 200 and the saved message with it, JSON errors with
// Discord's codes — sends X-RateLimit-* headers, limits each webhook to 5
// requests per 2 seconds with Discord's 429 answer, and records everything
// it is sent. Failures can be injected. It is independent of package
// discord, so that it checks Herald's payloads against Discord's rules
// rather than Herald's own.
package discordtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

// Request is one request the fake received; Refusal says why it was refused.
type Request = platformtest.Request

// Default rate limit of every webhook: 5 requests in a bucket of 2 seconds
// (SPEC §3; Discord's own figure is undocumented).
const (
	DefaultLimit = 5
	DefaultPer   = 2 * time.Second
)

// route matches a webhook path: /api, an optional version, /webhooks/{id}/{token}.
var route = regexp.MustCompile(`^/api(?:/v([0-9]+))?/webhooks/([0-9]+)/([^/]+)$`)

// Server is a fake Discord. All its methods are safe for concurrent use.
// Its Recorder logs every request (Requests), keeps the bodies each webhook
// accepted (Accepted, WaitAccepted; a versioned URL counts for the same
// webhook) and injects failures (FailNext): those apply to POSTs to a
// registered webhook with its right token, within its rate limit, and are
// answered instead of being checked and accepted. A JSON body is sent as
// application/json, and the X-RateLimit-* headers are added unless the
// injected answer sets them.
type Server struct {
	*httptest.Server
	platformtest.Recorder

	mu      sync.Mutex
	hooks   map[string]*hook   // by webhook id
	buckets map[string]*bucket // by id/token, as Discord limits webhooks
	limit   int
	per     time.Duration
	seq     int64
}

type hook struct {
	token     string
	channelID string
}

// bucket is one webhook's rate-limit window: count requests since it
// opened, until reset.
type bucket struct {
	name  string
	reset time.Time
	count int
}

// NewServer starts a fake Discord, closed when the test ends. Every webhook
// is limited to DefaultLimit requests per DefaultPer; see SetRateLimit.
func NewServer(t testing.TB) *Server {
	s := &Server{hooks: map[string]*hook{}, buckets: map[string]*bucket{}, limit: DefaultLimit, per: DefaultPer}
	s.HookKey = hookKey
	s.Server = s.Serve(t, s.answer)
	return s
}

// hookKey names a webhook by its unversioned path, so that /api/v10/… and
// /api/… count as one webhook.
func hookKey(u *url.URL) string {
	if m := route.FindStringSubmatch(u.Path); m != nil {
		return "/api/webhooks/" + m[2] + "/" + m[3]
	}
	return u.Path
}

// NewHook registers a new webhook and returns its URL, s.URL +
// "/api/webhooks/{id}/{token}" like Discord's, with a snowflake id and a
// 68-character token. Discord webhooks have no security settings: o is
// ignored.
func (s *Server) NewHook(o platformtest.HookOptions) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.snowflake()
	s.hooks[id] = &hook{token: platformtest.RandomString(68, tokenChars), channelID: s.snowflake()}
	return s.URL + "/api/webhooks/" + id + "/" + s.hooks[id].token
}

// SetRateLimit limits every webhook to n requests per window of per, each
// window opening with the first request after the last one closed, as
// Discord's buckets do; n of zero or less lifts the limit (and drops the
// X-RateLimit-* headers).
func (s *Server) SetRateLimit(n int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit, s.per = n, per
	s.buckets = map[string]*bucket{}
}

var _ platformtest.Fake = (*Server)(nil)

// RateLimitNext answers the next n requests as Discord does over a limit:
// 429, Retry-After: 1, X-RateLimit-Scope: user and
// {"message":"You are being rate limited.","retry_after":1.0,"global":false}.
func (s *Server) RateLimitNext(n int) {
	s.FailNext(n, http.StatusTooManyRequests, rateLimitedBody(1), http.Header{
		"Content-Type":            {"application/json"},
		"Retry-After":             {"1"},
		"X-Ratelimit-Scope":       {"user"},
		"X-Ratelimit-Remaining":   {"0"},
		"X-Ratelimit-Reset-After": {"1.000"},
	})
}

// RejectNext answers the next n requests as Discord does for a deleted
// webhook: 404 {"code":10015,"message":"Unknown Webhook"}. It returns
// "10015".
func (s *Server) RejectNext(n int) string {
	s.FailNext(n, http.StatusNotFound, unknownWebhook.Body(), http.Header{"Content-Type": {"application/json"}})
	return strconv.Itoa(CodeUnknownWebhook)
}

var (
	unknownWebhook = &Refusal{Status: http.StatusNotFound, Code: CodeUnknownWebhook, Message: "Unknown Webhook", Reason: "no webhook has this id"}
	invalidToken   = &Refusal{Status: http.StatusUnauthorized, Code: CodeInvalidWebhookToken, Message: "Invalid Webhook Token", Reason: "the token is not the webhook's"}
	notFound       = &Refusal{Status: http.StatusNotFound, Code: 0, Message: "404: Not Found", Reason: "not a webhook path"}
	badMethod      = &Refusal{Status: http.StatusMethodNotAllowed, Code: 0, Message: "405: Method Not Allowed", Reason: "only POST executes a webhook"}
	badVersion     = &Refusal{Status: http.StatusBadRequest, Code: CodeInvalidAPIVersion, Message: "Invalid API version", Reason: "API versions 6 to 10 exist"}
	tooLarge       = &Refusal{Status: http.StatusRequestEntityTooLarge, Code: CodeEntityTooLarge, Message: "Request entity too large", Reason: "the body could not be read whole"}
)

// answer decides the answer to one request, in Discord's order: route,
// method, rate limit, webhook and token, then the request itself.
func (s *Server) answer(r *http.Request, body []byte, readErr error) platformtest.Reply {
	m := route.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return refuse(notFound, nil)
	}
	if v := m[1]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 6 || n > 10 {
			return refuse(badVersion, nil)
		}
	}
	if r.Method != http.MethodPost {
		return refuse(badMethod, nil)
	}
	id, token := m[2], m[3]
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	header, wait := s.take(id+"/"+token, now)
	if wait > 0 {
		header.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		header.Set("X-RateLimit-Scope", "user")
		header.Set("Content-Type", "application/json")
		return platformtest.Reply{Status: http.StatusTooManyRequests, Body: rateLimitedBody(wait.Seconds()), Header: header, Refusal: "over the webhook's rate limit"}
	}
	h := s.hooks[id]
	if h == nil {
		return refuse(unknownWebhook, header)
	}
	if token != h.token {
		return refuse(invalidToken, header)
	}
	if f, ok := s.NextFailure(); ok {
		if f.Header == nil {
			f.Header = http.Header{}
		}
		for k, vs := range header {
			if f.Header.Get(k) == "" {
				f.Header[k] = vs
			}
		}
		if f.Header.Get("Content-Type") == "" && json.Valid([]byte(f.Body)) {
			f.Header.Set("Content-Type", "application/json")
		}
		return f
	}
	q := r.URL.Query()
	var form formErrors
	wantMessage := boolParam(&form, q, "wait")
	channelID := h.channelID
	if t := q.Get("thread_id"); t != "" {
		if _, err := strconv.ParseUint(t, 10, 64); err != nil {
			form.add("NUMBER_TYPE_COERCE", fmt.Sprintf("Value %q is not snowflake.", t), "thread_id")
		}
		channelID = t
	}
	if f := form.refusal(); f != nil {
		return refuse(f, header)
	}
	if readErr != nil {
		return refuse(tooLarge, header)
	}
	// Discord reads JSON bodies only as application/json; anything else
	// (Herald sends nothing else) leaves it with no message at all.
	if !platformtest.IsJSON(r) {
		return refuse(emptyMessage("Content-Type is not application/json"), header)
	}
	msg, refusal := check(body)
	if refusal != nil {
		return refuse(refusal, header)
	}
	if !wantMessage {
		return platformtest.Reply{Status: http.StatusNoContent, Header: header, Accepted: true}
	}
	header.Set("Content-Type", "application/json")
	return platformtest.Reply{Status: http.StatusOK, Body: s.saved(id, channelID, msg, body, now), Header: header, Accepted: true}
}

// take counts one request against a webhook's bucket and returns the
// X-RateLimit-* headers Discord sends with every answer, and, when the
// bucket is used up, how long until it resets (the request is then not
// counted). With no limit it returns no headers.
func (s *Server) take(key string, now time.Time) (http.Header, time.Duration) {
	header := http.Header{}
	if s.limit <= 0 {
		return header, 0
	}
	b := s.buckets[key]
	if b == nil {
		b = &bucket{name: platformtest.RandomString(32, "0123456789abcdef")}
		s.buckets[key] = b
	}
	if !now.Before(b.reset) {
		b.reset, b.count = now.Add(s.per), 0
	}
	wait := b.reset.Sub(now)
	header.Set("X-RateLimit-Limit", strconv.Itoa(s.limit))
	header.Set("X-RateLimit-Reset", fmt.Sprintf("%.3f", float64(b.reset.UnixMilli())/1000))
	header.Set("X-RateLimit-Reset-After", fmt.Sprintf("%.3f", wait.Seconds()))
	header.Set("X-RateLimit-Bucket", b.name)
	if b.count >= s.limit {
		header.Set("X-RateLimit-Remaining", "0")
		return header, max(wait, time.Millisecond)
	}
	b.count++
	header.Set("X-RateLimit-Remaining", strconv.Itoa(s.limit-b.count))
	return header, 0
}

// rateLimitedBody is Discord's 429 body, retry_after in float seconds.
func rateLimitedBody(seconds float64) string {
	return fmt.Sprintf(`{"message":"You are being rate limited.","retry_after":%.3f,"global":false}`, seconds)
}

// boolParam reads a boolean query parameter as Discord does, recording an
// error for a value that is not one; absent is false.
func boolParam(form *formErrors, q url.Values, name string) bool {
	v := q.Get(name)
	switch strings.ToLower(v) {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	}
	form.add("BOOLEAN_TYPE_COERCE", fmt.Sprintf("Value %q is not bool.", v), name)
	return false
}

// refuse answers with a refusal's status and JSON body, and header.
func refuse(r *Refusal, header http.Header) platformtest.Reply {
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/json")
	return platformtest.Reply{Status: r.Status, Body: r.Body(), Header: header, Refusal: r.Reason}
}

// savedMessage is the message object Discord answers ?wait=true with.
type savedMessage struct {
	ID              string            `json:"id"`
	Type            int               `json:"type"`
	Content         string            `json:"content"`
	ChannelID       string            `json:"channel_id"`
	Author          author            `json:"author"`
	Attachments     []any             `json:"attachments"`
	Embeds          []json.RawMessage `json:"embeds"`
	Mentions        []any             `json:"mentions"`
	MentionRoles    []any             `json:"mention_roles"`
	Pinned          bool              `json:"pinned"`
	MentionEveryone bool              `json:"mention_everyone"`
	TTS             bool              `json:"tts"`
	Timestamp       string            `json:"timestamp"`
	EditedTimestamp *string           `json:"edited_timestamp"`
	Flags           int               `json:"flags"`
	Components      []any             `json:"components"`
	WebhookID       string            `json:"webhook_id"`
}

type author struct {
	ID            string  `json:"id"`
	Username      string  `json:"username"`
	Avatar        *string `json:"avatar"`
	Discriminator string  `json:"discriminator"`
	Bot           bool    `json:"bot"`
}

// saved returns the JSON of the message a webhook just saved: its embeds
// as they were sent.
func (s *Server) saved(webhookID, channelID string, m *wireMessage, body []byte, now time.Time) string {
	var raw struct {
		Embeds []json.RawMessage `json:"embeds"`
	}
	_ = json.Unmarshal(body, &raw) // check has read it already
	username := "Herald test"
	if m.Username != nil {
		username = *m.Username
	}
	msg := savedMessage{
		ID: s.snowflake(), Content: m.Content, ChannelID: channelID,
		Author:      author{ID: webhookID, Username: username, Discriminator: "0000", Bot: true},
		Attachments: []any{}, Embeds: raw.Embeds, Mentions: []any{}, MentionRoles: []any{}, Components: []any{},
		Timestamp: now.UTC().Format("2006-01-02T15:04:05.000000+00:00"), WebhookID: webhookID,
	}
	if msg.Embeds == nil {
		msg.Embeds = []json.RawMessage{}
	}
	b, _ := json.Marshal(msg)
	return string(b)
}

// discordEpoch is the start of Discord's snowflake clock (2015-01-01).
const discordEpoch = 1420070400000

// snowflake returns a new unique id in Discord's form: milliseconds since
// the Discord epoch shifted left by 22 bits, plus a sequence. s.mu must be
// held.
func (s *Server) snowflake() string {
	s.seq++
	return strconv.FormatInt((time.Now().UnixMilli()-discordEpoch)<<22|(s.seq&0x3FFFFF), 10)
}

// tokenChars are the characters of a webhook token.
const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
