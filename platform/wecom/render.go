package wecom

import (
	"net/url"
	"strings"
	"unicode"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// MaxContentBytes is WeCom's limit on markdown content, in bytes of UTF-8
// (platforms.md F1). Markdown never exceeds it.
const MaxContentBytes = 4096

// Herald's cuts within MaxContentBytes, in bytes. The fixed parts are
// budgeted first: the heading and the footer (together at most about 720
// bytes) always, the View link when it leaves minRest for the rest. The
// other parts are then given what is left, in order of importance
// (description, facts, failed tasks, issue details), each within its own
// cap; in the usual message everything fits whole.
const (
	maxHeading     = 384  // the title and keyword, escaped
	maxKeyword     = 128  // the keyword's share of maxHeading
	maxFooter      = 256  // "Herald · project", escaped
	maxLinkURL     = 2048 // a longer link is not linked at all: a cut URL points nowhere
	maxDescription = 1024
	maxFact        = 256 // each fact's value or link label
	maxTaskLine    = 256
	maxDetails     = 768
	// maxInput is how much of a text is prepared at all: far more than any
	// part can show, so that a huge field costs no more than a long one.
	maxInput = 16 << 10
	// minRest is what the View link must leave for the other parts.
	minRest = 1024
	// minPiece is the shortest cut text worth showing; a part that would be
	// cut shorter is left out rather than shown as a stub.
	minPiece = 24
)

// fallbackTitle stands in for a title that is empty once neutralised, so
// that the bold heading is never "** **", which WeCom shows literally.
const fallbackTitle = message.Brand

// colors show the level with its emoji (message.LevelEmoji): WeCom
// markdown has only three colours, info (green), warning (orange-red) and
// comment (grey), so ERROR shares warning with WARN and the emoji tells
// them apart.
var colors = map[herald.Level]string{
	herald.LevelInfo:    "comment",
	herald.LevelWarn:    "warning",
	herald.LevelError:   "warning",
	herald.LevelSuccess: "info",
}

// style returns the colour and emoji of level l, those of INFO for a
// level Herald does not know.
func style(l herald.Level) (color, emoji string) {
	if _, ok := colors[l]; !ok {
		l = herald.LevelInfo
	}
	return colors[l], message.LevelEmoji(l)
}

// payload is a group-robot markdown message. Struct types keep the field
// order, and so the bytes, stable.
type payload struct {
	MsgType  string   `json:"msgtype"`
	Markdown markdown `json:"markdown"`
}

type markdown struct {
	Content string `json:"content"`
}

// Render returns the group-robot JSON of m:
// {"msgtype":"markdown","markdown":{"content": Markdown(m)}}. It is valid
// UTF-8, depends only on m, and its content is at most MaxContentBytes.
func Render(m *message.Message) ([]byte, error) {
	return platform.JSON(payload{MsgType: "markdown", Markdown: markdown{Content: Markdown(m)}})
}

// Markdown returns m as WeCom markdown content of at most MaxContentBytes
// bytes of UTF-8, one line per part:
//
//	<font color="warning">**⚠️ Approval requested · deploy-bot**</font>
//	description
//	**Issue:** [subject](link)
//	**Project:** … **Actor:** … **Environment:** … **Stage:** …
//	**Failed tasks:** then "• task" lines, "• and N more"
//	> issue details
//	[View](link)
//	<font color="comment">Herald · project</font>
//
// The level shows as an emoji and a colour: SUCCESS info (green), WARN and
// ERROR warning (orange-red), INFO comment (grey). The heading and the
// footer (so "Herald") are always there; long parts are cut with "…", and
// in a message too long for the limit the issue details, then failed tasks,
// then facts go first. User text can never form markup (see neutral).
//
// Self-built app messages (message/send, direct messages) take the same
// markdown in half the room: AppMarkdown.
func Markdown(m *message.Message) string { return render(m, MaxContentBytes) }

// render lays m out within limit bytes. The heading and the footer take
// at most about 720 bytes, so any limit above that holds; the View link is
// left out when it would leave less than minRest for the rest.
func render(m *message.Message, limit int) string {
	color, emoji := style(m.Level)
	b := &budget{left: limit + 1} // the last line has no newline

	head := b.take(`<font color="` + color + `">**` + emoji + " " + headingText(m) + "**</font>")
	foot := b.take(`<font color="comment">` + footerText(m) + "</font>")
	var view string
	target, linkable := linkTarget(m.Link)
	if v := "[View](" + target + ")"; linkable && len(v)+1 <= b.left-minRest {
		view = b.take(v)
	}

	desc := b.line("", block(m.Description), "", maxDescription, neutral)
	var facts []string
	for i, f := range m.Fields() {
		label := "**" + message.FitBytes(inline(f.Label), 64, neutral) + ":** "
		if i == 0 && linkable && f.URL != "" {
			// The subject, linked when both its label and the URL fit.
			if l := b.line(label+"[", inline(f.Value), "]("+target+")", maxFact, neutral); l != "" {
				facts = append(facts, l)
				continue
			}
		}
		if l := b.line(label, inline(f.Value), "", maxFact, neutral); l != "" {
			facts = append(facts, l)
		}
	}
	tasks := failedTasks(b, m)
	details := b.line("> ", block(m.Details), "", maxDetails, quoted)

	lines := []string{head, desc}
	lines = append(lines, facts...)
	lines = append(lines, tasks...)
	lines = append(lines, details, view, foot)
	var out strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		if out.Len() > 0 {
			out.WriteByte('\n')
		}
		out.WriteString(l)
	}
	return out.String()
}

// footerText is m.Footer() with the project neutralised and cut: "Herald"
// always, then " · project" when the project shows anything.
func footerText(m *message.Message) string {
	if p := message.FitBytes(inline(m.Project), maxFooter, neutral); p != "" {
		return message.Brand + " · " + p
	}
	return message.Brand
}

// headingText is the title line's text: the title, then " · keyword" when
// the webhook has one. The title is cut first so that the keyword, which
// the webhook needs in every message, survives a long title.
func headingText(m *message.Message) string {
	var kw string
	if k := message.FitBytes(inline(m.Keyword), maxKeyword, neutral); k != "" {
		kw = " · " + k
	}
	title := message.FitBytes(inline(m.Title), maxHeading-len(kw), neutral)
	if title == "" {
		title = fallbackTitle
	}
	return title + kw
}

// failedTasks renders the failed-task lines under a header. "and N more"
// is budgeted before the tasks, so that it shows whenever any task does.
func failedTasks(b *budget, m *message.Message) []string {
	lines := m.TaskLines()
	if len(lines) == 0 {
		return nil
	}
	const header, bullet = "**Failed tasks:**", "• "
	more := ""
	if m.MoreTasks > 0 {
		more, lines = bullet+lines[len(lines)-1], lines[:len(lines)-1]
	}
	if b.left < len(header)+1+len(more)+1+len(bullet)+minPiece+1 {
		return nil
	}
	out := []string{b.take(header)}
	if more != "" {
		b.take(more)
	}
	for _, l := range lines {
		if s := b.line(bullet, inline(l), "", maxTaskLine, neutral); s != "" {
			out = append(out, s)
		}
	}
	if more != "" {
		out = append(out, more)
	}
	return out
}

// budget counts the bytes left for lines, each with its newline.
type budget struct{ left int }

// take spends the bytes of a line Herald itself writes, whose size is
// bounded, and returns it.
func (b *budget) take(line string) string {
	b.left -= len(line) + 1
	return line
}

// line returns prefix + text + suffix, text written by esc and cut with "…"
// to at most max bytes or to what the budget has left, and spends it. It
// returns "" (and spends nothing) when text is empty or would have to be
// cut to fewer than minPiece bytes.
func (b *budget) line(prefix, text, suffix string, max int, esc func(rune) string) string {
	if text == "" {
		return ""
	}
	fixed := len(prefix) + len(suffix) + 1
	s := message.FitBytes(text, max, esc)
	if fixed+len(s) > b.left {
		room := b.left - fixed
		if room < minPiece {
			return ""
		}
		s = message.FitBytes(text, room, esc)
	}
	if s == "" {
		return ""
	}
	return b.take(prefix + s + suffix)
}

// Neutralising user text.
//
// WeCom markdown has no documented escape: a backslash is not documented
// to escape anything and HTML entities are not documented to be decoded,
// so neither can be relied on to show a character literally. Instead, each
// character that WeCom markdown (or the CommonMark rules its parser is
// likely to follow) could read as markup is replaced by its full-width form,
// which looks alike and means nothing: < > (so no <font> or <@userid> tag,
// and no quote), * (bold, italic), ` (code), [ ] (links), \ (which might
// otherwise escape Herald's own markup, such as the "]" ending a link
// label), & (in case entities are decoded into tags), # at the start of a
// line (headings) and _ at a word boundary (emphasis; an underscore inside
// a word, as in ledger_entries, is never emphasis and stays). Control
// characters are dropped, and line breaks become spaces except in the
// description and the issue details.

// fullWidth maps the markup characters to their full-width look-alikes.
var fullWidth = map[rune]string{
	'<': "＜", '>': "＞", '*': "＊", '`': "｀", '[': "［", ']': "］", '\\': "＼", '&': "＆",
}

// neutral writes one character of prepared user text (see inline and
// block).
func neutral(r rune) string {
	if s, ok := fullWidth[r]; ok {
		return s
	}
	switch r {
	case '\n':
		return "\n"
	case '\t', '\u2028', '\u2029':
		return " "
	}
	if unicode.IsControl(r) {
		return ""
	}
	return string(r)
}

// quoted is neutral inside a "> " quote, which every line must continue.
func quoted(r rune) string {
	if r == '\n' {
		return "\n> "
	}
	return neutral(r)
}

// inline prepares user text for one line: line breaks and tabs become
// spaces, other control characters go, and the ends are trimmed (a space
// before a closing "**" would undo the bold); boundary underscores are
// neutralised.
func inline(s string) string {
	s = strings.ReplaceAll(message.TruncateBytes(s, maxInput), "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\v' || r == '\f':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return underscores(strings.TrimSpace(s))
}

// block prepares user text of several lines: line breaks are normalised to
// "\n", other control characters but tabs go, the ends are trimmed, and "#"
// at the start of a line (a heading) and boundary underscores are
// neutralised.
func block(s string) string {
	s = strings.ReplaceAll(message.TruncateBytes(s, maxInput), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	var b strings.Builder
	lineStart := true
	for _, r := range s {
		switch {
		case r == '\n':
			lineStart = true
		case lineStart && r == '#':
			b.WriteString("＃")
			continue
		case lineStart && (r == ' ' || r == '\t'):
		default:
			lineStart = false
		}
		b.WriteRune(r)
	}
	return underscores(b.String())
}

// underscores replaces every "_" that is not between two letters or digits
// with "＿": only such underscores can open or close emphasis.
func underscores(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if r == '_' && !(i > 0 && wordRune(rs[i-1]) && i+1 < len(rs) && wordRune(rs[i+1])) {
			b.WriteString("＿")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// linkTarget returns link made safe inside "(…)" of a markdown link, and
// whether it may be linked at all: only http and https links of at most
// maxLinkURL bytes are. Every byte outside the URL characters that cannot
// end or escape the link (letters, digits and -._~:/?#@!$&'+,;=%) is
// percent-encoded, so "(", ")", spaces, "<", "*", "[", "]", "\" and
// non-ASCII characters cannot break the markup; the URL still points to the
// same place.
func linkTarget(link string) (string, bool) {
	link = strings.TrimSpace(link)
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	s := message.PercentEncode(link, func(c byte) bool { return !urlSafe(c) })
	if len(s) > maxLinkURL {
		return "", false
	}
	return s, true
}

func urlSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#@!$&'+,;=%", c) >= 0
}
