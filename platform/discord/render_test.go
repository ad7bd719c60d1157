package discord

import (
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform/discord/discordtest"
	"github.com/heraldhq/herald/platform/platformtest"
)

func TestRenderGolden(t *testing.T) {
	platformtest.GoldenRenders(t, "testdata", Render, discordtest.Check)
}

// rendered is the wire form the tests read, with allowed_mentions kept raw
// to tell [] from null.
type rendered struct {
	Content         *string         `json:"content"`
	Embeds          []embed         `json:"embeds"`
	AllowedMentions json.RawMessage `json:"allowed_mentions"`
}

func parse(t *testing.T, payload []byte) rendered {
	t.Helper()
	r := platformtest.Parse[rendered](t, payload)
	if len(r.Embeds) != 1 {
		t.Fatalf("got %d embeds, want 1", len(r.Embeds))
	}
	return r
}

// fieldMap returns an embed's field values by name.
func fieldMap(e embed) map[string]string {
	out := map[string]string{}
	for _, f := range e.Fields {
		out[f.Name] = f.Value
	}
	return out
}

// TestRenderShowsEverything checks SPEC §2 on the fixtures: level, title
// and keyword, description, linked subject, project, actor, environment
// and stage, details, failed tasks, the View link and "Herald"; and that no
// text can ping anyone.
func TestRenderShowsEverything(t *testing.T) {
	platformtest.RenderFixtures(t, Render, func(t *testing.T, m *message.Message, payload []byte) {
		typ := m.Type
		r := parse(t, payload)
		e := r.Embeds[0]
		if string(r.AllowedMentions) != `{"parse":[]}` || r.Content != nil {
			t.Errorf("allowed_mentions %s, content %v; want no mentions parsed and no content", r.AllowedMentions, r.Content)
		}
		if want := colors[typ.Level()]; e.Color != want || want == 0 {
			t.Errorf("colour %#x, want %#x", e.Color, want)
		}
		if !strings.HasPrefix(e.Title, message.LevelEmoji(typ.Level())+" "+m.Title) {
			t.Errorf("title %q lacks the level emoji and title %q", e.Title, m.Title)
		}
		if m.Keyword != "" && !strings.HasSuffix(e.Title, " · "+m.Keyword) {
			t.Errorf("title %q lacks the keyword %q", e.Title, m.Keyword)
		}
		if e.URL != m.Link {
			t.Errorf("title links to %q, want %q", e.URL, m.Link)
		}
		if !strings.HasSuffix(e.Description, "\n\n[View]("+m.Link+")") {
			t.Errorf("description does not end with the View link:\n%s", e.Description)
		}
		if d := strings.TrimSuffix(m.Description, "."); !strings.Contains(strings.ReplaceAll(e.Description, `\`, ""), d) {
			t.Errorf("description lacks %q:\n%s", d, e.Description)
		}
		fields := fieldMap(e)
		want := map[string]string{"Project": "Payments", "Actor": "Alice Chen", "Environment": "prod"}
		if typ.IsPipeline() {
			want["Rollout"] = "[Release 2026.03.14](" + m.Link + ")"
			want["Stage"] = "prod-eu"
		} else {
			want["Issue"] = "[Add index on ledger＿entries (created＿at)](" + m.Link + ")"
		}
		for name, value := range want {
			if fields[name] != value {
				t.Errorf("field %s is %q, want %q", name, fields[name], value)
			}
		}
		if len(fields) != len(want) {
			t.Errorf("fields %v, want %v", fields, want)
		}
		if m.SubjectKind == "Issue" && !strings.Contains(e.Description, "\n\n> Speeds up the nightly reconciliation report.\n> Reviewed with the DBA team.\n\n") {
			t.Errorf("the issue's details are not quoted:\n%s", e.Description)
		}
		if typ == herald.IssueSentBack && !strings.Contains(e.Description, `rollback plan & run it on \<staging> first.`) {
			t.Errorf("the comment is not in the description, escaped:\n%s", e.Description)
		}
		if typ == herald.PipelineFailed {
			if n := strings.Count(e.Description, "\n• Migrate shard"); n != message.MaxFailedTasks {
				t.Errorf("%d failed tasks listed, want %d:\n%s", n, message.MaxFailedTasks, e.Description)
			}
			if !strings.Contains(e.Description, "**Failed tasks**\n• Migrate shard 1 \\(ledger-eu-1\\): ERROR") || !strings.Contains(e.Description, "\n• and 2 more\n") {
				t.Errorf("failed tasks:\n%s", e.Description)
			}
		}
		if e.Footer.Text != "Herald · Payments" {
			t.Errorf("footer %q", e.Footer.Text)
		}
	})
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain words, 2026-03-14 v1.2", "plain words, 2026-03-14 v1.2"},
		{"**bold** __under__ *it* _it_ ~~gone~~ ||spoiler||", `\*\*bold\*\* \_\_under\_\_ \*it\* \_it\_ \~\~gone\~\~ \|\|spoiler\|\|`},
		{"`code` ```block```", "\\`code\\` \\`\\`\\`block\\`\\`\\`"},
		{`back\slash`, `back\\slash`},
		{"# head\n## sub\n-# small\n> quote\n>>> all\n- item\n  * star\n+ plus", "\\# head\n\\## sub\n\\-# small\n\\> quote\n\\>>> all\n\\- item\n  \\* star\n\\+ plus"},
		{"a # b - c > d + e", "a # b - c > d + e"},
		{"1. first\n  23. later\nv1. no\n1.5 no", "1\\. first\n  23\\. later\nv1. no\n1\\.5 no"},
		{"[x](https://evil.example) <@123> <#1> <:e:1> <t:1:R> @everyone", `\[x\]\(https://evil.example\) \<@123> \<#1> \<:e:1> \<t:1:R> @everyone`},
		{"see https://x.example/a_b*c_~d, then *bold*", "see https://x.example/a_b*c_~d, then \\*bold\\*"},
		{"https://x.example/(a) and http://", "https://x.example/\\(a\\) and http://"},
		{"ctl\x00\x07\r\nnext\tcol", "ctl\nnext col"},
		{"中文*字符*😀", `中文\*字符\*😀`},
	}
	for _, tt := range tests {
		if got := message.Fit(tt.in, math.MaxInt, newEscaper(tt.in, false)); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, want := message.Fit("a\n- b", 100, newEscaper("a\n- b", true)), `a \- b`; got != want {
		t.Errorf("one line: %q, want %q", got, want)
	}
	// Fit never splits an escape: "a\*" does not fit in 3 with "…".
	if got, want := message.Fit("a*bc", 3, newEscaper("a*bc", false)), "a…"; got != want {
		t.Errorf("cut: %q, want %q", got, want)
	}
	if got, want := quote("- one\n# two\n\n", 100), "> \\- one\n> \\# two"; got != want {
		t.Errorf("quote: %q, want %q", got, want)
	}
}

func TestLinkTarget(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://console.example.com/issues/1?x=1&y=2#top", "https://console.example.com/issues/1?x=1&y=2#top"},
		{"HTTP://x.example/a b(c)[d]<e>\"f'g\\h`i", "HTTP://x.example/a%20b%28c%29%5Bd%5D%3Ce%3E%22f%27g%5Ch%60i"},
		{"https://x.example/日本", "https://x.example/日本"},
		{"javascript:alert(1)", ""},
		{"ftp://x.example/file", ""},
		{"/relative/path", ""},
		{"https://", ""},
		{"", ""},
		{"https://x.example/" + strings.Repeat("a", maxURL-18), "https://x.example/" + strings.Repeat("a", maxURL-18)},
		{"https://x.example/" + strings.Repeat("a", maxURL-17), ""},
		{"https://x.example/" + strings.Repeat("(", maxURL/3), ""}, // over the limit once encoded
	}
	for _, tt := range tests {
		if got := linkTarget(tt.in); got != tt.want {
			t.Errorf("linkTarget(%.40q) = %.60q, want %.60q", tt.in, got, tt.want)
		}
	}
}

// maskedLink is [label](url) with nothing in the label or URL that could
// end either early.
var maskedLink = regexp.MustCompile(`^\[[^\[\]\\\n]*\]\([^()\s<>\[\]]*\)$`)

func TestRenderLinkLabelIsSafe(t *testing.T) {
	m := platformtest.FixtureMessage(herald.IssueCreated)
	m.Subject = "a](https://evil.example) [b *c* `d` \\ | <@1> ~e~ _f_\nsee https://other.example"
	m.Link = "https://console.example.com/a)b(c] d"
	payload, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	e := parse(t, payload).Embeds[0]
	value := fieldMap(e)["Issue"]
	if !maskedLink.MatchString(value) {
		t.Errorf("subject field %q is not a clean masked link", value)
	}
	want := "[a］(https：//evil.example) ［b ＊c＊ ｀d｀ ＼ ｜ ＜@1＞ ～e～ ＿f＿ see https：//other.example](https://console.example.com/a%29b%28c%5D%20d)"
	if value != want {
		t.Errorf("subject field\n%q, want\n%q", value, want)
	}
	if e.URL != "https://console.example.com/a%29b%28c%5D%20d" {
		t.Errorf("embed URL %q", e.URL)
	}
}

func TestRenderWithoutLink(t *testing.T) {
	for _, link := range []string{"", "javascript:alert(1)", "https://x.example/" + strings.Repeat("p", 3000)} {
		m := platformtest.FixtureMessage(herald.IssueCreated)
		m.Link = link
		payload, err := Render(m)
		if err != nil {
			t.Fatal(err)
		}
		checkPayload(t, "no link", m, payload)
		e := parse(t, payload).Embeds[0]
		if e.URL != "" || strings.Contains(e.Description, "[View]") || strings.HasPrefix(fieldMap(e)["Issue"], "[") {
			t.Errorf("link %.30q: a link was rendered: %+v", link, e)
		}
		if fieldMap(e)["Issue"] != `Add index on ledger\_entries \(created\_at\)` {
			t.Errorf("subject %q", fieldMap(e)["Issue"])
		}
	}
}

func TestFair(t *testing.T) {
	tests := []struct {
		wants  []int
		budget int
		want   []int
	}{
		{[]int{10, 20}, 100, []int{10, 20}},
		{[]int{10, 100, 100}, 110, []int{10, 50, 50}},
		{[]int{100, 10, 100}, 111, []int{50, 10, 51}},
		{[]int{5, 5}, 0, []int{0, 0}},
		{[]int{5, 5}, -10, []int{0, 0}},
		{nil, 10, []int{}},
	}
	for _, tt := range tests {
		if got := fair(tt.wants, tt.budget); !slices.Equal(got, tt.want) {
			t.Errorf("fair(%v, %d) = %v, want %v", tt.wants, tt.budget, got, tt.want)
		}
	}
}

// markup is text that stresses escaping and character counting.
const markup = "#-<&>*_~`|[]()中文字符😀 \n"

// TestRenderLongMarkupDescriptionIsAccepted sends a 10,000-character
// description of markup and Chinese to the fake Discord, which enforces the
// embed limits.
func TestRenderLongMarkupDescriptionIsAccepted(t *testing.T) {
	m := platformtest.LongMessage(herald.PipelineFailed, markup)
	res, srv, hook := send(t, m, nil)
	msg := platformtest.CheckDelivered(t, res, srv, hook)
	e := parse(t, msg).Embeds[0]
	if n := utf8.RuneCountInString(e.Description); n < maxDescription-10 || n > maxDescription {
		t.Errorf("description has %d characters, want nearly %d", n, maxDescription)
	}
	for _, want := range []string{"\\#-\\<&>\\*\\_\\~\\`\\|\\[\\]\\(\\)中文字符😀 \n\\#-\\<", "…\n\n> \\#-\\<&>", "…\n\n**Failed tasks**\n• Migrate", "\n• and 2 more\n\n[View]("} {
		if !strings.Contains(e.Description, want) {
			t.Errorf("description lacks %q:\n%.300s", want, e.Description)
		}
	}
}

// TestRenderShrinksDescriptionLast fills every text to tens of thousands of
// characters: the message still fits 6000, and the description keeps its
// 1024 characters while fields and footer share the rest.
func TestRenderShrinksDescriptionLast(t *testing.T) {
	long := strings.Repeat("x", 20000)
	m := platformtest.FixtureMessage(herald.PipelineFailed)
	m.Title, m.Description, m.Subject, m.Project, m.Actor, m.Environment, m.Stage, m.Keyword = long, long, long, long, long, long, long, long
	payload, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	checkPayload(t, "long", m, payload)
	e := parse(t, payload).Embeds[0]
	if n := utf8.RuneCountInString(e.Description); n < minDescription {
		t.Errorf("description has %d characters, want at least %d", n, minDescription)
	}
	if n := size(e); n > maxTotal || n < maxTotal-20 {
		t.Errorf("the embed counts %d characters, want nearly %d", n, maxTotal)
	}

	// With short facts, the description takes what they leave.
	m = platformtest.FixtureMessage(herald.PipelineFailed)
	m.Description = long
	payload, _ = Render(m)
	if n := utf8.RuneCountInString(parse(t, payload).Embeds[0].Description); n != maxDescription {
		t.Errorf("description has %d characters, want %d", n, maxDescription)
	}
}

// TestRenderRandomMessages renders random messages (any Unicode, every
// platform's markup, 0–20,000-character texts, many failed tasks, long and
// odd links) and checks Discord's limits with the fake's Check, and what
// every message must show.
func TestRenderRandomMessages(t *testing.T) {
	platformtest.RandomMessages(t, 300, platformtest.RenderAndCheck(Render, checkPayload))
}

// FuzzRender checks the same properties for texts the fuzzer chooses.
func FuzzRender(f *testing.F) {
	f.Add("Issue <created>", "a & b < c > d", "subject](x)[", "https://x.example/)(", "details\n> quote", "task: *err*", 7)
	f.Add(strings.Repeat("界", 300), strings.Repeat("*", 5000), strings.Repeat("[", 3000), "https://x.example/"+strings.Repeat("(", 2000), strings.Repeat("\n", 1500), strings.Repeat("-", 3000), 30)
	f.Add("\x1c\x1f", " \u3000", "\u200b", "http://a b", "1. x\n2. y", "https://z.example/_a_", 5)
	platformtest.FuzzMessages(f, platformtest.RenderAndCheck(Render, checkPayload))
}

// checkPayload checks what every rendered payload must satisfy: Discord
// takes it; it shows the level, the start of the heading and "Herald";
// pings no one; and its masked links are clean.
func checkPayload(t *testing.T, name string, m *message.Message, payload []byte) {
	t.Helper()
	if !platformtest.CheckPayload(t, name, payload, discordtest.Check) {
		return
	}
	r := parse(t, payload)
	e := r.Embeds[0]
	if string(r.AllowedMentions) != `{"parse":[]}` {
		t.Errorf("%s: allowed_mentions %s", name, r.AllowedMentions)
	}
	if n := size(e); n > maxTotal {
		t.Errorf("%s: the embed counts %d characters", name, n)
	}
	heading := message.Fit(m.Heading(), math.MaxInt, newEscaper(m.Heading(), true))
	title := strings.TrimSuffix(e.Title, message.Ellipsis)
	if full := message.LevelEmoji(m.Level) + " " + heading; !strings.HasPrefix(full, title) || (title != e.Title) == (title == full) {
		t.Errorf("%s: title %q is not the heading %.80q, or a cut of it", name, e.Title, full)
	}
	if e.Color != colors[m.Level] || !strings.HasPrefix(e.Footer.Text, "Herald") {
		t.Errorf("%s: colour %#x, footer %.40q", name, e.Color, e.Footer.Text)
	}
	for _, f := range e.Fields {
		if strings.HasPrefix(f.Value, "[") && !maskedLink.MatchString(f.Value) {
			t.Errorf("%s: field %q is not a clean masked link: %.200q", name, f.Name, f.Value)
		}
	}
	if strings.Count(e.Description, "[View](") > 1 {
		t.Errorf("%s: more than one View link", name)
	}
}
