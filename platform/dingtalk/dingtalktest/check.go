package dingtalktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxBody is the largest body the fake accepts, in bytes. DingTalk's own
// limit is undocumented; robots have answered 460101 "message too long,
// exceed 20000 bytes".
const MaxBody = 20000

// The errcodes the fake answers with. Those marked UNVERIFIED were not
// seen in any public log; they are DingTalk's codes for the same kind of
// mistake elsewhere in its API.
const (
	CodeOK            = 0
	CodeBusy          = -1     // "system busy"
	CodeMissingParam  = 40035  // "缺少参数 access_token", "缺少参数 json" (body not JSON)
	CodeBadMsgType    = 40008  // UNVERIFIED: msgtype missing or unknown
	CodeNotPost       = 43002  // UNVERIFIED: a method other than POST
	CodeBadTitle      = 400402 // "参数 markdown --》 title 缺失…": markdown object or title missing
	CodeBadText       = 400403 // "miss param : markdown->text"
	CodeTooLong       = 460101 // "message too long, exceed 20000 bytes"
	CodeSecurity      = 310000 // keyword, signature or timestamp
	CodeUnknownToken  = 300005 // "token is not exist"
	CodeTooFast       = 130101 // "send too fast, exceed 20 times per minute"
	CodeTooManyPerMin = 660026 // "sending too many messages per minute"
)

// Refusal is why DingTalk would refuse a message: the errcode and errmsg it
// answers with, and what exactly was wrong (for test failures; not sent).
type Refusal struct {
	Code   int
	Msg    string
	Reason string
}

// Error returns the errcode, the errmsg and the reason.
func (r *Refusal) Error() string { return fmt.Sprintf("errcode %d %s: %s", r.Code, r.Msg, r.Reason) }

// The wire form of a robot message, as far as the fake checks it. Unknown
// fields are ignored; a known field of the wrong JSON type is refused.
type (
	wireMessage struct {
		MsgType  *string       `json:"msgtype"`
		Text     *wireText     `json:"text"`
		Markdown *wireMarkdown `json:"markdown"`
		At       *wireAt       `json:"at"`
		// The other message types are taken as DingTalk documents them,
		// without a closer look: Herald does not send them.
		Link       json.RawMessage `json:"link"`
		ActionCard json.RawMessage `json:"actionCard"`
		FeedCard   json.RawMessage `json:"feedCard"`
	}
	wireText struct {
		Content string `json:"content"`
	}
	wireMarkdown struct {
		Title *string `json:"title"`
		Text  *string `json:"text"`
	}
	wireAt struct {
		AtMobiles []string `json:"atMobiles"`
		AtUserIDs []string `json:"atUserIds"`
		IsAtAll   bool     `json:"isAtAll"`
	}
)

// Check reports whether body is a message DingTalk's custom robot would
// take, security settings aside: valid UTF-8 JSON of at most MaxBody bytes
// with a known msgtype and that type's object; for markdown, a non-empty
// title and text; for text, a non-empty content; "at" of the documented
// shape. It returns nil when it is, else a *Refusal with DingTalk's answer.
func Check(body []byte) error {
	if r := check(body); r != nil {
		return r
	}
	return nil
}

func check(body []byte) *Refusal {
	if !utf8.Valid(body) {
		return &Refusal{CodeMissingParam, "缺少参数 json", "the body is not UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var m wireMessage
	if err := dec.Decode(&m); err != nil {
		return &Refusal{CodeMissingParam, "缺少参数 json", "the body is not a JSON message: " + err.Error()}
	}
	if dec.More() {
		return &Refusal{CodeMissingParam, "缺少参数 json", "the body has more than one JSON value"}
	}
	if len(body) > MaxBody {
		return &Refusal{CodeTooLong, "message too long, exceed 20000 bytes", fmt.Sprintf("the body has %d bytes", len(body))}
	}
	if m.MsgType == nil {
		return &Refusal{CodeBadMsgType, "不合法的消息类型", "no msgtype"}
	}
	switch *m.MsgType {
	case "markdown":
		if m.Markdown == nil || m.Markdown.Title == nil || *m.Markdown.Title == "" {
			return &Refusal{CodeBadTitle, "错误描述:参数 markdown --》 title 缺失，或者参数格式不正确", "markdown.title is missing or empty"}
		}
		if m.Markdown.Text == nil || *m.Markdown.Text == "" {
			return &Refusal{CodeBadText, "miss param : markdown->text", "markdown.text is missing or empty"}
		}
	case "text":
		if m.Text == nil || m.Text.Content == "" {
			return &Refusal{CodeBadText, "miss param : text->content", "text.content is missing or empty"}
		}
	case "link", "actionCard", "feedCard":
		if raw := map[string]json.RawMessage{"link": m.Link, "actionCard": m.ActionCard, "feedCard": m.FeedCard}[*m.MsgType]; len(raw) == 0 || raw[0] != '{' {
			return &Refusal{CodeBadTitle, "错误描述:参数 " + *m.MsgType + " 缺失，或者参数格式不正确", *m.MsgType + " object is missing"}
		}
	default:
		return &Refusal{CodeBadMsgType, "不合法的消息类型", fmt.Sprintf("unknown msgtype %q", *m.MsgType)}
	}
	return nil
}

// content is the text keyword security searches: the title and text of a
// markdown message, the content of a text message, the whole body else.
func content(body []byte) []string {
	var m wireMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	switch {
	case m.Markdown != nil && m.Markdown.Title != nil && m.Markdown.Text != nil:
		return []string{*m.Markdown.Title, *m.Markdown.Text}
	case m.Text != nil:
		return []string{m.Text.Content}
	}
	return []string{string(body)}
}

// Mention is one mobile a message names in at.atMobiles.
type Mention struct {
	Mobile string
	// InText says the text has "@" + Mobile, without which DingTalk shows
	// the message but notifies nobody.
	InText bool
	// WellFormed says Mobile has a form DingTalk knows: a mainland number
	// of 11 digits starting with 1, or "+<country code>-<number>".
	WellFormed bool
}

// Effective reports whether DingTalk would notify the person.
func (m Mention) Effective() bool { return m.InText && m.WellFormed }

var mobileForm = regexp.MustCompile(`^(1[0-9]{10}|\+[1-9][0-9]{0,2}-[0-9]{4,14})$`)

// ParseMentions returns the mentions of a message body (markdown or
// text), in the order of at.atMobiles, or an error when body is not a
// message.
func ParseMentions(body []byte) ([]Mention, error) {
	var m wireMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if m.At == nil {
		return nil, nil
	}
	text := ""
	switch {
	case m.Markdown != nil && m.Markdown.Text != nil:
		text = *m.Markdown.Text
	case m.Text != nil:
		text = m.Text.Content
	}
	out := make([]Mention, 0, len(m.At.AtMobiles))
	for _, mobile := range m.At.AtMobiles {
		out = append(out, Mention{
			Mobile:     mobile,
			InText:     mentioned(text, mobile),
			WellFormed: mobileForm.MatchString(mobile),
		})
	}
	return out, nil
}

// mentioned reports whether text has "@" + mobile, not followed by another
// digit (which would make it a different number).
func mentioned(text, mobile string) bool {
	if mobile == "" {
		return false
	}
	needle := "@" + mobile
	for i := strings.Index(text, needle); i >= 0; {
		end := i + len(needle)
		if end == len(text) || text[end] < '0' || text[end] > '9' {
			return true
		}
		next := strings.Index(text[end:], needle)
		if next < 0 {
			break
		}
		i = end + next
	}
	return false
}
