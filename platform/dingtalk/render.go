package dingtalk

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// DingTalk does not document its size limits (platforms.md D1, H). Robots
// have been seen answering 460101 "message too long, exceed 20000 bytes", so
// Herald keeps the whole body within MaxBody and, for margin, the markdown
// text within MaxText bytes and the title within MaxTitle characters.
const (
	MaxBody  = 20000 // bytes of the JSON body
	MaxText  = 18000 // bytes of markdown.text
	MaxTitle = 128   // characters (runes) of markdown.title
)

// MaxMentions is how many recipients one message @-mentions. DingTalk
// documents no cap on atMobiles; past a handful of names a group message
// that pings everyone is noise (the people themselves get direct messages),
// and the cap bounds the size of the mention line.
const MaxMentions = 20

// Herald's cuts of each piece of the text, in bytes of markdown after
// escaping (details: characters). With every piece full they add up to
// about 16,700 bytes, below MaxText less the longest mention line.
type sizes struct {
	headTitle, description, label, value, task, details, footer int
}

var full = sizes{
	headTitle:   400,
	description: 4000,
	label:       50,
	value:       600,
	task:        400,
	details:     500, // characters, as SPEC §2 suggests for the issue description
	footer:      300,
}

// half returns s with every cut halved; Render uses it when JSON escaping
// (a text full of quotes) makes the body longer than MaxBody.
func (s sizes) half() sizes {
	return sizes{
		headTitle: s.headTitle / 2, description: s.description / 2, label: s.label / 2, value: s.value / 2,
		task: s.task / 2, details: s.details / 2, footer: s.footer / 2,
	}
}

// Cuts that never shrink: the keyword must survive whole for keyword
// security, and a link is either whole or left out.
const (
	maxKeyword      = 200  // bytes, in the text's heading line
	maxTitleKeyword = 60   // characters, in the title
	maxURL          = 2000 // bytes of a percent-encoded link; longer links are not linked
	maxShrink       = 6    // halvings before Render stops shrinking
)

// payload is a custom-robot markdown message. Struct types keep the field
// order, and so the bytes, stable.
type payload struct {
	MsgType  string   `json:"msgtype"`
	Markdown markdown `json:"markdown"`
	At       at       `json:"at"`
}

type markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

type at struct {
	AtMobiles []string `json:"atMobiles"`
	IsAtAll   bool     `json:"isAtAll"`
}

// Markdown returns the title and the DingTalk markdown text of m, without
// mentions: the form a one-to-one "sampleMarkdown" message takes too.
//
// The title is m.Heading() as plain text (no markup, one line), at most
// MaxTitle characters, the keyword kept whole when it has at most 60. The
// text holds a heading with the level emoji, the description, the facts
// (the subject linked to m.Link), the failed tasks, the details
// quoted, a [View](link) line and the footer naming Herald; it is at most
// MaxText bytes. Every piece of user text is neutralised so that it cannot
// make a link, a heading, a list, a quote, emphasis or HTML, and cut with
// "…". Links other than http(s), or longer than 2000 bytes once encoded, are
// left out. The result is valid UTF-8 and depends only on m.
func Markdown(m *message.Message) (title, text string) {
	s := full
	for range maxShrink {
		title, text = compose(m, s, "")
		if len(text) <= MaxText {
			break
		}
		s = s.half()
	}
	return title, text
}

// Render returns the custom-robot JSON of m: msgtype "markdown", the title
// and text of Markdown, and "at" naming the DingTalk mobiles of up to
// MaxMentions recipients, each also written as "@mobile" in the text,
// without which DingTalk does not notify them. isAtAll is always false.
// The body is at most MaxBody bytes, whatever m holds.
func Render(m *message.Message) ([]byte, error) {
	mobiles := Mobiles(m.Recipients)
	line := ""
	if len(mobiles) > 0 {
		line = "@" + strings.Join(mobiles, " @")
	}
	s := full
	for i := 0; ; i++ {
		title, text := compose(m, s, line)
		body, err := platform.JSON(payload{
			MsgType:  "markdown",
			Markdown: markdown{Title: title, Text: text},
			At:       at{AtMobiles: mobiles, IsAtAll: false},
		})
		if err != nil || (len(body) <= MaxBody && len(text) <= MaxText) || i == maxShrink {
			return body, err
		}
		s = s.half()
	}
}

// compose builds the title and the text with the cuts of s; mentions, when
// set, is a line placed just before the footer.
func compose(m *message.Message, s sizes, mentions string) (title, text string) {
	var parts []string
	// The level shows as its emoji (SPEC §2): DingTalk markdown has no
	// colours for robots beyond <font>, which not every client renders.
	head := "### " + message.LevelEmoji(m.Level) + " " + fitLine(m.Title, s.headTitle)
	if m.Keyword != "" {
		head += " · " + fitLine(m.Keyword, maxKeyword)
	}
	parts = append(parts, head)
	if d := fitBlock(m.Description, s.description, escapeParagraph); d != "" {
		parts = append(parts, d)
	}
	link, linked := linkTarget(m.Link)
	var facts []string
	for _, f := range m.Fields() {
		value := fitLine(f.Value, s.value)
		if f.URL != "" && linked {
			if value == "" {
				value = "link"
			}
			value = "[" + value + "](" + link + ")"
		}
		label := fitLine(f.Label, s.label)
		if label == "" {
			label = "Subject" // "****" would be a rule, not a label
		}
		facts = append(facts, "**"+label+"**: "+value)
	}
	if len(facts) > 0 {
		parts = append(parts, strings.Join(facts, "  \n"))
	}
	if lines := m.TaskLines(); len(lines) > 0 {
		items := make([]string, len(lines))
		for i, l := range lines {
			items[i] = "- " + fitBlock(l, s.task, escapeLine)
		}
		parts = append(parts, "**Failed tasks**", strings.Join(items, "\n"))
	}
	if d := strings.TrimSpace(m.Details); d != "" {
		parts = append(parts, "> "+message.Fit(neutralise(d, true), s.details, escapeQuoted))
	}
	if linked {
		parts = append(parts, "[View]("+link+")")
	}
	if mentions != "" {
		parts = append(parts, mentions)
	}
	parts = append(parts, message.FitBytes(neutralise(m.Footer(), true), s.footer, escapeLine))
	return plainTitle(m), strings.Join(parts, "\n\n")
}

// fitLine is one-line user text inside a line of markup.
func fitLine(s string, max int) string {
	return message.FitBytes(neutralise(strings.TrimSpace(s), false), max, escapeLine)
}

// fitBlock is user text that starts a block of its own.
func fitBlock(s string, max int, esc func(rune) string) string {
	return message.FitBytes(neutralise(strings.TrimSpace(s), true), max, esc)
}

// plainTitle is the notification title: plain text on one line, the
// keyword kept whole (keyword security may look for it there).
func plainTitle(m *message.Message) string {
	t := plain(m.Title)
	if t == "" {
		t = message.Brand
	}
	if m.Keyword == "" {
		return message.Truncate(t, MaxTitle)
	}
	kw := " · " + message.Truncate(plain(m.Keyword), maxTitleKeyword)
	return message.Truncate(t, MaxTitle-utf8.RuneCountInString(kw)) + kw
}

// plain makes s one line of printable text.
func plain(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case invisible(r):
		default:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// invisible reports characters that are dropped from user text: control
// characters, and the bidirectional overrides and isolates, which can make
// text read differently from what it says.
func invisible(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\ufeff'
}

// DingTalk markdown has no escape character (its documented subset is
// headings, quotes, bold and italic with *, links, images, lists and
// <font>), so characters that could start markup are replaced by
// look-alikes that it shows as text.
var (
	// inline are replaced wherever they are: emphasis, code, links and
	// images, HTML, strikethrough, and the backslash that could escape
	// Herald's own markup around the text.
	inline = map[rune]rune{
		'*': '∗', '`': 'ˋ', '[': '［', ']': '］', '<': '＜', '~': '～', '\\': '＼',
	}
	// lineStart are replaced at the start of a line: headings, quotes,
	// lists, rules and setext underlines.
	lineStart = map[rune]rune{
		'#': '＃', '>': '＞', '-': '－', '+': '＋', '=': '＝',
	}
	// listMarks are replaced after the number that starts a line ("1. ").
	listMarks = map[rune]rune{'.': '．', ')': '）'}
)

// neutralise returns s with its markup replaced (see inline and lineStart),
// "_" replaced where it could delimit emphasis (not inside a word such as
// ledger_entries), leading blanks of lines dropped (they would make code
// blocks), an ordered-list marker "1. " disarmed, line ends normalised to
// "\n", and invisible characters dropped. It maps text to text; the
// escapers given to message.Fit then decide what a line end becomes.
// atLineStart says whether s starts a line (or a list item, or a quote).
func neutralise(s string, atLineStart bool) string {
	rs := []rune(strings.ToValidUTF8(s, "\uFFFD"))
	var b strings.Builder
	start := atLineStart
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\r' && i+1 < len(rs) && rs[i+1] == '\n':
			continue
		case r == '\r' || r == '\u2028' || r == '\u2029':
			r = '\n'
		case r == '\t':
			r = ' '
		}
		if r == '\n' {
			b.WriteByte('\n')
			start = true
			continue
		}
		if invisible(r) || (start && r == ' ') {
			continue
		}
		if start {
			start = false
			if lr, ok := lineStart[r]; ok {
				b.WriteRune(lr)
				continue
			}
			if j := digitsEnd(rs, i); j > i && j < len(rs) && (rs[j] == '.' || rs[j] == ')') && (j+1 == len(rs) || strings.ContainsRune(" \t\r\n", rs[j+1])) {
				b.WriteString(string(rs[i:j]))
				b.WriteRune(listMarks[rs[j]])
				i = j
				continue
			}
		}
		if lr, ok := inline[r]; ok {
			b.WriteRune(lr)
			continue
		}
		if r == '_' && !(i > 0 && wordChar(rs[i-1]) && i+1 < len(rs) && wordChar(rs[i+1])) {
			b.WriteRune('＿')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func digitsEnd(rs []rune, i int) int {
	for i < len(rs) && rs[i] >= '0' && rs[i] <= '9' {
		i++
	}
	return i
}

func wordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// The escapers turn a line end of user text into DingTalk markdown: a
// space where the text sits inside one line, a hard break ("  \n", as
// DingTalk's documentation advises) in a paragraph, and a hard break that
// continues the quote in the details.
func escapeLine(r rune) string {
	if r == '\n' {
		return " "
	}
	return string(r)
}

func escapeParagraph(r rune) string {
	if r == '\n' {
		return "  \n"
	}
	return string(r)
}

func escapeQuoted(r rune) string {
	if r == '\n' {
		return "  \n> "
	}
	return string(r)
}

// linkTarget returns link made safe inside "(…)" of a markdown link, and
// whether it may be linked at all: only http and https links of at most
// maxURL bytes once encoded. Every byte outside the URL characters that
// cannot close or break the link is percent-encoded, so "(", ")", spaces,
// brackets, quotes and line ends never reach the markup.
func linkTarget(link string) (string, bool) {
	lower := strings.ToLower(link)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return "", false
	}
	if len(link) > maxURL { // longer still once encoded
		return "", false
	}
	target := message.PercentEncode(link, func(c byte) bool { return !urlSafe(c) })
	if len(target) > maxURL {
		return "", false
	}
	return target, true
}

func urlSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#@!$&'*+,;=%", c) >= 0
}

// e164 is the form the API accepts for a phone (event.go).
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Mobile returns the form DingTalk knows a phone by, for at.atMobiles and
// the "@mobile" text: a mainland China number (+86) as its national number
// ("+8613800138000" → "13800138000"), any other as "+<country code>-<number>"
// ("+85212345678" → "+852-12345678"), the form DingTalk stores for
// numbers outside the mainland. A phone of digits only is taken as given.
// It reports false for anything else, which cannot be mentioned.
func Mobile(phone string) (string, bool) {
	if phone != "" && strings.Trim(phone, "0123456789") == "" {
		return phone, true
	}
	if !e164.MatchString(phone) {
		return "", false
	}
	digits := phone[1:]
	n := countryCodeLen(digits)
	if digits[:n] == "86" {
		return digits[n:], true
	}
	return "+" + digits[:n] + "-" + digits[n:], true
}

// countryCodeLen returns the length of the ITU country calling code that
// starts digits. The codes are a prefix code: 1 and 7 are one digit, the
// two-digit ones are listed, every other is three digits.
func countryCodeLen(digits string) int {
	switch digits[0] {
	case '1', '7':
		return 1
	}
	if strings.Contains(twoDigitCodes, " "+digits[:2]+" ") {
		return 2
	}
	return 3
}

const twoDigitCodes = " 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 "

// Mobiles returns the DingTalk mobiles (see Mobile) of users who have a
// usable phone, without duplicates, in order, at most MaxMentions.
func Mobiles(users []herald.User) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, u := range users {
		mobile, ok := Mobile(u.Phone)
		if !ok || seen[mobile] {
			continue
		}
		seen[mobile] = true
		out = append(out, mobile)
		if len(out) == MaxMentions {
			break
		}
	}
	return out
}
