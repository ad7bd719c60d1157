package feishutest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxBody is the most bytes a request body may have. The custom bot's
// guide says 20 KB (platforms.md E1); the fake takes the stricter reading,
// 20,000 bytes, so that a body it accepts is accepted under either.
const MaxBody = 20000

// Codes and messages of the custom bot's answers (platforms.md E1).
const (
	CodeOK          = 0
	CodeBadRequest  = 9499
	CodeRateLimited = 11232
	CodeBadToken    = 19001
	CodeBadSign     = 19021
	CodeIPDenied    = 19022
	CodeNoKeyword   = 19024

	MsgBadRequest  = "Bad Request"
	MsgRateLimited = "frequency limited" // UNVERIFIED: platforms.md gives no text for 11232
	MsgBadToken    = "param invalid: incoming webhook access token invalid"
	MsgBadSign     = "sign match fail or timestamp is not within one hour from current time"
	MsgIPDenied    = "Ip Not Allowed"
	MsgNoKeyword   = "Key Words Not Found"
)

// Refusal is why the custom bot refuses a request: the code and message it
// answers with, and what exactly was wrong (recorded, not sent).
type Refusal struct {
	Code    int
	Message string
	Reason  string
}

// Error returns the code, the message and the reason.
func (r *Refusal) Error() string {
	return fmt.Sprintf("%d %s: %s", r.Code, r.Message, r.Reason)
}

func badRequest(format string, args ...any) *Refusal {
	return &Refusal{Code: CodeBadRequest, Message: MsgBadRequest, Reason: fmt.Sprintf(format, args...)}
}

// The wire form of a request, as far as the fake checks it. Unknown fields
// are ignored; a field of the wrong JSON type is a bad request.
type (
	wireBody struct {
		MsgType   *string         `json:"msg_type"`
		Timestamp json.RawMessage `json:"timestamp"`
		Sign      *string         `json:"sign"`
		Content   json.RawMessage `json:"content"`
		Card      json.RawMessage `json:"card"`
	}
	wireCard struct {
		Header       *wireHeader                  `json:"header"`
		Elements     []json.RawMessage            `json:"elements"`
		I18nElements map[string][]json.RawMessage `json:"i18n_elements"`
	}
	wireHeader struct {
		Title    *wireText `json:"title"`
		Template string    `json:"template"`
	}
	wireText struct {
		Tag     string            `json:"tag"`
		Content string            `json:"content"`
		I18n    map[string]string `json:"i18n"`
	}
	wireElement struct {
		Tag      string            `json:"tag"`
		Text     *wireText         `json:"text"`
		Fields   []wireField       `json:"fields"`
		Content  *string           `json:"content"`
		Actions  []json.RawMessage `json:"actions"`
		Elements []json.RawMessage `json:"elements"`
		ImgKey   string            `json:"img_key"`
	}
	wireField struct {
		IsShort bool      `json:"is_short"`
		Text    *wireText `json:"text"`
	}
	wireButton struct {
		Tag      string    `json:"tag"`
		Text     *wireText `json:"text"`
		Type     string    `json:"type"`
		URL      string    `json:"url"`
		MultiURL *struct {
			URL string `json:"url"`
		} `json:"multi_url"`
	}
	wireNoteElement struct {
		Tag     string `json:"tag"`
		Content string `json:"content"`
		ImgKey  string `json:"img_key"`
	}
)

// Header colours a card may have.
var templates = map[string]bool{
	"blue": true, "wathet": true, "turquoise": true, "green": true, "yellow": true, "orange": true,
	"red": true, "carmine": true, "violet": true, "purple": true, "indigo": true, "grey": true, "default": true,
}

// Check reports whether body is a message the custom bot would take,
// security settings aside: at most MaxBody bytes of valid UTF-8 JSON with
// a known msg_type and its content — for "interactive", a card at the top
// level (not inside "content") with a header title, at least one element,
// only element and text tags cards know, no empty text, and a URL on every
// button (webhook cards cannot call back). It returns nil, or a *Refusal
// with code 9499, which is what Feishu answers for a bad body.
func Check(body []byte) error {
	if len(body) > MaxBody {
		return badRequest("body has %d bytes, more than %d", len(body), MaxBody)
	}
	if !utf8.Valid(body) {
		return badRequest("body is not valid UTF-8")
	}
	var b wireBody
	if err := json.Unmarshal(body, &b); err != nil {
		return badRequest("body is not a JSON message: %v", err)
	}
	if b.MsgType == nil {
		return badRequest("no msg_type")
	}
	switch *b.MsgType {
	case "interactive":
		if isNull(b.Card) {
			if !isNull(b.Content) {
				return badRequest(`an interactive message carries its card at the top level, not in "content"`)
			}
			return badRequest("no card")
		}
		return checkCard(b.Card)
	case "text":
		var c struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(b.Content, &c) != nil || c.Text == "" {
			return badRequest("a text message needs content.text")
		}
	case "post":
		var c struct {
			Post map[string]json.RawMessage `json:"post"`
		}
		if json.Unmarshal(b.Content, &c) != nil || len(c.Post) == 0 {
			return badRequest("a post message needs content.post")
		}
	case "image":
		var c struct {
			ImageKey string `json:"image_key"`
		}
		if json.Unmarshal(b.Content, &c) != nil || c.ImageKey == "" {
			return badRequest("an image message needs content.image_key")
		}
	case "share_chat":
		var c struct {
			ChatID string `json:"share_chat_id"`
		}
		if json.Unmarshal(b.Content, &c) != nil || c.ChatID == "" {
			return badRequest("a share_chat message needs content.share_chat_id")
		}
	default:
		return badRequest("unknown msg_type %q", *b.MsgType)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func checkCard(raw json.RawMessage) error {
	var c wireCard
	if err := json.Unmarshal(raw, &c); err != nil {
		return badRequest("card: %v", err)
	}
	if c.Header == nil || c.Header.Title == nil {
		return badRequest("card: no header title")
	}
	if c.Header.Title.Tag != "plain_text" {
		return badRequest("card: header title tag must be plain_text, is %q", c.Header.Title.Tag)
	}
	if c.Header.Title.Content == "" && len(c.Header.Title.I18n) == 0 {
		return badRequest("card: empty header title")
	}
	if t := c.Header.Template; t != "" && !templates[t] {
		return badRequest("card: unknown header template %q", t)
	}
	wheres := []string{"elements"}
	lists := map[string][]json.RawMessage{"elements": c.Elements}
	for _, lang := range slices.Sorted(maps.Keys(c.I18nElements)) {
		wheres = append(wheres, "i18n_elements."+lang)
		lists["i18n_elements."+lang] = c.I18nElements[lang]
	}
	n := 0
	for _, where := range wheres {
		n += len(lists[where])
		for i, e := range lists[where] {
			if err := checkElement(e); err != nil {
				err.Reason = fmt.Sprintf("card.%s[%d]: %s", where, i, err.Reason)
				return err
			}
		}
	}
	if n == 0 {
		return badRequest("card: no elements")
	}
	return nil
}

func checkElement(raw json.RawMessage) *Refusal {
	var e wireElement
	if err := json.Unmarshal(raw, &e); err != nil {
		return badRequest("%v", err)
	}
	switch e.Tag {
	case "div":
		if e.Text == nil && len(e.Fields) == 0 {
			return badRequest("div without text or fields")
		}
		if e.Text != nil {
			if err := checkText("text", e.Text); err != nil {
				return err
			}
		}
		for i, f := range e.Fields {
			if err := checkText(fmt.Sprintf("fields[%d].text", i), f.Text); err != nil {
				return err
			}
		}
	case "markdown":
		if e.Content == nil || *e.Content == "" {
			return badRequest("markdown without content")
		}
	case "action":
		if len(e.Actions) == 0 {
			return badRequest("action without actions")
		}
		for i, a := range e.Actions {
			if err := checkAction(i, a); err != nil {
				return err
			}
		}
	case "note":
		if len(e.Elements) == 0 {
			return badRequest("note without elements")
		}
		for i, raw := range e.Elements {
			var n wireNoteElement
			if err := json.Unmarshal(raw, &n); err != nil {
				return badRequest("note elements[%d]: %v", i, err)
			}
			switch {
			case n.Tag == "img" && n.ImgKey != "":
			case (n.Tag == "plain_text" || n.Tag == "lark_md") && n.Content != "":
			default:
				return badRequest("note elements[%d]: want a non-empty plain_text or lark_md, or an img, got tag %q", i, n.Tag)
			}
		}
	case "img":
		if e.ImgKey == "" {
			return badRequest("img without img_key")
		}
	case "hr", "column_set":
	case "":
		return badRequest("element without a tag")
	default:
		return badRequest("unknown element tag %q", e.Tag)
	}
	return nil
}

func checkAction(i int, raw json.RawMessage) *Refusal {
	var b wireButton
	if err := json.Unmarshal(raw, &b); err != nil {
		return badRequest("actions[%d]: %v", i, err)
	}
	switch b.Tag {
	case "button":
	case "select_static", "select_person", "overflow", "date_picker", "picker_time", "picker_datetime":
		return nil // not used by Herald, not checked further
	default:
		return badRequest("actions[%d]: unknown tag %q", i, b.Tag)
	}
	if err := checkText(fmt.Sprintf("actions[%d].text", i), b.Text); err != nil {
		return err
	}
	if b.Type != "" && b.Type != "default" && b.Type != "primary" && b.Type != "danger" {
		return badRequest("actions[%d]: unknown button type %q", i, b.Type)
	}
	link := b.URL
	if b.MultiURL != nil && link == "" {
		link = b.MultiURL.URL
	}
	if link == "" {
		return badRequest("actions[%d]: a webhook card's button needs a url", i)
	}
	if u, err := url.Parse(link); err != nil || u.Scheme == "" {
		return badRequest("actions[%d]: url is not an absolute URL", i)
	}
	return nil
}

func checkText(where string, t *wireText) *Refusal {
	if t == nil {
		return badRequest("%s: missing", where)
	}
	if t.Tag != "plain_text" && t.Tag != "lark_md" {
		return badRequest("%s: tag must be plain_text or lark_md, is %q", where, t.Tag)
	}
	if t.Content == "" && len(t.I18n) == 0 {
		return badRequest("%s: empty content", where)
	}
	return nil
}

// Texts returns what a message shows, for keyword security: the card's
// header title and every text of its elements (div text and fields,
// markdown, note texts, button labels), or a non-card message's content
// as it is. It expects a body Check accepted.
func Texts(body []byte) []string {
	var b wireBody
	if json.Unmarshal(body, &b) != nil || b.MsgType == nil {
		return nil
	}
	if *b.MsgType != "interactive" {
		return []string{string(b.Content)}
	}
	var c wireCard
	if json.Unmarshal(b.Card, &c) != nil {
		return nil
	}
	var out []string
	text := func(t *wireText) {
		if t != nil {
			out = append(out, t.Content)
			for _, s := range t.I18n {
				out = append(out, s)
			}
		}
	}
	if c.Header != nil {
		text(c.Header.Title)
	}
	all := c.Elements
	for _, es := range c.I18nElements {
		all = append(all, es...)
	}
	for _, raw := range all {
		var e wireElement
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		text(e.Text)
		for _, f := range e.Fields {
			text(f.Text)
		}
		if e.Content != nil {
			out = append(out, *e.Content)
		}
		for _, a := range e.Actions {
			var b wireButton
			if json.Unmarshal(a, &b) == nil {
				text(b.Text)
			}
		}
		for _, n := range e.Elements {
			var ne wireNoteElement
			if json.Unmarshal(n, &ne) == nil {
				out = append(out, ne.Content)
			}
		}
	}
	return out
}

// containsKeyword reports whether any text of body holds keyword.
func containsKeyword(body []byte, keyword string) bool {
	for _, t := range Texts(body) {
		if strings.Contains(t, keyword) {
			return true
		}
	}
	return false
}
