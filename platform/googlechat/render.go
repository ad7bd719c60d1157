package googlechat

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// MaxBytes is Google Chat's limit on a whole message, text and cards
// (platforms.md F2). Herald counts the JSON it sends, which is never
// smaller than what Google measures.
const MaxBytes = 32000

// Herald's cuts. Text that Chat shows in one line (the title, the
// notification text) is cut in characters; the long pieces are cut in bytes
// of escaped text, because the limit that matters for them is MaxBytes.
const (
	cardID      = "herald"
	maxText     = 200  // characters of the notification text
	maxTitle    = 200  // characters of the card title and subtitle
	maxLabel    = 100  // characters of a field label
	maxFooter   = 300  // bytes of the footer line
	maxURL      = 3500 // bytes of a link once encoded for href; longer links are left out
	detailsHead = "<b>Details</b><br>"
)

// budget is how many bytes of escaped text each long piece may take. Render
// starts with fullBudget and shrinks it, description first, until the
// message fits MaxBytes.
type budget struct {
	desc, details, value, task int
	links                      bool
}

var (
	fullBudget = budget{desc: 8000, details: 1500, value: 1000, task: 600, links: true}
	// floorBudget is the least Render keeps: the description, every field
	// and every task line stay visible, if short. At the floor a message is
	// well under MaxBytes whatever it holds (see TestRenderFloorFits).
	floorBudget = budget{desc: 500, details: 0, value: 100, task: 100, links: false}
)

// shrink returns a smaller budget for a message excess bytes too large,
// taking from the description, then the details, the field values, the
// task lines, and at last the links; false when nothing is left to take.
func (b budget) shrink(excess int) (budget, bool) {
	cut := excess + 64 // a little more, so that one more round is rarely needed
	switch {
	case b.desc > floorBudget.desc:
		b.desc = max(floorBudget.desc, b.desc-cut)
	case b.details > floorBudget.details:
		b.details = max(floorBudget.details, b.details-cut)
	case b.value > floorBudget.value:
		b.value = max(floorBudget.value, b.value-(cut+4)/5) // five fields at most
	case b.task > floorBudget.task:
		b.task = max(floorBudget.task, b.task-(cut+5)/6) // six lines at most
	case b.links:
		b.links = false
	default:
		return b, false
	}
	return b, true
}

// payload is a Chat message with one card. Struct types (not maps) keep
// the field order, and so the bytes, stable.
type payload struct {
	Text    string       `json:"text"`
	CardsV2 []cardWithID `json:"cardsV2"`
}

type cardWithID struct {
	CardID string `json:"cardId"`
	Card   card   `json:"card"`
}

type card struct {
	Header   header    `json:"header"`
	Sections []section `json:"sections"`
}

type header struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle,omitempty"`
}

type section struct {
	Widgets []widget `json:"widgets"`
}

// widget holds exactly one of its kinds.
type widget struct {
	TextParagraph *textParagraph `json:"textParagraph,omitempty"`
	DecoratedText *decoratedText `json:"decoratedText,omitempty"`
	ButtonList    *buttonList    `json:"buttonList,omitempty"`
}

type textParagraph struct {
	Text string `json:"text"`
}

type decoratedText struct {
	TopLabel string `json:"topLabel"`
	Text     string `json:"text"`
	WrapText bool   `json:"wrapText"`
}

type buttonList struct {
	Buttons []button `json:"buttons"`
}

type button struct {
	Text    string  `json:"text"`
	OnClick onClick `json:"onClick"`
}

type onClick struct {
	OpenLink openLink `json:"openLink"`
}

type openLink struct {
	URL string `json:"url"`
}

// The level's emoji (message.LevelEmoji) shows the level in the card title
// and colors tints the heading of the failed tasks (SPEC §2). Card headers
// are plain text, so the emoji is what every client shows.
var colors = map[herald.Level]string{
	herald.LevelInfo:    "#1A73E8",
	herald.LevelWarn:    "#F9AB00",
	herald.LevelError:   "#D93025",
	herald.LevelSuccess: "#1E8E3E",
}

// Render returns the Google Chat message of m: a short notification "text"
// (the title line) and one card whose header carries the level emoji, the
// title line and the project, and whose widgets show the description, the
// facts (the subject linked to m.Link), the failed tasks, the issue's
// details, a "View" button and the "Herald" footer.
//
// User text is HTML-escaped in the card (Chat renders a subset of HTML
// there) and defused in "text" (Chat markup has no escape, so its markup
// characters become look-alikes); every piece is cut with "…", the
// description and details first, so that the whole message stays within
// MaxBytes whatever m holds. A link that is not an absolute http(s) URL or
// is longer than Herald's cut is left out rather than rejected. The output
// is valid UTF-8 JSON and depends only on m.
func Render(m *message.Message) ([]byte, error) {
	b := fullBudget
	for {
		data, err := platform.JSON(build(m, b))
		if err != nil {
			return nil, err
		}
		if len(data) <= MaxBytes {
			return data, nil
		}
		next, ok := b.shrink(len(data) - MaxBytes)
		if !ok {
			return nil, fmt.Errorf("the Google Chat message has %d bytes at its shortest, more than %d", len(data), MaxBytes)
		}
		b = next
	}
}

// build lays out the message within budget b.
func build(m *message.Message, b budget) payload {
	link := ""
	if b.links {
		link = linkURL(m.Link)
	}
	var ws []widget
	if strings.TrimSpace(m.Description) != "" {
		ws = appendParagraph(ws, message.FitBytes(m.Description, b.desc, escapeHTML))
	}
	for _, f := range m.Fields() {
		if w, ok := field(f, link, b.value); ok {
			ws = append(ws, w)
		}
	}
	if lines := m.TaskLines(); len(lines) > 0 {
		ws = appendParagraph(ws, tasks(lines, m.Level, b.task))
	}
	if strings.TrimSpace(m.Details) != "" && b.details > len(detailsHead) {
		if d := message.FitBytes(m.Details, b.details-len(detailsHead), escapeHTML); d != "" {
			ws = appendParagraph(ws, detailsHead+d)
		}
	}
	if link != "" {
		ws = append(ws, widget{ButtonList: &buttonList{Buttons: []button{{Text: "View", OnClick: onClick{OpenLink: openLink{URL: link}}}}}})
	}
	ws = appendParagraph(ws, message.FitBytes(m.Footer(), maxFooter, escapeHTML))

	heading := message.Fit(m.Heading(), maxTitle, escapePlain)
	if strings.TrimSpace(heading) == "" {
		heading = message.Brand
	}
	title := heading
	if e := message.LevelEmoji(m.Level); e != "" {
		title = e + " " + heading
	}
	text := message.Fit(m.Heading(), maxText, escapeChat)
	if strings.TrimSpace(text) == "" {
		text = message.Brand
	}
	return payload{
		Text: text,
		CardsV2: []cardWithID{{CardID: cardID, Card: card{
			Header:   header{Title: title, Subtitle: message.Fit(m.Project, maxTitle, escapePlain)},
			Sections: []section{{Widgets: ws}},
		}}},
	}
}

// appendParagraph adds a textParagraph unless its text is empty, which
// Chat refuses (text made only of control characters escapes to nothing).
func appendParagraph(ws []widget, text string) []widget {
	if text == "" {
		return ws
	}
	return append(ws, widget{TextParagraph: &textParagraph{Text: text}})
}

// field renders one fact as a decoratedText: the label above, the value
// (linked to link when the fact has a URL) below, wrapped rather than cut
// off by the client.
func field(f message.Field, link string, room int) (widget, bool) {
	value := message.FitBytes(f.Value, room, escapeInline)
	if value == "" {
		return widget{}, false
	}
	if f.URL != "" && link != "" {
		value = `<a href="` + href(link) + `">` + value + "</a>"
	}
	return widget{DecoratedText: &decoratedText{
		TopLabel: message.Fit(f.Label, maxLabel, escapePlain),
		Text:     value,
		WrapText: true,
	}}, true
}

// tasks renders the failed-task lines as a bulleted list under a heading in
// the level colour. Each line has its own share, so "and N more" always
// shows.
func tasks(lines []string, level herald.Level, room int) string {
	var b strings.Builder
	head := "<b>Failed tasks</b>"
	if c := colors[level]; c != "" {
		head = `<b><font color="` + c + `">Failed tasks</font></b>`
	}
	b.WriteString(head)
	for _, l := range lines {
		b.WriteString("<br>• ")
		b.WriteString(message.FitBytes(l, room, escapeInline))
	}
	return b.String()
}

// linkURL returns link made safe to stand in JSON and, once href escapes
// its "&", in an HTML attribute: characters that could end the attribute
// or the tag, spaces, controls and non-ASCII bytes are percent-encoded
// (existing escapes are kept). It returns "" for a link that is not an
// absolute http(s) URL or is too long for Herald's cut.
func linkURL(link string) string {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	target := message.PercentEncode(link, func(c byte) bool {
		return c <= ' ' || c >= 0x7f || strings.IndexByte(`"'<>\^`+"`{|}", c) >= 0
	})
	if len(href(target)) > maxURL {
		return ""
	}
	return target
}

// href is a linkURL inside href="…": its "&" must be an entity there.
func href(link string) string { return strings.ReplaceAll(link, "&", "&amp;") }

// escapeHTML writes one character of card text, whose HTML subset
// (<b>, <i>, <a href>, <br>, <font color>) must not be triggered by user
// text: the five HTML specials become entities and line breaks become
// <br>. Other control characters are dropped, so that no character costs
// more bytes in JSON than in the text (a backslash excepted).
func escapeHTML(r rune) string {
	switch r {
	case '\n', '\u2028', '\u2029':
		return "<br>"
	}
	return escapeInline(r)
}

// escapeInline is escapeHTML for one-line text (field values, task lines),
// where a line break becomes a space.
func escapeInline(r rune) string {
	switch r {
	case '&', '<', '>':
		return message.EscapeHTML(r)
	case '"':
		return "&quot;"
	case '\'':
		return "&#39;"
	}
	return escapePlain(r)
}

// escapePlain writes one character of plain text (the card header, a
// label): line breaks and tabs become spaces and other control characters
// are dropped, because Chat shows these in one line.
func escapePlain(r rune) string {
	switch {
	case r == '\n' || r == '\t' || r == '\u2028' || r == '\u2029':
		return " "
	case r < 0x20 || r == 0x7f:
		return ""
	}
	return string(r)
}

// chatLookalikes replace the characters of Chat's text markup (*bold*,
// _italic_, ~strike~, `code`, <url|label>, <users/all>), which has no
// escape, with characters that look alike but mean nothing to Chat.
var chatLookalikes = map[rune]string{
	'*': "∗", // U+2217 ASTERISK OPERATOR
	'_': "ˍ", // U+02CD MODIFIER LETTER LOW MACRON
	'~': "∼", // U+223C TILDE OPERATOR
	'`': "ˋ", // U+02CB MODIFIER LETTER GRAVE ACCENT
	'<': "‹", // U+2039 SINGLE LEFT-POINTING ANGLE QUOTATION MARK
	'>': "›", // U+203A SINGLE RIGHT-POINTING ANGLE QUOTATION MARK
}

// escapeChat writes one character of the message's "text", in Chat markup.
func escapeChat(r rune) string {
	if s, ok := chatLookalikes[r]; ok {
		return s
	}
	return escapePlain(r)
}
