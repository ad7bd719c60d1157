package feishu

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// Size limits. The custom bot refuses bodies over 20 KB with code 9499
// (platforms.md E1); Herald keeps the unsigned body within MaxBody so that
// the timestamp and sign Send adds (about 80 bytes) still leave a margin
// under either reading of "20 KB". The other cuts are Herald's, chosen so
// that the card stays readable and, with the description and details cut
// to their floors, always fits.
const (
	// MaxBody is the most bytes Render returns.
	MaxBody = 19000

	maxHeading     = 200  // characters of the header title
	maxFooter      = 300  // characters of the note
	maxDetailsText = 500  // characters of the issue's own description
	maxURL         = 3000 // bytes; a longer link is shown unlinked, without a button
	maxLabel       = 40   // characters of a field label

	// Byte budgets of lark_md text after escaping, before the card is
	// measured; shrink lowers them when the whole body is too big.
	descriptionBudget = 8000
	detailsBudget     = 2000
	fieldBudget       = 1000
	taskBudget        = 600

	// Floors shrink never goes below (zero drops the piece).
	descriptionFloor = 1000
	lastDescription  = 100
	taskFloor        = 100
	fieldFloor       = 100
)

// InteractiveCard is a Feishu/Lark message card (msg_type "interactive"):
// the "card" object of a custom-bot webhook body, and, JSON-encoded into a
// string, the "content" of an im/v1/messages request. Its fields are in a
// fixed order, so the same message always gives the same bytes.
type InteractiveCard struct {
	Config   CardConfig    `json:"config"`
	Header   CardHeader    `json:"header"`
	Elements []CardElement `json:"elements"`
}

// CardConfig holds the card's display settings.
type CardConfig struct {
	// WideScreenMode lets the card use the full width of a desktop chat.
	WideScreenMode bool `json:"wide_screen_mode"`
}

// CardHeader is the coloured title bar of a card.
type CardHeader struct {
	Title CardText `json:"title"`
	// Template is the header colour: blue, orange, red, green, ….
	Template string `json:"template"`
}

// CardText is a text element: Tag "plain_text" shows Content as it is,
// "lark_md" interprets Feishu's Markdown subset.
type CardText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

// CardField is one cell of a div's fields; short fields sit two per row.
type CardField struct {
	IsShort bool     `json:"is_short"`
	Text    CardText `json:"text"`
}

// CardButton is a button of an action element. Webhook cards can only open
// URLs (platforms.md E1), so it always has one.
type CardButton struct {
	Tag  string   `json:"tag"`
	Text CardText `json:"text"`
	// Type is the button style: default, primary or danger.
	Type string `json:"type"`
	URL  string `json:"url"`
}

// CardElement is one element of a card body; each Tag uses some fields:
// "div" Text and Fields, "action" Actions, "note" Elements, "hr" none.
type CardElement struct {
	Tag      string       `json:"tag"`
	Text     *CardText    `json:"text,omitempty"`
	Fields   []CardField  `json:"fields,omitempty"`
	Actions  []CardButton `json:"actions,omitempty"`
	Elements []CardText   `json:"elements,omitempty"`
}

// envelope is a custom-bot request body. Timestamp and Sign are set by Send
// when the webhook has a signing secret, and left out otherwise.
type envelope struct {
	Timestamp string           `json:"timestamp,omitempty"`
	Sign      string           `json:"sign,omitempty"`
	MsgType   string           `json:"msg_type"`
	Card      *InteractiveCard `json:"card"`
}

// templates show the level (SPEC §2), with message.LevelEmoji; the
// colours are the ones Feishu's card guide gives for info, warning, error
// and success.
var templates = map[herald.Level]string{
	herald.LevelInfo:    "blue",
	herald.LevelWarn:    "orange",
	herald.LevelError:   "red",
	herald.LevelSuccess: "green",
}

// Card returns the interactive card of m: a header with the level emoji
// and colour and m.Heading() (the keyword, if any, is kept whole when the
// title is cut); the description; the facts as short fields, the subject
// linked to m.Link; the failed tasks; the issue's own description; a
// "View" button to m.Link; and a note with m.Footer(), which starts with
// "Herald". User text is escaped for lark_md and cut with "…" so that the
// webhook body Render makes of it holds at most MaxBody bytes, whatever m
// holds. It depends only on m.
func Card(m *message.Message) InteractiveCard {
	return fitCard(m, MaxBody, func(c *InteractiveCard) int {
		return len(encode(envelope{MsgType: "interactive", Card: c}))
	})
}

// fitCard returns the card of m, its text cut until size says that what
// carries the card (a webhook body, an im/v1/messages body) holds at most
// maxSize bytes, or until nothing is left to cut.
func fitCard(m *message.Message, maxSize int, size func(*InteractiveCard) int) InteractiveCard {
	b := budget{description: descriptionBudget, details: detailsBudget, field: fieldBudget, task: taskBudget}
	for {
		c, used := build(m, b)
		over := size(&c) - maxSize
		if over <= 0 || !b.shrink(used, over) {
			return c
		}
	}
}

// Render returns the unsigned custom-bot body of m:
// {"msg_type":"interactive","card":Card(m)}, at most MaxBody bytes of valid
// UTF-8 JSON. Send adds "timestamp" and "sign" when the webhook is signed.
func Render(m *message.Message) ([]byte, error) {
	c := Card(m)
	return encode(envelope{MsgType: "interactive", Card: &c}), nil
}

// encode writes v with platform.JSON; the card types cannot fail to
// encode.
func encode(v any) []byte {
	b, err := platform.JSON(v)
	if err != nil {
		panic("feishu: encoding a card: " + err.Error())
	}
	return b
}

// budget is how many bytes of escaped lark_md each cut piece may have.
type budget struct {
	description, details, field, task int
}

// shrink lowers the budgets after a card came out over bytes too big,
// starting from what the pieces actually used: the description first (to
// its floor), then the issue details (to nothing), then failed tasks and
// fields, then the description again. It reports false when nothing is
// left to cut.
func (b *budget) shrink(used budget, over int) bool {
	cut := func(v *int, used, floor int) bool {
		if *v = min(*v, used); *v <= floor {
			*v = max(*v, floor)
			return false
		}
		*v = max(floor, *v-over)
		return true
	}
	return cut(&b.description, used.description, descriptionFloor) ||
		cut(&b.details, used.details, 0) ||
		cut(&b.task, used.task, taskFloor) ||
		cut(&b.field, used.field, fieldFloor) ||
		cut(&b.description, used.description, lastDescription)
}

// build makes the card of m within b and returns the bytes each kind of
// piece used (the longest field and task line).
func build(m *message.Message, b budget) (InteractiveCard, budget) {
	var used budget
	link := linkable(m.Link)
	c := InteractiveCard{
		Config: CardConfig{WideScreenMode: true},
		Header: CardHeader{
			Title:    CardText{Tag: "plain_text", Content: heading(m)},
			Template: templates[level(m)],
		},
	}
	add := func(e CardElement) { c.Elements = append(c.Elements, e) }

	// Text that is blank once escaped (only control characters) is left
	// out: Feishu refuses an empty text.
	if d := message.FitBytes(m.Description, b.description, escape); strings.TrimSpace(d) != "" {
		used.description = len(d)
		add(CardElement{Tag: "div", Text: larkMD(d)})
	}
	var fields []CardField
	for _, f := range m.Fields() {
		head := "**" + message.Fit(f.Label, maxLabel, escapeInline) + "**\n"
		value := message.FitBytes(f.Value, b.field, escapeInline)
		used.field = max(used.field, len(value))
		if f.URL != "" && link != "" {
			value = "[" + value + "](" + linkTarget(link) + ")"
		}
		fields = append(fields, CardField{IsShort: true, Text: CardText{Tag: "lark_md", Content: head + value}})
	}
	if len(fields) > 0 {
		add(CardElement{Tag: "div", Fields: fields})
	}
	if lines := m.TaskLines(); len(lines) > 0 {
		var s strings.Builder
		s.WriteString("**Failed tasks**")
		for _, l := range lines {
			l = message.FitBytes(l, b.task, escapeInline)
			used.task = max(used.task, len(l))
			s.WriteString("\n• " + l)
		}
		add(CardElement{Tag: "div", Text: larkMD(s.String())})
	}
	if b.details > 0 {
		d := message.FitBytes(message.Truncate(strings.TrimSpace(m.Details), maxDetailsText), b.details, escape)
		if strings.TrimSpace(d) != "" {
			used.details = len(d)
			add(CardElement{Tag: "div", Text: larkMD("**Details**\n" + d)})
		}
	}
	if link != "" {
		add(CardElement{Tag: "action", Actions: []CardButton{{
			Tag: "button", Text: CardText{Tag: "plain_text", Content: "View"}, Type: "primary", URL: link,
		}}})
	}
	add(CardElement{Tag: "note", Elements: []CardText{{Tag: "plain_text", Content: message.Fit(m.Footer(), maxFooter, plain)}}})
	return c, used
}

// level is m's level, or INFO for a level Herald does not know, so that
// the header always has a colour and an emoji.
func level(m *message.Message) herald.Level {
	if _, ok := templates[m.Level]; ok {
		return m.Level
	}
	return herald.LevelInfo
}

func larkMD(s string) *CardText { return &CardText{Tag: "lark_md", Content: s} }

// heading is the header title: the level emoji and m.Heading(), cut to
// maxHeading characters. When it must be cut, the title is cut and the
// keyword kept whole, because keyword security needs all of it.
func heading(m *message.Message) string {
	prefix := message.LevelEmoji(level(m)) + " "
	room := maxHeading - utf8.RuneCountInString(prefix)
	full := message.Fit(m.Heading(), room, plain)
	if m.Keyword == "" || utf8.RuneCountInString(m.Heading()) <= room {
		return prefix + full
	}
	kw := " · " + message.Fit(m.Keyword, room, plain)
	titleRoom := room - utf8.RuneCountInString(kw)
	if titleRoom < 2 { // a keyword this long cannot stay whole: cut it all
		return prefix + full
	}
	return prefix + message.Fit(m.Title, titleRoom, plain) + kw
}

// linkable returns link when cards can open it — an absolute http or https
// URL of at most maxURL bytes (Feishu only follows those) — else "".
func linkable(link string) string {
	if link == "" || len(link) > maxURL || !utf8.ValidString(link) {
		return ""
	}
	u, err := url.Parse(link)
	if err != nil || u.Host == "" || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return ""
	}
	return link
}

// linkTarget makes a URL safe inside a lark_md link "[label](url)": every
// character that could end the link or open markup (parentheses, brackets,
// angle brackets, quotes, backslashes, spaces, controls, non-ASCII) is
// percent-encoded. Characters a URL needs (:/?#&=%…) stay, so the link
// still leads to the same place.
func linkTarget(link string) string {
	return message.PercentEncode(link, func(c byte) bool {
		return c <= ' ' || c >= 0x7f || strings.IndexByte("()[]<>\"'\\`{}|^", c) >= 0
	})
}

// escape writes one character of user text inside lark_md. Feishu's card
// guide says characters its Markdown would interpret must be written as
// HTML entities ("&#NN;"); lark_md interprets * _ ~ (emphasis and
// strikethrough), [ ] ( ) (links), < > (<at id=all>, <a>, <font>,
// <text_tag>), : (":EMOJI_KEY:"), ` and \. "&" is escaped too, so that
// user text cannot spell an entity that would turn back into markup.
// Control characters, which a card cannot show, are dropped; line breaks
// stay.
func escape(r rune) string {
	switch r {
	case '&', '<', '>', '*', '_', '~', '`', '[', ']', '(', ')', '\\', ':':
		return "&#" + strconv.Itoa(int(r)) + ";"
	case '\n':
		return "\n"
	case '\t':
		return " "
	}
	return plain(r)
}

// escapeInline is escape for one-line pieces (field values, task lines),
// where a line break would split the fact from its label.
func escapeInline(r rune) string {
	if r == '\n' {
		return " "
	}
	return escape(r)
}

// plain writes one character of plain_text, which is shown as it is: the
// header and the note are one line, so line and paragraph separators
// become spaces as line breaks do (message.OneLine).
func plain(r rune) string {
	if r == '\u2028' || r == '\u2029' {
		return " "
	}
	return message.OneLine(r)
}
