package slack

import (
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// Block Kit limits (platforms.md A2), in characters (runes), and the cuts
// Herald makes within them.
const (
	maxText        = 3000 // Herald's cut of the top-level fallback text
	maxHeader      = 150
	maxSectionText = 3000
	maxFields      = 10
	maxFieldText   = 2000
	maxDetails     = 1000 // Herald's cut of the quoted issue description
	maxURL         = 3000
	minLabel       = 20 // the shortest link label worth linking a field with
)

// payload is an incoming-webhook message. Struct types (not maps) keep the
// field order, and so the bytes, stable.
type payload struct {
	Text        string       `json:"text"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	Color  string  `json:"color"`
	Blocks []block `json:"blocks"`
}

// block is one Block Kit layout block; each type uses some of the fields.
type block struct {
	Type     string `json:"type"`
	Text     *text  `json:"text,omitempty"`
	Fields   []text `json:"fields,omitempty"`
	Elements []any  `json:"elements,omitempty"` // text (context) or button (actions)
}

type text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

type button struct {
	Type string `json:"type"`
	Text text   `json:"text"`
	URL  string `json:"url"`
}

func mrkdwn(s string) *text { return &text{Type: "mrkdwn", Text: s} }

// colors show the level (SPEC §2), with message.LevelEmoji.
var colors = map[herald.Level]string{
	herald.LevelInfo:    "#439FE0",
	herald.LevelWarn:    "#F2C744",
	herald.LevelError:   "#E01E5A",
	herald.LevelSuccess: "#2EB67D",
}

// Render returns the incoming-webhook JSON of m: a fallback "text" for
// notifications and one attachment with the level colour holding the Block
// Kit blocks (header, description, fields, issue details, failed tasks, the
// "Herald" footer and the "View" button). Text is escaped for mrkdwn and cut
// with "…" so that every Block Kit limit holds after escaping, whatever m
// holds; a link too long for Slack (over 3000 characters) is left out rather
// than rejected. The output is valid UTF-8 and depends only on m.
//
// Chat.postMessage takes the same "text" and "attachments", so direct
// messages reuse it.
func Render(m *message.Message) ([]byte, error) {
	blocks := []block{{
		Type: "header",
		Text: &text{Type: "plain_text", Text: message.Truncate(message.LevelEmoji(m.Level)+" "+m.Heading(), maxHeader), Emoji: true},
	}}
	if strings.TrimSpace(m.Description) != "" {
		blocks = append(blocks, block{Type: "section", Text: mrkdwn(message.Fit(m.Description, maxSectionText, escape))})
	}
	if fs := fields(m); len(fs) > 0 {
		blocks = append(blocks, block{Type: "section", Fields: fs})
	}
	if d := strings.TrimSpace(m.Details); d != "" {
		blocks = append(blocks, block{Type: "section", Text: mrkdwn("> " + message.Fit(d, maxDetails-2, escapeQuoted))})
	}
	if lines := m.TaskLines(); len(lines) > 0 {
		blocks = append(blocks, block{Type: "section", Text: mrkdwn(tasks(lines))})
	}
	blocks = append(blocks, block{Type: "context", Elements: []any{mrkdwn(message.Fit(m.Footer(), maxSectionText, escape))}})
	if m.Link != "" && utf8.RuneCountInString(m.Link) <= maxURL {
		blocks = append(blocks, block{Type: "actions", Elements: []any{
			button{Type: "button", Text: text{Type: "plain_text", Text: "View"}, URL: m.Link},
		}})
	}

	fallback := m.Heading()
	if m.Description != "" {
		fallback += " — " + m.Description
	}
	p := payload{
		Text:        message.Fit(fallback, maxText, escape),
		Attachments: []attachment{{Color: colors[m.Level], Blocks: blocks}},
	}
	return platform.JSON(p)
}

// fields renders the message's facts as "*Label*\nvalue", the subject as a
// link when it has one.
func fields(m *message.Message) []text {
	var out []text
	for _, f := range m.Fields() {
		if len(out) == maxFields {
			break
		}
		head := "*" + message.Fit(f.Label, 100, escape) + "*\n"
		room := maxFieldText - utf8.RuneCountInString(head)
		// A URL that would leave the label fewer than minLabel characters
		// is not linked here; the "View" button still carries it if it fits.
		var body string
		if f.URL != "" {
			open := "<" + linkTarget(f.URL) + "|"
			if labelRoom := room - utf8.RuneCountInString(open) - 1; labelRoom >= minLabel {
				body = open + message.Fit(f.Value, labelRoom, escape) + ">"
			}
		}
		if body == "" {
			body = message.Fit(f.Value, room, escape)
		}
		out = append(out, text{Type: "mrkdwn", Text: head + body})
	}
	return out
}

// tasks renders the failed-task lines as a bulleted list, giving each line
// an equal share of the section so that "and N more" always shows.
func tasks(lines []string) string {
	const head, bullet = "*Failed tasks*", "\n• "
	share := (maxSectionText-utf8.RuneCountInString(head))/len(lines) - utf8.RuneCountInString(bullet)
	var b strings.Builder
	b.WriteString(head)
	for _, l := range lines {
		b.WriteString(bullet)
		b.WriteString(message.Fit(l, share, escape))
	}
	return b.String()
}

// linkTarget makes a URL safe inside <url|label>: "|" would end the URL and
// ">" the link, so both (and "<") are percent-encoded; "&" is escaped as in
// all mrkdwn text, which is how Slack itself writes links with queries.
var linkTarget = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", "&", "&amp;").Replace

// escape writes one character of mrkdwn text: Slack wants &, < and >
// escaped as HTML entities (platforms.md A2).
var escape = message.EscapeHTML

// escapeQuoted is escape inside a "> " block quote, which every new line
// must continue.
func escapeQuoted(r rune) string {
	if r == '\n' {
		return "\n> "
	}
	return escape(r)
}
