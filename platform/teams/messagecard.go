package teams

import (
	"strings"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// messageCard is the legacy Office 365 connector card (platforms.md C2).
type messageCard struct {
	Type            string    `json:"@type"`
	Context         string    `json:"@context"`
	ThemeColor      string    `json:"themeColor"`
	Summary         string    `json:"summary"`
	Title           string    `json:"title"`
	Text            string    `json:"text,omitempty"`
	Sections        []section `json:"sections"`
	PotentialAction []openURI `json:"potentialAction,omitempty"`
}

type section struct {
	ActivityTitle string     `json:"activityTitle"`
	Facts         []cardFact `json:"facts,omitempty"`
	Text          string     `json:"text,omitempty"`
	Markdown      bool       `json:"markdown"`
}

type cardFact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type openURI struct {
	Type    string   `json:"@type"`
	Name    string   `json:"name"`
	Targets []target `json:"targets"`
}

type target struct {
	OS  string `json:"os"`
	URI string `json:"uri"`
}

// themeColors are the connector card's accent colours for each level.
var themeColors = map[herald.Level]string{
	herald.LevelInfo:    "0076D7",
	herald.LevelWarn:    "FFB900",
	herald.LevelError:   "D13438",
	herald.LevelSuccess: "107C10",
}

// RenderMessageCard returns the body to post to a legacy Office 365
// connector (*.webhook.office.com, outlook.office.com,
// outlook.office365.com): a MessageCard with the level colour, a summary
// (the plain title line, which the connector requires), the level emoji and
// title line as its title, the description as its text, and one section
// naming Herald and the project that holds m.Fields() as facts (the subject
// linked to m.Link), the failed tasks and the details, then an
// OpenUri "View" action to m.Link. Text fields are escaped as Card's are
// (connector cards render markdown and some HTML; the title and summary
// are plain) and cut with "…" until the body is at most 27,000 bytes.
func RenderMessageCard(m *message.Message) ([]byte, error) {
	_, b, err := fitPayload(func(l limits) messageCard { return connectorCard(m, l) }, func(c messageCard) any { return c })
	return b, err
}

// connectorCard builds the MessageCard of m with the cuts of l.
func connectorCard(m *message.Message, l limits) messageCard {
	uri, linked := linkTarget(m.Link)
	summary := plain(m.Heading(), l.heading)
	if summary == "" {
		summary = message.Brand
	}
	c := messageCard{
		Type: "MessageCard", Context: "http://schema.org/extensions",
		ThemeColor: themeColors[m.Level],
		Summary:    summary,
		Title:      withEmoji(m.Level, summary),
		Text:       markdown(m.Description, l.description),
	}
	s := section{ActivityTitle: markdown(m.Footer(), l.footer), Markdown: true}
	for _, f := range facts(m, uri, linked, l) {
		s.Facts = append(s.Facts, cardFact{Name: f.Title, Value: f.Value})
	}
	var parts []string
	if lines := m.TaskLines(); len(lines) > 0 {
		parts = append(parts, "**Failed tasks**")
		for _, line := range lines {
			parts = append(parts, "• "+markdown(line, l.task))
		}
	}
	if l.details > 0 {
		if d := markdown(m.Details, l.details); d != "" {
			parts = append(parts, d)
		}
	}
	s.Text = strings.Join(parts, "\n\n")
	c.Sections = []section{s}
	if linked {
		c.PotentialAction = []openURI{{Type: "OpenUri", Name: "View", Targets: []target{{OS: "default", URI: uri}}}}
	}
	return c
}

// plain returns s on one line, without control characters, cut to max
// characters with "…": for the fields of a connector card that Teams shows
// as plain text.
func plain(s string, max int) string {
	return strings.TrimSpace(message.Fit(strings.TrimSpace(s), max, message.OneLine))
}
