package feishu

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform/feishu/feishutest"
	"github.com/heraldhq/herald/platform/platformtest"
)

func TestRenderGolden(t *testing.T) {
	platformtest.GoldenRenders(t, "testdata", Render, feishutest.Check)
}

// rendered is the part of a payload the tests read.
type rendered struct {
	MsgType   string          `json:"msg_type"`
	Timestamp string          `json:"timestamp"`
	Sign      string          `json:"sign"`
	Card      InteractiveCard `json:"card"`
}

func parse(t testing.TB, payload []byte) rendered {
	t.Helper()
	return platformtest.Parse[rendered](t, payload)
}

// texts returns the lark_md and plain texts of the card by where they are:
// "header", "div" (div texts), "field", "button", "url", "note".
func (r rendered) texts() map[string][]string {
	out := map[string][]string{"header": {r.Card.Header.Title.Content}}
	for _, e := range r.Card.Elements {
		if e.Text != nil {
			out[e.Tag] = append(out[e.Tag], e.Text.Content)
		}
		for _, f := range e.Fields {
			out["field"] = append(out["field"], f.Text.Content)
		}
		for _, b := range e.Actions {
			out["button"] = append(out["button"], b.Text.Content)
			out["url"] = append(out["url"], b.URL)
		}
		for _, n := range e.Elements {
			out["note"] = append(out["note"], n.Content)
		}
	}
	return out
}

// TestRenderShowsEverything checks SPEC §2 on the fixtures: level, title,
// description, linked subject, project, actor, environment and stage,
// failed tasks, the issue's details, the View button and "Herald".
func TestRenderShowsEverything(t *testing.T) {
	platformtest.RenderFixtures(t, Render, func(t *testing.T, m *message.Message, payload []byte) {
		typ := m.Type
		r := parse(t, payload)
		texts := r.texts()
		if r.MsgType != "interactive" || r.Timestamp != "" || r.Sign != "" {
			t.Errorf("msg_type %q, timestamp %q, sign %q: want an unsigned interactive message", r.MsgType, r.Timestamp, r.Sign)
		}
		if !r.Card.Config.WideScreenMode {
			t.Error("wide_screen_mode is off")
		}
		if got, want := r.Card.Header.Template, templates[typ.Level()]; got != want || want == "" {
			t.Errorf("template %q, want %q", got, want)
		}
		if got, want := r.Card.Header.Title, (CardText{Tag: "plain_text", Content: message.LevelEmoji(typ.Level()) + " " + m.Heading()}); got != want {
			t.Errorf("header title %+v, want %+v", got, want)
		}
		if m.Keyword != "" && !strings.HasSuffix(texts["header"][0], " · "+m.Keyword) {
			t.Errorf("header %q lacks the keyword", texts["header"][0])
		}
		divs := strings.Join(texts["div"], "\n")
		if d := message.Fit(m.Description, 1000, escape); !strings.Contains(divs, d) {
			t.Errorf("divs lack the description %q:\n%s", d, divs)
		}
		fields := strings.Join(texts["field"], "\n")
		subject := "**" + m.SubjectKind + "**\n[" + message.Fit(m.Subject, 1000, escape) + "](" + m.Link + ")"
		for _, want := range []string{subject, "**Project**\nPayments", "**Actor**\nAlice Chen", "**Environment**\nprod"} {
			if !strings.Contains(fields, want) {
				t.Errorf("fields lack %q:\n%s", want, fields)
			}
		}
		if typ.IsPipeline() != strings.Contains(fields, "**Stage**\nprod-eu") {
			t.Errorf("stage shown %v, want %v:\n%s", !typ.IsPipeline(), typ.IsPipeline(), fields)
		}
		if typ == herald.IssueSentBack && !strings.Contains(divs, "rollback plan &#38; run it on &#60;staging&#62; first") {
			t.Errorf("the comment is not in the description, escaped:\n%s", divs)
		}
		if typ == herald.PipelineFailed {
			if n := strings.Count(divs, "\n• Migrate shard"); n != message.MaxFailedTasks {
				t.Errorf("%d failed tasks listed, want %d:\n%s", n, message.MaxFailedTasks, divs)
			}
			if !strings.Contains(divs, "**Failed tasks**\n") || !strings.Contains(divs, "\n• and 2 more") {
				t.Errorf("no failed-task heading or \"and 2 more\":\n%s", divs)
			}
		}
		if hasDetails := strings.Contains(divs, "**Details**\nSpeeds up the nightly reconciliation report.\nReviewed with the DBA team."); hasDetails != !typ.IsPipeline() {
			t.Errorf("details shown %v, want %v:\n%s", hasDetails, !typ.IsPipeline(), divs)
		}
		if got := texts["note"]; len(got) != 1 || got[0] != "Herald · Payments" {
			t.Errorf("note %q, want Herald and the project", got)
		}
		if got := texts["button"]; len(got) != 1 || got[0] != "View" || texts["url"][0] != m.Link {
			t.Errorf("buttons %q to %q, want one View button to %s", got, texts["url"], m.Link)
		}
		if c := Card(m); !reflectEqualJSON(t, c, r.Card) {
			t.Error("Card and Render disagree")
		}
	})
}

func reflectEqualJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

func TestEscape(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain words 中文", "plain words 中文"},
		{`<at user_id="all">`, `&#60;at user&#95;id="all"&#62;`},
		{"<at id=all></at>", "&#60;at id=all&#62;&#60;/at&#62;"},
		{"**bold** _it_ ~~gone~~ `code`", "&#42;&#42;bold&#42;&#42; &#95;it&#95; &#126;&#126;gone&#126;&#126; &#96;code&#96;"},
		{"[link](https://x)", "&#91;link&#93;&#40;https&#58;//x&#41;"},
		{"&#60;at id=all&#62;", "&#38;#60;at id=all&#38;#62;"},
		{":DONE: \\*", "&#58;DONE&#58; &#92;&#42;"},
		{"a\x00b\x1bc\r\nd\te", "abc\nd e"},
		{"line\u2028sep", "line sep"},
		{"\xff", "\ufffd"},
	}
	for _, tt := range tests {
		if got := message.Fit(tt.in, 1000, escape); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, want := message.Fit("a\nb", 10, escapeInline), "a b"; got != want {
		t.Errorf("escapeInline: %q, want %q", got, want)
	}
	if got, want := message.Fit("a\nb\x07c", 10, plain), "a bc"; got != want {
		t.Errorf("plain: %q, want %q", got, want)
	}
	// An entity is never cut: "&#60;" is five bytes, so at six bytes only
	// "a" and the three-byte ellipsis fit.
	if got, want := message.FitBytes("a<b", 6, escape), "a…"; got != want {
		t.Errorf("FitBytes cut an entity: %q, want %q", got, want)
	}
}

func TestLinkTarget(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://console.example.com/issues/1?a=1&b=2#x", "https://console.example.com/issues/1?a=1&b=2#x"},
		{"https://x.example/a)b(c", "https://x.example/a%29b%28c"},
		{"https://x.example/[a] <b>", "https://x.example/%5Ba%5D%20%3Cb%3E"},
		{`https://x.example/"'\` + "`", "https://x.example/%22%27%5C%60"},
		{"https://x.example/中", "https://x.example/%E4%B8%AD"},
		{"https://x.example/a\nb", "https://x.example/a%0Ab"},
	}
	for _, tt := range tests {
		if got := linkTarget(tt.in); got != tt.want {
			t.Errorf("linkTarget(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRenderLinks(t *testing.T) {
	tests := []struct {
		name, link string
		linked     bool
	}{
		{"https", "https://console.example.com/i/1", true},
		{"http, upper-case scheme", "HTTP://console.example.com/i/1", true},
		{"breaks the markup", "https://console.example.com/a)](https://evil.example", true},
		{"longest", "https://console.example.com/" + strings.Repeat("p", maxURL-28), true},
		{"too long", "https://console.example.com/" + strings.Repeat("p", maxURL), false},
		{"not http", "javascript:alert(1)", false},
		{"relative", "/issues/1", false},
		{"none", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := platformtest.FixtureMessage(herald.IssueCreated)
			m.Link = tt.link
			payload, err := Render(m)
			if err != nil {
				t.Fatal(err)
			}
			checkPayload(t, tt.name, m, payload)
			texts := parse(t, payload).texts()
			subject := texts["field"][0]
			if want := "**Issue**\n[Add index on ledger&#95;entries &#40;created&#95;at&#41;](" + linkTarget(tt.link) + ")"; tt.linked != (subject == want) {
				t.Errorf("subject field %q; linked should be %v", subject, tt.linked)
			}
			if !tt.linked && subject != "**Issue**\nAdd index on ledger&#95;entries &#40;created&#95;at&#41;" {
				t.Errorf("unlinked subject field %q", subject)
			}
			if hasButton := len(texts["url"]) == 1 && texts["url"][0] == tt.link; hasButton != tt.linked || len(texts["url"]) > 1 {
				t.Errorf("buttons to %q; want one to the link: %v", texts["url"], tt.linked)
			}
		})
	}
}

// TestRenderKeepsTheKeyword cuts a long title, never the keyword, which
// keyword security needs whole.
func TestRenderKeepsTheKeyword(t *testing.T) {
	m := platformtest.FixtureMessage(herald.IssueApprovalRequested)
	m.Title = strings.Repeat("审批", 300)
	header := Card(m).Header.Title.Content
	if n := utf8.RuneCountInString(header); n != maxHeading {
		t.Errorf("header has %d characters, want %d", n, maxHeading)
	}
	if !strings.HasSuffix(header, "…"+" · "+platformtest.FixtureKeyword) || !strings.HasPrefix(header, "⚠️ 审批审批") {
		t.Errorf("header %q lacks the cut title or the keyword", header)
	}
}

// TestRenderWithinSize fills every piece of a message with escapes and
// Chinese, far past the body limit, and checks that the body is cut to
// MaxBody with the description shortened first and everything else still
// there.
func TestRenderWithinSize(t *testing.T) {
	long := strings.Repeat("<*_中文>", 5000)
	m := platformtest.FixtureMessage(herald.PipelineFailed)
	m.Description, m.Details, m.Subject, m.Project, m.Actor, m.Environment, m.Stage = long, long, long, long, long, long, long
	for i := range m.FailedTasks {
		m.FailedTasks[i].Error = long
	}
	payload, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	checkPayload(t, "long", m, payload)
	if n := len(payload); n > MaxBody || n < MaxBody-500 {
		t.Errorf("body has %d bytes, want close to %d", n, MaxBody)
	}
	texts := parse(t, payload).texts()
	if d := texts["div"][0]; len(d) > descriptionBudget || !strings.HasSuffix(d, message.Ellipsis) {
		t.Errorf("description of %d bytes not cut", len(d))
	}
	if len(texts["field"]) != 5 || len(texts["url"]) != 1 || !strings.Contains(texts["div"][1], "and 2 more") {
		t.Errorf("something was dropped: %d fields, buttons %q, tasks %q", len(texts["field"]), texts["url"], texts["div"][1])
	}
}

// checkPayload checks what every rendered payload must satisfy: valid
// UTF-8 JSON the fake's Check accepts, within MaxBody, with "Herald" in the
// note and the header starting with the level emoji and the heading.
func checkPayload(t *testing.T, name string, m *message.Message, payload []byte) {
	t.Helper()
	if len(payload) > MaxBody {
		t.Errorf("%s: payload has %d bytes, more than %d", name, len(payload), MaxBody)
	}
	if !platformtest.CheckPayload(t, name, payload, feishutest.Check) {
		return
	}
	texts := parse(t, payload).texts()
	if note := texts["note"]; len(note) != 1 || !strings.HasPrefix(note[0], message.Brand) {
		t.Errorf("%s: note %q does not start with %s", name, note, message.Brand)
	}
	start := message.Truncate(message.Fit(m.Heading(), 1<<20, plain), 20)
	start = strings.TrimSuffix(start, message.Ellipsis)
	if header := texts["header"][0]; !strings.HasPrefix(header, message.LevelEmoji(level(m))+" "+start) {
		t.Errorf("%s: header %q does not start with the heading %q", name, header, start)
	}
	// Markup characters left once our own "**" are gone; divs have no
	// links, so brackets and colons must be escaped there too.
	markup := map[string]string{"div": "<>*_~`\\[]():", "field": "<>*_~`\\"}
	for where, chars := range markup {
		for _, s := range texts[where] {
			if where == "field" {
				s, _, _ = strings.Cut(s, "](") // the link target is percent-encoded instead
			}
			if i := strings.IndexAny(strings.ReplaceAll(s, "**", ""), chars); i >= 0 {
				t.Errorf("%s: unescaped markup in %s %q", name, where, message.Truncate(s, 80))
				return
			}
		}
	}
	for _, s := range append(texts["div"], texts["field"]...) {
		for rest := s; ; {
			i := strings.IndexByte(rest, '&')
			if i < 0 {
				break
			}
			rest = rest[i:]
			end := strings.IndexByte(rest, ';')
			if !strings.HasPrefix(rest, "&#") || end < 3 || end > 5 {
				t.Errorf("%s: a cut or missing escape at %q", name, message.Truncate(rest, 12))
				return
			}
			rest = rest[1:]
		}
	}
}

// TestRenderRandomMessages renders platformtest.RandomMessage messages
// (markup, Chinese, controls, fields of up to 20,000 characters, up to 40
// failed tasks, long links, keywords) and checks every payload.
func TestRenderRandomMessages(t *testing.T) {
	platformtest.RandomMessages(t, 400, platformtest.RenderAndCheck(Render, checkPayload))
}

// FuzzRender checks the same properties for texts the fuzzer chooses.
func FuzzRender(f *testing.F) {
	f.Add("Issue <created>", "a & b < c > d", "subject](x)", "https://x.example/a)b", "details\n**bold**", "task: _err_", "kw", 7)
	f.Add("", "", "", "", "", "", "", 0)
	f.Add(strings.Repeat("界", 300), strings.Repeat("&", 9000), strings.Repeat("[", 3000), "https://x.example/"+strings.Repeat("(", 2990), strings.Repeat("\n", 1500), strings.Repeat("<at id=all>", 900), strings.Repeat("k", 150), 40)
	f.Add("\x00\x01", "\x00", "\xff\xfe", "http://[::1]:80/", "\u2028", "\t", "\u202e", 3)
	check := platformtest.RenderAndCheck(Render, checkPayload)
	f.Fuzz(func(t *testing.T, title, desc, subject, link, details, task, keyword string, tasks int) {
		m := platformtest.FuzzMessage(title, desc, subject, link, details, task, tasks)
		m.Keyword = keyword
		check(t, "fuzz", m)
	})
}
