package teams

import (
	"net/url"
	"strings"
	"unicode"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// maxPayload is Herald's budget for a whole request body, in bytes of JSON:
// Teams refuses messages over about 28 KB (platforms.md C1), and the
// budget leaves room for what Teams adds around the card.
const maxPayload = 27000

// maxLink is the longest link, once made safe (see linkTarget), that a
// message carries; a longer one is left out rather than risk the card.
const maxLink = 4000

// maxLabel is the cut of a fact's label, which Herald writes itself.
const maxLabel = 100

// limits are the cuts, in characters after escaping, of each piece of a
// message.
type limits struct {
	heading, description, fact, task, details, footer int
}

// levels are the cuts tried in turn until the payload fits maxPayload: the
// description and the issue details shrink first, then everything. The
// last level fits whatever the message holds: its text is at most about
// 1,100 characters of at most 6 bytes of JSON each ("\u2028"), plus two
// links of at most maxLink bytes, about 16 KB in all.
var levels = []limits{
	{heading: 200, description: 3000, fact: 1000, task: 500, details: 1000, footer: 300},
	{heading: 200, description: 1000, fact: 1000, task: 500, details: 300, footer: 300},
	{heading: 200, description: 300, fact: 300, task: 200, details: 0, footer: 300},
	{heading: 100, description: 100, fact: 60, task: 60, details: 0, footer: 100},
}

// fitPayload builds the payload of each level in turn and returns the first
// whose JSON (of wrap's result) fits maxPayload, or the last.
func fitPayload[T any](build func(limits) T, wrap func(T) any) (T, []byte, error) {
	var (
		v   T
		b   []byte
		err error
	)
	for _, l := range levels {
		v = build(l)
		if b, err = platform.JSON(wrap(v)); err != nil || len(b) <= maxPayload {
			break
		}
	}
	return v, b, err
}

// withEmoji puts the level's emoji before s, which shows the level
// (SPEC §2) in the title of both formats.
func withEmoji(l herald.Level, s string) string {
	if e := message.LevelEmoji(l); e != "" {
		return e + " " + s
	}
	return s
}

// heading returns the title line escaped and cut, or "Herald" when the
// title is blank: a card needs text there.
func heading(m *message.Message, l limits) string {
	if h := markdown(m.Heading(), l.heading); h != "" {
		return h
	}
	return message.Brand
}

// markdown returns s escaped for the markdown subset of Adaptive Card
// TextBlocks and facts (and of connector-card text), cut to max characters
// with "…" after escaping, with surrounding white space removed first. It
// is "" when nothing visible is left.
func markdown(s string, max int) string {
	out := message.Fit(strings.TrimSpace(s), max, newEscaper().escape)
	if strings.TrimSpace(out) == "" {
		return ""
	}
	return out
}

// escaper writes text so that Teams shows it as it is. Teams renders a
// subset of CommonMark in TextBlocks and facts — bold, italic, lists and
// links (cards-format.md) — and decodes entities; HTML is not rendered in
// Adaptive Cards but is in connector cards. So, as Sentry's Teams
// integration does, &, < and > become entities, which also defeats
// autolinks; the characters of emphasis and links and the backslash get a
// CommonMark backslash escape, which current Teams clients honour
// (microsoft/Teams-AdaptiveCards-Mobile#83); and a list marker at the start
// of a line ("- ", "+ ", "1. ") is escaped so that it stays text. Only
// these are escaped, because a client that ignores an escape shows the
// backslash.
//
// A line break needs a blank line in Teams markdown, so "\n" becomes
// "\n\n"; "\r" and other control characters are dropped.
//
// An escaper keeps the state of the line it is in: use a new one for each
// text, and give it the characters in order (message.Fit does).
type escaper struct {
	lineStart bool // only blanks since the start of the line
	digits    bool // only blanks and then digits since the start of the line
}

func newEscaper() *escaper { return &escaper{lineStart: true} }

func (e *escaper) escape(r rune) string {
	lineStart, digits := e.lineStart, e.digits
	e.lineStart, e.digits = false, false
	switch {
	case r == '\n':
		e.lineStart = true
		return "\n\n"
	case r == ' ' || r == '\t':
		e.lineStart = lineStart // a list marker may be indented
		return string(r)
	case r >= '0' && r <= '9':
		e.digits = lineStart || digits
		return string(r)
	case unicode.IsControl(r):
		e.lineStart, e.digits = lineStart, digits
		return ""
	}
	switch r {
	case '&', '<', '>':
		return message.EscapeHTML(r)
	case '\\', '*', '_', '[', ']', '`':
		return `\` + string(r)
	case '-', '+':
		if lineStart {
			return `\` + string(r)
		}
	case '.', ')':
		if digits {
			return `\` + string(r)
		}
	}
	return string(r)
}

// linkTarget returns raw as a link Teams can follow from a markdown link
// and an OpenUrl action, or false when raw is not an absolute http(s) URL
// or is longer than maxLink once made safe. The characters that would end
// a markdown link destination or are not allowed in a URI (blanks,
// controls, parentheses, <, >, quotes, backslashes) and every non-ASCII
// byte are percent-encoded, so the link is as many bytes in JSON as it has
// characters.
func linkTarget(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	target := message.PercentEncode(raw, func(c byte) bool {
		return c <= ' ' || c >= 0x7f || strings.IndexByte("()<>\"'\\^`{|}", c) >= 0
	})
	if len(target) > maxLink {
		return "", false
	}
	return target, true
}

// link returns the markdown link to target labelled with label, escaped
// and cut to max characters.
func link(label, target string, max int) string {
	text := markdown(label, max)
	if text == "" {
		return ""
	}
	return "[" + text + "](" + target + ")"
}
