package slacktest

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Limits the fake enforces (platforms.md A2), in characters (runes).
const (
	MaxBlocks      = 50 // per message, counting the blocks of its attachments
	MaxAttachments = 100
	MaxText        = 40000 // top-level text
	MaxHeaderText  = 150
	MaxSectionText = 3000
	MaxFields      = 10
	MaxFieldText   = 2000
	MaxElements    = 10 // context block
	MaxActions     = 25 // actions block
	MaxButtonText  = 75
	MaxURL         = 3000
	MaxBlockID     = 255
)

// Refusal is why a message breaks Slack's rules: the plain-text code Slack
// answers with ("invalid_payload", "no_text", "too_many_attachments") and
// what exactly was wrong.
type Refusal struct {
	Code   string
	Reason string
}

// Error returns the code and the reason.
func (r *Refusal) Error() string { return r.Code + ": " + r.Reason }

func invalid(format string, args ...any) *Refusal {
	return &Refusal{Code: "invalid_payload", Reason: fmt.Sprintf(format, args...)}
}

// The wire form of a message, as far as the fake checks it. Unknown fields
// are ignored, as Slack does; a field of the wrong JSON type is refused.
type (
	wireMessage struct {
		Text        string           `json:"text"`
		Blocks      []wireBlock      `json:"blocks"`
		Attachments []wireAttachment `json:"attachments"`
	}
	wireAttachment struct {
		Blocks []wireBlock `json:"blocks"`
	}
	wireBlock struct {
		Type     string            `json:"type"`
		BlockID  string            `json:"block_id"`
		Text     *wireText         `json:"text"`
		Fields   []wireText        `json:"fields"`
		Elements []json.RawMessage `json:"elements"`
	}
	wireText struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Emoji    *bool  `json:"emoji"`
		Verbatim *bool  `json:"verbatim"`
	}
	wireElement struct {
		Type string `json:"type"`
	}
	wireButton struct {
		Text *wireText `json:"text"`
		URL  string    `json:"url"`
	}
)

// Check reports whether body is a message Slack's incoming webhook would
// accept: valid UTF-8 JSON with text, blocks or attachments, within the
// Block Kit limits, every text object of type mrkdwn or plain_text and not
// empty. It returns nil when it is, else the refusal Slack would answer.
func Check(body []byte) *Refusal {
	if !utf8.Valid(body) {
		return invalid("body is not valid UTF-8")
	}
	var m wireMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return invalid("body is not a JSON message: %v", err)
	}
	if m.Text == "" && len(m.Blocks) == 0 && len(m.Attachments) == 0 {
		return &Refusal{Code: "no_text", Reason: "no text, blocks or attachments"}
	}
	if n := utf8.RuneCountInString(m.Text); n > MaxText {
		return invalid("text has %d characters, more than %d", n, MaxText)
	}
	if len(m.Attachments) > MaxAttachments {
		return &Refusal{Code: "too_many_attachments", Reason: fmt.Sprintf("%d attachments", len(m.Attachments))}
	}
	total := len(m.Blocks)
	if err := checkBlocks("blocks", m.Blocks); err != nil {
		return err
	}
	for i, a := range m.Attachments {
		total += len(a.Blocks)
		if err := checkBlocks(fmt.Sprintf("attachments[%d].blocks", i), a.Blocks); err != nil {
			return err
		}
	}
	if total > MaxBlocks {
		return invalid("%d blocks, more than %d", total, MaxBlocks)
	}
	return nil
}

func checkBlocks(where string, blocks []wireBlock) *Refusal {
	if len(blocks) > MaxBlocks {
		return invalid("%s: %d blocks, more than %d", where, len(blocks), MaxBlocks)
	}
	for i, b := range blocks {
		if err := checkBlock(b); err != nil {
			err.Reason = fmt.Sprintf("%s[%d] (%s): %s", where, i, b.Type, err.Reason)
			return err
		}
	}
	return nil
}

func checkBlock(b wireBlock) *Refusal {
	if n := utf8.RuneCountInString(b.BlockID); n > MaxBlockID {
		return invalid("block_id has %d characters", n)
	}
	switch b.Type {
	case "header":
		if b.Text == nil {
			return invalid("no text")
		}
		if b.Text.Type != "plain_text" {
			return invalid("text must be plain_text, is %q", b.Text.Type)
		}
		return checkText("text", *b.Text, MaxHeaderText)
	case "section":
		if b.Text == nil && len(b.Fields) == 0 {
			return invalid("neither text nor fields")
		}
		if b.Text != nil {
			if err := checkText("text", *b.Text, MaxSectionText); err != nil {
				return err
			}
		}
		if len(b.Fields) > MaxFields {
			return invalid("%d fields, more than %d", len(b.Fields), MaxFields)
		}
		for i, f := range b.Fields {
			if err := checkText(fmt.Sprintf("fields[%d]", i), f, MaxFieldText); err != nil {
				return err
			}
		}
	case "context":
		return checkElements(b.Elements, MaxElements, checkContextElement)
	case "actions":
		return checkElements(b.Elements, MaxActions, checkActionElement)
	case "":
		return invalid("block without a type")
	}
	// Other block types (divider, image, rich_text, …) are accepted as they are.
	return nil
}

func checkElements(elements []json.RawMessage, limit int, check func(int, wireElement, json.RawMessage) *Refusal) *Refusal {
	if len(elements) == 0 || len(elements) > limit {
		return invalid("%d elements, want 1 to %d", len(elements), limit)
	}
	for i, raw := range elements {
		var e wireElement
		if err := json.Unmarshal(raw, &e); err != nil {
			return invalid("elements[%d]: %v", i, err)
		}
		if err := check(i, e, raw); err != nil {
			return err
		}
	}
	return nil
}

func checkContextElement(i int, e wireElement, raw json.RawMessage) *Refusal {
	switch e.Type {
	case "mrkdwn", "plain_text":
		var t wireText
		if err := json.Unmarshal(raw, &t); err != nil {
			return invalid("elements[%d]: %v", i, err)
		}
		return checkText(fmt.Sprintf("elements[%d]", i), t, MaxSectionText)
	case "image":
		return nil
	}
	return invalid("elements[%d]: type %q cannot stand in a context block", i, e.Type)
}

func checkActionElement(i int, e wireElement, raw json.RawMessage) *Refusal {
	if e.Type != "button" {
		return nil // other interactive elements are not checked
	}
	var b wireButton
	if err := json.Unmarshal(raw, &b); err != nil {
		return invalid("elements[%d]: %v", i, err)
	}
	if b.Text == nil || b.Text.Type != "plain_text" {
		return invalid("elements[%d]: a button's text must be plain_text", i)
	}
	if err := checkText(fmt.Sprintf("elements[%d].text", i), *b.Text, MaxButtonText); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(b.URL); n > MaxURL {
		return invalid("elements[%d].url has %d characters, more than %d", i, n, MaxURL)
	}
	return nil
}

// checkText checks one text object against Block Kit's composition rules.
func checkText(where string, t wireText, limit int) *Refusal {
	switch t.Type {
	case "plain_text":
		if t.Verbatim != nil {
			return invalid("%s: verbatim is only for mrkdwn", where)
		}
	case "mrkdwn":
		if t.Emoji != nil {
			return invalid("%s: emoji is only for plain_text", where)
		}
	default:
		return invalid("%s: type must be mrkdwn or plain_text, is %q", where, t.Type)
	}
	n := utf8.RuneCountInString(t.Text)
	if n == 0 || n > limit {
		return invalid("%s: %d characters, want 1 to %d", where, n, limit)
	}
	return nil
}
