package discord

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// Embed limits (platforms.md B, "Embed Limits"), in characters (runes),
// and the cuts Herald makes within them.
const (
	maxTitle       = 256
	maxDescription = 4096
	maxFields      = 25
	maxFieldName   = 256
	maxFieldValue  = 1024
	maxFooter      = 2048
	maxTotal       = 6000 // title, description, field names and values, footer: all embeds together
	// maxURL is the longest link Herald puts in an embed. Discord documents
	// no limit for embed URLs; 2048 is the one its other URL fields have
	// (UNVERIFIED for embeds): a longer link is left out, not cut.
	maxURL = 2048

	maxDetails     = 1000 // Herald's cut of the quoted issue description
	minDescription = 1024 // the description keeps this much (or all it has) when fields and footer are long
	minLabel       = 20   // the shortest link label worth linking a field with
	maxInline      = 40   // fields with values up to this long sit side by side
)

// payload is an execute-webhook body. Struct types (not maps) keep the
// field order, and so the bytes, stable.
type payload struct {
	Embeds          []embed         `json:"embeds"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
}

// allowedMentions with an empty parse list lets no text in the message ping
// anyone: "@everyone" or "<@id>" in user content stays text.
type allowedMentions struct {
	Parse []string `json:"parse"`
}

type embed struct {
	Title       string  `json:"title"`
	URL         string  `json:"url,omitempty"`
	Description string  `json:"description,omitempty"`
	Color       int     `json:"color"`
	Fields      []field `json:"fields,omitempty"`
	Footer      footer  `json:"footer"`
}

type field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type footer struct {
	Text string `json:"text"`
}

// colors show the level (SPEC §2), with message.LevelEmoji; they are
// Slack's, so a level looks the same on both.
var colors = map[herald.Level]int{
	herald.LevelInfo:    0x439FE0,
	herald.LevelWarn:    0xF2C744,
	herald.LevelError:   0xE01E5A,
	herald.LevelSuccess: 0x2EB67D,
}

// Render returns the execute-webhook JSON of m: one embed in the level
// colour whose title is the level emoji and the heading, linked to m.Link;
// whose description holds the description, the details as a
// quote, the failed tasks and a "View" link; whose fields are the message's
// facts (the subject as a [label](link)); and whose footer names Herald and
// the project. allowed_mentions is empty, so nothing in the message pings
// anyone.
//
// User text is escaped for Discord markdown and cut with "…" so that every
// embed limit holds, and the sum of all counted texts stays within 6000
// characters: when fields and footer are long, the description is shrunk
// first, but keeps at least 1024 characters. A link that is not http(s) or
// is longer than 2048 characters is left out rather than rejected. The
// output is valid UTF-8 and depends only on m.
func Render(m *message.Message) ([]byte, error) {
	link := linkTarget(m.Link)
	prefix := message.LevelEmoji(m.Level) + " "
	title := prefix + fitText(m.Heading(), maxTitle-runes(prefix), true)

	facts := m.Fields()
	facts = facts[:min(len(facts), maxFields)]
	names := make([]string, len(facts))
	wants := make([]int, len(facts)+1) // the values', then the footer's
	used := runes(title)
	for i, f := range facts {
		names[i] = fitText(f.Label, maxFieldName, true)
		wants[i] = min(runes(fieldValue(f, math.MaxInt)), maxFieldValue)
		used += runes(names[i])
	}
	wants[len(facts)] = min(runes(message.Fit(clip(m.Footer()), math.MaxInt, plain)), maxFooter)
	floor := min(runes(description(m, link, maxDescription)), minDescription)
	caps := fair(wants, maxTotal-used-floor)

	e := embed{Title: title, Color: colors[m.Level], URL: link}
	for i, f := range facts {
		v := fieldValue(f, caps[i])
		if trim(v) == "" {
			continue // Discord requires a value; a blank one would be refused
		}
		e.Fields = append(e.Fields, field{Name: names[i], Value: v, Inline: runes(f.Value) <= maxInline})
	}
	e.Footer.Text = message.Fit(clip(m.Footer()), caps[len(facts)], plain)
	e.Description = description(m, link, min(maxDescription, maxTotal-size(e)))

	return platform.JSON(payload{Embeds: []embed{e}, AllowedMentions: allowedMentions{Parse: []string{}}})
}

// size is what Discord counts of an embed towards the 6000 characters.
// Discord trims each text first; counting untrimmed text can only
// overcount.
func size(e embed) int {
	n := runes(e.Title) + runes(e.Description) + runes(e.Footer.Text)
	for _, f := range e.Fields {
		n += runes(f.Name) + runes(f.Value)
	}
	return n
}

// fieldValue renders one fact in at most limit characters: the value, as a
// [label](link) when it has a link and the label keeps all its characters,
// or at least minLabel of them, next to it.
func fieldValue(f message.Field, limit int) string {
	if target := linkTarget(f.URL); target != "" {
		end := "](" + target + ")"
		// Discord will not mask a link whose label looks like a URL.
		text := strings.ReplaceAll(clip(f.Value), "://", "：//")
		room, need := limit-1-runes(end), runes(message.Fit(text, math.MaxInt, label))
		if room >= min(need, minLabel) && need > 0 {
			return "[" + message.Fit(text, room, label) + end
		}
	}
	return fitText(f.Value, limit, false)
}

// description joins, within limit characters, the parts of the embed's
// description: the message's description, the details as a quote,
// the failed tasks, and the "View" link. The link is kept whole when it
// fits; the other parts share what is left fairly (see fair), so a short
// part is never cut because another is long.
func description(m *message.Message, link string, limit int) string {
	const sep = "\n\n"
	view := ""
	if link != "" {
		view = "[View](" + link + ")"
		if runes(view) > limit {
			view = ""
		}
	}
	lines := m.TaskLines()
	parts := []func(int) string{
		func(n int) string { return fitText(m.Description, n, false) },
		func(n int) string { return quote(m.Details, n) },
		func(n int) string { return tasks(lines, n) },
	}
	wants := make([]int, len(parts))
	present := 0
	for i, part := range parts {
		if wants[i] = runes(part(maxDescription)); wants[i] > 0 {
			present++
		}
	}
	if view != "" {
		present++
	}
	room := limit - runes(view) - len(sep)*max(present-1, 0)
	var out []string
	for i, n := range fair(wants, room) {
		if s := parts[i](n); trim(s) != "" {
			out = append(out, s)
		}
	}
	if view != "" {
		out = append(out, view)
	}
	return strings.Join(out, sep)
}

// quote renders the details as a block quote of at most
// min(limit, maxDetails) characters; blank details give "".
func quote(details string, limit int) string {
	if trim(details) == "" || limit < 3 {
		return ""
	}
	body := clip(strings.TrimSpace(details))
	esc := newEscaper(body, false)
	return "> " + message.Fit(body, min(limit, maxDetails)-2, func(r rune) string {
		if r == '\n' {
			esc('\n') // the next line starts a line too
			return "\n> "
		}
		return esc(r)
	})
}

// tasks renders the failed-task lines as a list under a bold heading in at
// most limit characters, sharing the room fairly among the lines so that a
// short "and N more" always shows.
func tasks(lines []string, limit int) string {
	const head, bullet = "**Failed tasks**", "\n• "
	room := limit - runes(head) - len(lines)*runes(bullet)
	if len(lines) == 0 || room < len(lines) {
		return ""
	}
	wants := make([]int, len(lines))
	for i, l := range lines {
		wants[i] = runes(fitText(l, math.MaxInt, true))
	}
	var b strings.Builder
	b.WriteString(head)
	for i, n := range fair(wants, room) {
		b.WriteString(bullet)
		b.WriteString(fitText(lines[i], n, true))
	}
	return b.String()
}

// fair shares budget characters among texts that want the given lengths:
// each gets what it wants when that is no more than an equal share, and
// what the short ones leave is shared among the long ones. The results add
// up to at most budget (none is negative).
func fair(wants []int, budget int) []int {
	out := make([]int, len(wants))
	order := make([]int, len(wants))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return wants[a] - wants[b] })
	left := max(budget, 0)
	for k, i := range order {
		out[i] = min(wants[i], left/(len(order)-k))
		left -= out[i]
	}
	return out
}

// linkTarget returns raw as it can stand in an embed's url and inside the
// parentheses of [label](url): an absolute http(s) URL whose spaces,
// controls, quotes, backslashes, brackets and parentheses are
// percent-encoded, so none of them can end the link early. It returns ""
// for anything else, or when the result is longer than maxURL.
func linkTarget(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(raw, "\uFFFD") {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`()[]<>"'\`+"`", r) {
			for _, c := range []byte(string(r)) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
			continue
		}
		b.WriteRune(r)
	}
	if runes(b.String()) > maxURL {
		return ""
	}
	return b.String()
}

// fullWidth are the stand-ins for characters that would end or format a
// link label. Discord shows backslash escapes literally inside labels, so
// a label cannot be escaped: these characters are swapped for their
// full-width forms, which read the same.
var fullWidth = map[rune]string{
	'[': "［", ']': "］", '\\': "＼", '*': "＊", '_': "＿", '~': "～",
	'`': "｀", '|': "｜", '<': "＜", '>': "＞",
}

// label writes one character of a link label (see linkLabel).
func label(r rune) string {
	if s, ok := fullWidth[r]; ok {
		return s
	}
	return plain(r)
}

// plain writes one character of text that Discord does not render as
// markdown (the footer): controls are dropped and line breaks become
// spaces.
var plain = message.OneLine

// Characters that start or end Discord markdown; Discord drops a backslash
// before any of them. The inline ones mean something anywhere: emphasis,
// code, spoilers, masked links, and the <…> of mentions, emoji and
// timestamps. The line ones only at the start of a line (after spaces):
// quotes, headings, subtext and lists; elsewhere they stay unescaped, so
// that "ledger-eu-1" reads as it is in the delivery log.
const (
	inlineMarkup = "\\*_~`|<[]()"
	lineMarkup   = "#->+"
)

// bareURL is a URL Discord links by itself. Its characters are left as
// they are, so that the link still works; it ends before characters that
// could start markup of ours.
var bareURL = regexp.MustCompile(`https?://[^\s\p{Cc}<>\[\]()"'\\` + "`" + `]*[^\s\p{Cc}<>\[\]()"'\\` + "`" + `.,:;!?*_~|]`)

// newEscaper returns the esc for message.Fit of text s: it puts a
// backslash before every markdown character (and before the "." of a
// numbered list), leaves bare URLs alone, and drops control characters. It
// keeps state — where it is in s — so it serves one Fit of s only. With
// oneLine, line breaks become spaces (titles, names, list items).
func newEscaper(s string, oneLine bool) func(rune) string {
	// Which characters are in a bare URL, counted as Fit counts them: one
	// per rune, and one per byte of invalid UTF-8.
	var inURL []bool
	spans := bareURL.FindAllStringIndex(s, -1)
	for at := range s {
		for len(spans) > 0 && at >= spans[0][1] {
			spans = spans[1:]
		}
		inURL = append(inURL, len(spans) > 0 && at >= spans[0][0])
	}
	i := -1
	atStart, digits := true, false // only spaces since the line began; a number began it
	return func(r rune) string {
		i++
		start, numbered := atStart, digits && r == '.'
		atStart = r == '\n' || (atStart && (r == ' ' || r == '\t'))
		digits = (start || digits) && r >= '0' && r <= '9'
		if i < len(inURL) && inURL[i] {
			return string(r)
		}
		switch {
		case r == '\n' && !oneLine:
			return "\n"
		case r == '\n' || r == '\t':
			return " "
		case unicode.IsControl(r):
			return ""
		case numbered, strings.ContainsRune(inlineMarkup, r), start && strings.ContainsRune(lineMarkup, r):
			return `\` + string(r)
		}
		return string(r)
	}
}

// fitText returns user text s escaped for Discord markdown (see newEscaper)
// and cut to at most n characters with "…".
func fitText(s string, n int, oneLine bool) string {
	s = clip(s)
	return message.Fit(s, n, newEscaper(s, oneLine))
}

// maxInput is how much of any one text Herald reads: more than the largest
// embed text, so that cutting first changes nothing Discord would show,
// and escaping a 20,000-character text several times stays cheap.
const maxInput = maxDescription + 64

// clip returns the first maxInput characters of s.
func clip(s string) string {
	n := 0
	for i := range s {
		if n == maxInput {
			return s[:i]
		}
		n++
	}
	return s
}

// trim removes what Discord trims before it counts or requires a text: the
// white space of Python's str.strip, which includes U+001C–U+001F.
func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

func runes(s string) int { return utf8.RuneCountInString(s) }
