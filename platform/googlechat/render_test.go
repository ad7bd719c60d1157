package googlechat

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/googlechat/googlechattest"
	"github.com/heraldhq/herald/platform/platformtest"
)

func TestRenderGolden(t *testing.T) {
	platformtest.GoldenRenders(t, "testdata", Render, googlechattest.Check)
}

// rendered is the part of a payload the tests read.
type rendered struct {
	Text    string `json:"text"`
	CardsV2 []struct {
		CardID string `json:"cardId"`
		Card   struct {
			Header struct {
				Title    string `json:"title"`
				Subtitle string `json:"subtitle"`
			} `json:"header"`
			Sections []struct {
				Widgets []struct {
					TextParagraph *textParagraph `json:"textParagraph"`
					DecoratedText *decoratedText `json:"decoratedText"`
					ButtonList    *buttonList    `json:"buttonList"`
				} `json:"widgets"`
			} `json:"sections"`
		} `json:"card"`
	} `json:"cardsV2"`
}

func parse(t *testing.T, payload []byte) rendered {
	t.Helper()
	r := platformtest.Parse[rendered](t, payload)
	if len(r.CardsV2) != 1 || len(r.CardsV2[0].Card.Sections) != 1 {
		t.Fatalf("want one card with one section:\n%s", payload)
	}
	return r
}

func (r rendered) title() string { return r.CardsV2[0].Card.Header.Title }

// paragraphs returns the texts of the textParagraph widgets, in order.
func (r rendered) paragraphs() []string {
	var out []string
	for _, w := range r.CardsV2[0].Card.Sections[0].Widgets {
		if w.TextParagraph != nil {
			out = append(out, w.TextParagraph.Text)
		}
	}
	return out
}

// fields returns the decoratedText widgets as "label: text".
func (r rendered) fields() []string {
	var out []string
	for _, w := range r.CardsV2[0].Card.Sections[0].Widgets {
		if w.DecoratedText != nil {
			out = append(out, w.DecoratedText.TopLabel+": "+w.DecoratedText.Text)
		}
	}
	return out
}

// buttons returns the buttons as "text -> url".
func (r rendered) buttons() []string {
	var out []string
	for _, w := range r.CardsV2[0].Card.Sections[0].Widgets {
		if w.ButtonList != nil {
			for _, b := range w.ButtonList.Buttons {
				out = append(out, b.Text+" -> "+b.OnClick.OpenLink.URL)
			}
		}
	}
	return out
}

// TestRenderShowsEverything checks SPEC §2 on the fixtures: level, title
// line (with the keyword), description, linked subject, project, actor,
// environment and stage, failed tasks, the issue's details, the View button
// and "Herald".
func TestRenderShowsEverything(t *testing.T) {
	platformtest.RenderFixtures(t, Render, func(t *testing.T, m *message.Message, payload []byte) {
		typ := m.Type
		r := parse(t, payload)
		if r.CardsV2[0].CardID != "herald" {
			t.Errorf("cardId %q", r.CardsV2[0].CardID)
		}
		if want := message.LevelEmoji(typ.Level()) + " " + m.Title; !strings.HasPrefix(r.title(), want) || message.LevelEmoji(typ.Level()) == "" {
			t.Errorf("card title %q, want it to start with the level emoji and title, %q", r.title(), want)
		}
		if m.Keyword != "" && !strings.HasSuffix(r.title(), " · "+m.Keyword) {
			t.Errorf("card title %q lacks the keyword %q", r.title(), m.Keyword)
		}
		if r.Text != m.Heading() {
			t.Errorf("text %q, want the title line %q", r.Text, m.Heading())
		}
		if r.CardsV2[0].Card.Header.Subtitle != "Payments" {
			t.Errorf("subtitle %q, want the project", r.CardsV2[0].Card.Header.Subtitle)
		}
		paragraphs := r.paragraphs()
		if d := message.FitBytes(m.Description, fullBudget.desc, escapeHTML); len(paragraphs) == 0 || paragraphs[0] != d {
			t.Errorf("first paragraph %q, want the description %q", paragraphs, d)
		}
		fields := strings.Join(r.fields(), "\n")
		subject := m.SubjectKind + `: <a href="` + m.Link + `">` + message.FitBytes(m.Subject, 1000, escapeInline) + "</a>"
		for _, want := range []string{subject, "Project: Payments", "Actor: Alice Chen", "Environment: prod"} {
			if !strings.Contains(fields, want) {
				t.Errorf("fields lack %q:\n%s", want, fields)
			}
		}
		if typ.IsPipeline() != strings.Contains(fields, "Stage: prod-eu") {
			t.Errorf("stage shown %v, want %v:\n%s", !typ.IsPipeline(), typ.IsPipeline(), fields)
		}
		all := strings.Join(paragraphs, "\n")
		if typ == herald.IssueSentBack && !strings.Contains(all, "rollback plan &amp; run it on &lt;staging&gt; first.") {
			t.Errorf("the comment is not in the description, escaped:\n%s", all)
		}
		if typ == herald.PipelineFailed {
			if n := strings.Count(all, "<br>• Migrate shard"); n != message.MaxFailedTasks {
				t.Errorf("%d failed tasks listed, want %d:\n%s", n, message.MaxFailedTasks, all)
			}
			if !strings.Contains(all, `<font color="`+colors[herald.LevelError]+`">Failed tasks</font>`) || !strings.Contains(all, "<br>• and 2 more") {
				t.Errorf("no coloured task heading or \"and 2 more\":\n%s", all)
			}
		} else if strings.Contains(all, "Failed tasks") {
			t.Errorf("failed tasks shown for %s", typ)
		}
		if typ.IsIssue() != strings.Contains(all, detailsHead+"Speeds up the nightly reconciliation report.<br>Reviewed with the DBA team.") {
			t.Errorf("issue details shown %v, want %v:\n%s", !typ.IsIssue(), typ.IsIssue(), all)
		}
		if got := paragraphs[len(paragraphs)-1]; got != "Herald · Payments" {
			t.Errorf("last paragraph %q, want the footer", got)
		}
		if got := r.buttons(); len(got) != 1 || got[0] != "View -> "+m.Link {
			t.Errorf("buttons %q, want View to %s", got, m.Link)
		}
	})
}

func TestRenderWithoutLinkOrDescription(t *testing.T) {
	m := platformtest.FixtureMessage(herald.PipelineCompleted)
	m.Link, m.Description, m.Project = "", " \n", ""
	payload, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	checkPayload(t, "no link", m, payload)
	r := parse(t, payload)
	if len(r.buttons()) != 0 || strings.Contains(string(payload), "<a href") {
		t.Errorf("a link without m.Link:\n%s", payload)
	}
	if p := r.paragraphs(); p[0] != "Herald" || len(p) != 1 {
		t.Errorf("paragraphs %q, want only the footer", p)
	}
	if strings.Contains(string(payload), `"subtitle"`) {
		t.Errorf("an empty subtitle is sent:\n%s", payload)
	}
}

func TestEscapes(t *testing.T) {
	tests := []struct {
		name, in string
		esc      func(rune) string
		max      int
		want     string
	}{
		{"html specials", `a<b>&"c'`, escapeHTML, 100, "a&lt;b&gt;&amp;&quot;c&#39;"},
		{"html tags stay text", `<b>x</b><a href="javascript:x">`, escapeHTML, 100, "&lt;b&gt;x&lt;/b&gt;&lt;a href=&quot;javascript:x&quot;&gt;"},
		{"line breaks", "a\nb\r\nc\u2028d", escapeHTML, 100, "a<br>b<br>c<br>d"},
		{"controls dropped", "a\x00b\x1bc\x7fd\te", escapeHTML, 100, "abcd e"},
		{"inline breaks", "a\nb", escapeInline, 100, "a b"},
		{"no cut entity", "abc&", escapeHTML, 7, "abc…"},
		{"no cut br", "abcd\nefgh", escapeHTML, 8, "abcd…"},
		{"chinese by bytes", "中文字符", escapeHTML, 9, "中文…"},
		{"plain", "a\nb\x00c<d>", escapePlain, 100, "a bc<d>"},
		{"chat markup", "*b* _i_ ~s~ `c` <users/all> <https://x|y>", escapeChat, 100, "∗b∗ ˍiˍ ∼s∼ ˋcˋ ‹users/all› ‹https://x|y›"},
	}
	for _, tt := range tests {
		if got := message.FitBytes(tt.in, tt.max, tt.esc); got != tt.want {
			t.Errorf("%s: FitBytes(%q, %d) = %q, want %q", tt.name, tt.in, tt.max, got, tt.want)
		}
	}
}

func TestLinkURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://console.example.com/issues/1?a=1&b=2#top", "https://console.example.com/issues/1?a=1&b=2#top"},
		{`https://x.example/a"b'c<d>e f`, "https://x.example/a%22b%27c%3Cd%3Ee%20f"},
		{"https://x.example/中文?q=%20", "https://x.example/%E4%B8%AD%E6%96%87?q=%20"},
		{"https://x.example/a`b|c{d}^\\", "https://x.example/a%60b%7Cc%7Bd%7D%5E%5C"},
		{"javascript:alert(1)", ""},
		{"ftp://x.example/", ""},
		{"/relative", ""},
		{"https:///nohost", ""},
		{"https://x.example/" + strings.Repeat("a", maxURL), ""},
		{"https://x.example/?" + strings.Repeat("&", maxURL/4), ""}, // fine raw, too long once "&" is "&amp;"
	}
	for _, tt := range tests {
		if got := linkURL(tt.in); got != tt.want {
			t.Errorf("linkURL(%.60q) = %.80q, want %.80q", tt.in, got, tt.want)
		}
	}
	if got := href("https://x.example/?a=1&b=2"); got != "https://x.example/?a=1&amp;b=2" {
		t.Errorf("href = %q", got)
	}
}

func TestRenderUnsafeLink(t *testing.T) {
	m := platformtest.FixtureMessage(herald.IssueCreated)
	m.Link = `https://console.example.com/a"><script>x</script>?q=1&r=2`
	payload, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	checkPayload(t, "unsafe link", m, payload)
	r := parse(t, payload)
	want := `<a href="https://console.example.com/a%22%3E%3Cscript%3Ex%3C/script%3E?q=1&amp;r=2">`
	if f := r.fields(); !strings.Contains(f[0], want) {
		t.Errorf("subject %q lacks %q", f[0], want)
	}
	if b := r.buttons(); len(b) != 1 || b[0] != "View -> https://console.example.com/a%22%3E%3Cscript%3Ex%3C/script%3E?q=1&r=2" {
		t.Errorf("buttons %q", b)
	}
}

// markup is text that stresses escaping and byte counting.
const markup = `<&>"'*_~` + "`|\\\n中文字符😀 "

// TestRenderLongMarkupDescriptionIsAccepted sends a 10,000-character
// description of markup and Chinese to the fake Google Chat, which enforces
// Google's limits.
func TestRenderLongMarkupDescriptionIsAccepted(t *testing.T) {
	m := platformtest.LongMessage(herald.PipelineFailed, markup)
	res, srv, hook := send(t, m, nil)
	msg := platformtest.CheckDelivered(t, res, srv, hook)
	if len(msg) > MaxBytes {
		t.Errorf("the message has %d bytes", len(msg))
	}
	checkPayload(t, "long markup", m, msg)
	desc := parse(t, msg).paragraphs()[0]
	if !strings.HasPrefix(desc, "&lt;&amp;&gt;&quot;&#39;*_~`|\\<br>中文字符😀 ") || !strings.HasSuffix(desc, message.Ellipsis) {
		t.Errorf("description %.80q… is not the escaped text cut with …", desc)
	}
}

// TestRenderShrinksToFit fills every piece to its cut with characters that
// JSON writes in two bytes, so that the first layout is over MaxBytes and
// Render must shrink it, the description first.
func TestRenderShrinksToFit(t *testing.T) {
	huge := strings.Repeat(`\`, 20000)
	m := &message.Message{
		Type: herald.PipelineFailed, Level: herald.LevelError, Title: huge, Description: huge,
		Subject: huge, SubjectKind: "Rollout", Link: "https://x.example/" + strings.Repeat("p", 3000),
		Project: huge, Actor: huge, Environment: huge, Stage: huge, Details: huge, Keyword: huge,
		MoreTasks: 10,
	}
	for range message.MaxFailedTasks {
		m.FailedTasks = append(m.FailedTasks, herald.FailedTask{Name: huge, Database: huge, Error: huge})
	}
	first, err := platform.JSON(build(m, fullBudget))
	if err != nil {
		t.Fatal(err)
	}
	if len(first) <= MaxBytes {
		t.Fatalf("the first layout has %d bytes; the test needs one over %d", len(first), MaxBytes)
	}
	payload, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	checkPayload(t, "shrunk", m, payload)
	// Each escaped byte of this text is two bytes of JSON, so the cut
	// overshoots by up to the excess; it must not do much worse.
	if excess := len(first) - MaxBytes; len(payload) < MaxBytes-2*excess-1000 {
		t.Errorf("the message has %d bytes; shrinking took far more than the %d bytes in excess", len(payload), excess)
	}
	r := parse(t, payload)
	if d := r.paragraphs()[0]; len(d) >= fullBudget.desc || !strings.HasSuffix(d, message.Ellipsis) {
		t.Errorf("the description (%d bytes) was not shrunk", len(d))
	}
	if len(r.buttons()) != 1 {
		t.Errorf("the View button was dropped although shrinking the description was enough")
	}
}

// TestRenderFloorFits checks that a message at the floor budget fits
// whatever it holds, so that Render never fails.
func TestRenderFloorFits(t *testing.T) {
	for _, fill := range []string{`\`, `"`, "\x00", "😀", "&", "\n"} {
		huge := strings.Repeat(fill, 20000)
		m := &message.Message{
			Level: herald.LevelError, Title: huge, Description: huge, Subject: huge, SubjectKind: huge,
			Link: "https://x.example/" + strings.Repeat("&", 3000), Project: huge, Actor: huge,
			Environment: huge, Stage: huge, Details: huge, Keyword: huge, MoreTasks: 1 << 30,
		}
		for range message.MaxFailedTasks {
			m.FailedTasks = append(m.FailedTasks, herald.FailedTask{Name: huge, Database: huge, Error: huge})
		}
		floor, err := platform.JSON(build(m, floorBudget))
		if err != nil {
			t.Fatal(err)
		}
		if len(floor) > MaxBytes/2 {
			t.Errorf("%q: the floor layout has %d bytes", fill, len(floor))
		}
		payload, err := Render(m)
		if err != nil {
			t.Fatalf("%q: %v", fill, err)
		}
		checkPayload(t, fmt.Sprintf("filled with %q", fill), m, payload)
	}
}

// TestRenderRandomMessages renders random messages (any Unicode, every
// platform's markup, 0–20,000-character fields, many failed tasks, long
// links) and checks them against Google's rules and Herald's promises.
func TestRenderRandomMessages(t *testing.T) {
	platformtest.RandomMessages(t, 300, platformtest.RenderAndCheck(Render, checkPayload))
}

// FuzzRender checks the same properties for texts the fuzzer chooses.
func FuzzRender(f *testing.F) {
	f.Add("Issue <created>", "a & b < c > d", "subject\"x>", "https://x.example/?a=1&b=<2>", "details\n<b>x</b>", "task: *err*", 7)
	f.Add(strings.Repeat("界", 300), strings.Repeat("&", 9000), strings.Repeat(`\`, 5000), "https://x.example/"+strings.Repeat(`"`, 3000), strings.Repeat("\n", 3000), strings.Repeat("'", 3000), 3)
	f.Add("\x00\u2028", "\x00", "\u2029", "javascript:x", "\r", "\t", 100)
	check := platformtest.RenderAndCheck(Render, checkPayload)
	platformtest.FuzzMessages(f, func(t *testing.T, name string, m *message.Message) {
		m.Type, m.Level, m.SubjectKind = herald.IssueApprovalRequested, herald.LevelWarn, "Issue"
		check(t, name, m)
	})
}

var (
	// allowedTag is every tag Herald writes into card text.
	allowedTag = regexp.MustCompile(`^(<b>|</b>|<br>|</a>|</font>|<font color="#[0-9A-F]{6}">|<a href="[^"<>\s]*">)`)
	entity     = regexp.MustCompile(`^&(amp|lt|gt|quot|#39);`)
)

// checkPayload checks what every rendered payload must satisfy: Google's
// rules (the fake's Check), valid UTF-8, at most MaxBytes, "Herald" and the
// start of the title line shown, card HTML made only of Herald's own tags
// and whole entities, and no Chat markup in the text.
func checkPayload(t *testing.T, name string, m *message.Message, payload []byte) {
	t.Helper()
	if len(payload) > MaxBytes {
		t.Errorf("%s: payload has %d bytes, more than %d", name, len(payload), MaxBytes)
	}
	if !platformtest.CheckPayload(t, name, payload, googlechattest.Check) {
		return
	}
	r := parse(t, payload)
	start := string([]rune(m.Heading())[:min(8, utf8.RuneCountInString(m.Heading()))])
	if want := message.Fit(start, 8, escapePlain); strings.TrimSpace(want) != "" && !strings.Contains(r.title(), want) {
		t.Errorf("%s: card title %q lacks the start of the title line %q", name, r.title(), want)
	}
	if strings.ContainsAny(r.Text, "*_~`<>") {
		t.Errorf("%s: text %q holds Chat markup", name, r.Text)
	}
	var html []string
	html = append(html, r.paragraphs()...)
	for _, w := range r.CardsV2[0].Card.Sections[0].Widgets {
		if w.DecoratedText != nil {
			html = append(html, w.DecoratedText.Text)
		}
	}
	for _, s := range html {
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '<':
				if !allowedTag.MatchString(s[i:]) {
					t.Errorf("%s: stray markup at %q", name, message.Truncate(s[i:], 30))
					return
				}
			case '&':
				if !entity.MatchString(s[i:]) {
					t.Errorf("%s: a cut or missing escape at %q", name, message.Truncate(s[i:], 12))
					return
				}
			case '>', '"', '\'':
				if !insideTag(s, i) {
					t.Errorf("%s: unescaped %q at %q", name, s[i], message.Truncate(s[max(0, i-20):], 40))
					return
				}
			}
		}
	}
}

// insideTag reports whether s[i] belongs to a tag: the last "<" before it
// comes after the last ">" before it, or s[i] is that tag's ">".
func insideTag(s string, i int) bool {
	open := strings.LastIndexByte(s[:i], '<')
	return open >= 0 && strings.LastIndexByte(s[:i], '>') < open
}
