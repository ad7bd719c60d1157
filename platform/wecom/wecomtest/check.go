package wecomtest

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Limits the fake enforces (platforms.md F1), in bytes of UTF-8.
const (
	MaxMarkdownBytes = 4096
	MaxTextBytes     = 2048
)

// Errcodes the fake answers with, as WeCom does (platforms.md F1 and the
// global codes of WeCom's API).
const (
	CodeOK             = 0
	CodeSystemBusy     = -1
	CodeInvalidWebhook = 93000 // no or unknown key, or the robot was removed
	CodeRateLimited    = 45009
	CodeInvalidMsgType = 40008
	CodeEmptyContent   = 44004
	// CodeTooLong is the answer to content over its limit. platforms.md
	// calls 40058 plausible but UNVERIFIED; the fake uses it.
	CodeTooLong = 40058
	// CodeBadJSON is the answer to a body that is not a JSON message
	// (UNVERIFIED: WeCom is known to answer "invalid parameter" codes).
	CodeBadJSON = 40035
	// CodeRequirePost is the answer to a method other than POST, WeCom's
	// global "require POST method" code (UNVERIFIED for robots).
	CodeRequirePost = 43002
)

// Refusal is why WeCom would refuse a message: the errcode and errmsg it
// answers with, and what exactly was wrong (for test failures; WeCom does
// not say).
type Refusal struct {
	Errcode int
	Errmsg  string
	Reason  string
}

// Error returns the errcode, errmsg and reason.
func (r *Refusal) Error() string {
	return fmt.Sprintf("errcode %d (%s): %s", r.Errcode, r.Errmsg, r.Reason)
}

func refusal(code int, errmsg, format string, args ...any) *Refusal {
	return &Refusal{Errcode: code, Errmsg: errmsg, Reason: fmt.Sprintf(format, args...)}
}

// The wire form of a message, as far as the fake checks it. Unknown fields
// are ignored; a field of the wrong JSON type is refused.
type (
	wireMessage struct {
		MsgType    string       `json:"msgtype"`
		Text       *wireContent `json:"text"`
		Markdown   *wireContent `json:"markdown"`
		MarkdownV2 *wireContent `json:"markdown_v2"`
	}
	wireContent struct {
		Content string `json:"content"`
	}
)

// Check reports whether body is a message a WeCom group robot would take:
// valid UTF-8 JSON whose msgtype is text, markdown or markdown_v2 (the
// fake implements no other type, although WeCom has more), with non-empty
// content of at most MaxTextBytes (text) or MaxMarkdownBytes (markdown)
// bytes. It returns nil when it is, else a *Refusal.
func Check(body []byte) error {
	if !utf8.Valid(body) {
		return refusal(CodeBadJSON, "invalid parameter, Warning: wrong json format.", "body is not valid UTF-8")
	}
	var m wireMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return refusal(CodeBadJSON, "invalid parameter, Warning: wrong json format.", "body is not a JSON message: %v", err)
	}
	var c *wireContent
	limit := MaxMarkdownBytes
	switch m.MsgType {
	case "text":
		c, limit = m.Text, MaxTextBytes
	case "markdown":
		c = m.Markdown
	case "markdown_v2":
		c = m.MarkdownV2
	default:
		return refusal(CodeInvalidMsgType, "invalid message type", "msgtype %q", m.MsgType)
	}
	if c == nil || c.Content == "" {
		return refusal(CodeEmptyContent, "empty content", "%s.content is missing or empty", m.MsgType)
	}
	if n := len(c.Content); n > limit {
		return refusal(CodeTooLong, fmt.Sprintf("%s.content exceed max length %d", m.MsgType, limit),
			"%s.content has %d bytes, more than %d", m.MsgType, n, limit)
	}
	return nil
}

// Content returns the content of a message the fake accepted (text,
// markdown or markdown_v2), or "" when body is not one.
func Content(body []byte) string {
	var m wireMessage
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	c := map[string]*wireContent{"text": m.Text, "markdown": m.Markdown, "markdown_v2": m.MarkdownV2}[m.MsgType]
	if c == nil {
		return ""
	}
	return c.Content
}
