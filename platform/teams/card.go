package teams

import (
	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// AdaptiveCard is an Adaptive Card 1.4, as Teams shows it in a channel
// (through a Workflows webhook) or in a chat (through the Bot Connector).
// Its fields, and those of the types it holds, are in a fixed order, so the
// same card always has the same bytes.
type AdaptiveCard struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Body    []Element `json:"body"`
	Actions []Action  `json:"actions,omitempty"`
	MSTeams MSTeams   `json:"msteams"`
}

// Element is one element of a card's body: a TextBlock (Text and its
// styling) or a FactSet (Facts).
type Element struct {
	Type      string `json:"type"`
	Text      string `json:"text,omitempty"`
	Weight    string `json:"weight,omitempty"`
	Size      string `json:"size,omitempty"`
	Color     string `json:"color,omitempty"`
	IsSubtle  bool   `json:"isSubtle,omitempty"`
	Wrap      bool   `json:"wrap,omitempty"`
	Spacing   string `json:"spacing,omitempty"`
	Separator bool   `json:"separator,omitempty"`
	Facts     []Fact `json:"facts,omitempty"`
}

// Fact is one row of a FactSet; Teams renders markdown in both.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Action is a card action; Herald uses only Action.OpenUrl.
type Action struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// MSTeams holds the Teams-only card settings: Width "Full" lets the card
// use the width of the channel.
type MSTeams struct {
	Width string `json:"width"`
}

// Names of the Adaptive Card schema that Herald uses.
const (
	cardSchema      = "http://adaptivecards.io/schemas/adaptive-card.json"
	cardVersion     = "1.4" // Teams renders up to 1.5; 1.4 is what every client has
	cardContentType = "application/vnd.microsoft.card.adaptive"
	textBlock       = "TextBlock"
)

// colors are the TextBlock colours of the title line for each level.
var colors = map[herald.Level]string{
	herald.LevelInfo:    "Accent",
	herald.LevelWarn:    "Warning",
	herald.LevelError:   "Attention",
	herald.LevelSuccess: "Good",
}

// workflowsMessage is the body a Workflows webhook takes: the "Post to a
// channel when a webhook request is received" template posts each
// attachment's card (platforms.md C1).
type workflowsMessage struct {
	Type        string           `json:"type"`
	Attachments []cardAttachment `json:"attachments"`
}

type cardAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"` // always null
	Content     AdaptiveCard `json:"content"`
}

func workflowsEnvelope(c AdaptiveCard) any {
	return workflowsMessage{Type: "message", Attachments: []cardAttachment{{ContentType: cardContentType, Content: c}}}
}

// Card returns the Adaptive Card of m: the level emoji and title line
// (coloured by level), the description, a FactSet of m.Fields() with the
// subject linked to m.Link, the failed tasks, the details, a small
// footer naming Herald and the project, and a "View" button to m.Link.
// Every text is escaped for Teams markdown (see escaper) and cut with "…";
// the card is cut further, description and details first, until the
// Workflows message holding it is at most 27,000 bytes of JSON, under
// Teams' limit of about 28 KB. A link that is not an absolute http(s) URL,
// or is over 4,000 bytes, is left out. The card depends only on m.
func Card(m *message.Message) AdaptiveCard {
	c, _, _ := fitPayload(func(l limits) AdaptiveCard { return card(m, l) }, workflowsEnvelope)
	return c
}

// RenderWorkflows returns the body to post to a Workflows webhook:
// {"type":"message","attachments":[{"contentType":
// "application/vnd.microsoft.card.adaptive","contentUrl":null,"content":
// Card(m)}]}, at most 27,000 bytes.
func RenderWorkflows(m *message.Message) ([]byte, error) {
	_, b, err := fitPayload(func(l limits) AdaptiveCard { return card(m, l) }, workflowsEnvelope)
	return b, err
}

// card builds the card of m with the cuts of l.
func card(m *message.Message, l limits) AdaptiveCard {
	target, linked := linkTarget(m.Link)
	body := []Element{{
		Type: textBlock, Text: withEmoji(m.Level, heading(m, l)),
		Weight: "Bolder", Size: "Large", Color: colors[m.Level], Wrap: true,
	}}
	if d := markdown(m.Description, l.description); d != "" {
		body = append(body, Element{Type: textBlock, Text: d, Wrap: true})
	}
	if fs := facts(m, target, linked, l); len(fs) > 0 {
		body = append(body, Element{Type: "FactSet", Facts: fs})
	}
	if lines := m.TaskLines(); len(lines) > 0 {
		body = append(body, Element{Type: textBlock, Text: "Failed tasks", Weight: "Bolder", Wrap: true, Spacing: "Medium"})
		for _, line := range lines {
			body = append(body, Element{Type: textBlock, Text: "• " + markdown(line, l.task), Wrap: true, Spacing: "Small"})
		}
	}
	if l.details > 0 {
		if d := markdown(m.Details, l.details); d != "" {
			body = append(body, Element{Type: textBlock, Text: d, Wrap: true, Separator: true})
		}
	}
	body = append(body, Element{Type: textBlock, Text: markdown(m.Footer(), l.footer), Size: "Small", IsSubtle: true, Wrap: true, Spacing: "Medium"})

	c := AdaptiveCard{Schema: cardSchema, Type: "AdaptiveCard", Version: cardVersion, Body: body, MSTeams: MSTeams{Width: "Full"}}
	if linked {
		c.Actions = []Action{{Type: "Action.OpenUrl", Title: "View", URL: target}}
	}
	return c
}

// facts returns m's fields as facts, the subject linked to target when
// linked. Facts whose value escapes to nothing are left out: Teams
// requires a value.
func facts(m *message.Message, target string, linked bool, l limits) []Fact {
	var out []Fact
	for _, f := range m.Fields() {
		value := ""
		if f.URL != "" && linked {
			value = link(f.Value, target, l.fact)
		} else {
			value = markdown(f.Value, l.fact)
		}
		if value != "" {
			out = append(out, Fact{Title: markdown(f.Label, maxLabel), Value: value})
		}
	}
	return out
}
