package message

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Ellipsis marks text that was cut.
const Ellipsis = "…"

// Truncate cuts s to at most max characters (runes), the last of them "…"
// when it was cut.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + Ellipsis
		}
		n++
	}
	return s
}

// TruncateBytes cuts s to at most max bytes of UTF-8, never inside a
// character, ending it with "…" when it was cut.
func TruncateBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(Ellipsis)
	if cut < 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Ellipsis
}

// Fit returns s with each character written by esc (the platform's
// escaping; nil writes it as is), when the result has at most max
// characters. Otherwise it returns the longest such prefix that leaves room
// for Ellipsis, then Ellipsis: the limit holds after escaping and no escape
// sequence is ever split. Invalid UTF-8 becomes U+FFFD.
func Fit(s string, max int, esc func(rune) string) string {
	return fit(s, max, esc, utf8.RuneCountInString)
}

// FitBytes is Fit for limits counted in bytes of UTF-8.
func FitBytes(s string, max int, esc func(rune) string) string {
	return fit(s, max, esc, func(s string) int { return len(s) })
}

func fit(s string, max int, esc func(rune) string, size func(string) int) string {
	if max <= 0 {
		return ""
	}
	room := max - size(Ellipsis)
	var b strings.Builder
	n, keep := 0, 0 // size written; bytes of the longest prefix that leaves room for the ellipsis
	for _, r := range s {
		e := string(r)
		if esc != nil {
			e = esc(r)
		}
		n += size(e)
		if n > max {
			if room < 0 {
				return ""
			}
			return b.String()[:keep] + Ellipsis
		}
		b.WriteString(e)
		if n <= room {
			keep = b.Len()
		}
	}
	return b.String()
}

// EscapeHTML writes one character for a markup that reads &, < and > as
// HTML (Slack mrkdwn, Teams and Google Chat card text): those three become
// entities, every other character stays as it is. It is an esc for Fit, so
// an entity is never cut.
func EscapeHTML(r rune) string {
	switch r {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return string(r)
}

// OneLine writes one character of plain text that is shown on one line:
// line breaks and tabs become spaces, and other control characters, which
// no platform shows, are dropped. It is an esc for Fit.
func OneLine(r rune) string {
	switch {
	case r == '\n' || r == '\t':
		return " "
	case unicode.IsControl(r):
		return ""
	}
	return string(r)
}

// PercentEncode returns s with every byte that escape reports written as
// %XX (upper-case hex): how a platform makes a link safe inside its markup
// without changing where it leads.
func PercentEncode(s string, escape func(c byte) bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if escape(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
