package teams

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/teams/teamstest"
)

func TestRenderGolden(t *testing.T) {
	t.Run("Workflows", func(t *testing.T) {
		platformtest.GoldenRenders(t, "testdata", RenderWorkflows, teamstest.CheckWorkflows)
	})
	t.Run("MessageCard", func(t *testing.T) {
		platformtest.GoldenRenders(t, filepath.Join("testdata", "messagecard"), RenderMessageCard, teamstest.CheckMessageCard)
	})
}

// workflows is the part of a Workflows message the tests read.
type workflows struct {
	Type        string `json:"type"`
	Attachments []struct {
		ContentType string          `json:"contentType"`
		ContentURL  json.RawMessage `json:"contentUrl"`
		Content     AdaptiveCard    `json:"content"`
	} `json:"attachments"`
}

func parseWorkflows(t *testing.T, payload []byte) AdaptiveCard {
	t.Helper()
	w := platformtest.Parse[workflows](t, payload)
	if w.Type != "message" || len(w.Attachments) != 1 || w.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" ||
		string(w.Attachments[0].ContentURL) != "null" {
		t.Fatalf("not the Workflows envelope: %s", payload)
	}
	return w.Attachments[0].Content
}

func parseMessageCard(t *testing.T, payload []byte) messageCard {
	t.Helper()
	c := platformtest.Parse[messageCard](t, payload)
	if c.Type != "MessageCard" || c.Context != "http://schema.org/extensions" || len(c.Sections) != 1 {
		t.Fatalf("not a MessageCard: %s", payload)
	}
	return c
}

// texts returns the text of each TextBlock of a card.
func texts(c AdaptiveCard) []string {
	var out []string
	for _, e := range c.Body {
		if e.Type == "TextBlock" {
			out = append(out, e.Text)
		}
	}
	return out
}

func factMap[T any](fs []T, get func(T) (string, string)) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		k, v := get(f)
		out[k] = v
	}
	return out
}

// TestRenderShowsEverything checks SPEC §2 on the fixtures, in both
// formats: level, title line with keyword, description, linked subject,
// project, actor, environment and stage, failed tasks, issue details, the
// View action and "Herald".
func TestRenderShowsEverything(t *testing.T) {
	platformtest.RenderFixtures(t, RenderWorkflows, func(t *testing.T, m *message.Message, payload []byte) {
		typ := m.Type
		c := parseWorkflows(t, payload)
		if !reflect.DeepEqual(c, Card(m)) {
			t.Errorf("the envelope's card is not Card(m)")
		}
		if c.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" || c.Type != "AdaptiveCard" || c.Version != "1.4" || c.MSTeams.Width != "Full" {
			t.Errorf("card header %+v", c)
		}
		head := c.Body[0]
		wantHead := message.LevelEmoji(typ.Level()) + " " + markdown(m.Heading(), 200)
		if head.Text != wantHead || head.Color != colors[typ.Level()] || head.Color == "" || head.Weight != "Bolder" || head.Size != "Large" {
			t.Errorf("title block %+v, want %q in %s", head, wantHead, colors[typ.Level()])
		}
		if m.Keyword != "" && !strings.Contains(head.Text, m.Keyword) {
			t.Errorf("title %q lacks the keyword", head.Text)
		}
		all := strings.Join(texts(c), "\n")
		if d := markdown(m.Description, 3000); !strings.Contains(all, d) {
			t.Errorf("no description %q in\n%s", d, all)
		}
		var facts map[string]string
		for _, e := range c.Body {
			if e.Type == "FactSet" {
				facts = factMap(e.Facts, func(f Fact) (string, string) { return f.Title, f.Value })
			}
		}
		checkFacts(t, typ, m, facts)
		checkTasksAndDetails(t, typ, m, all)
		if footer := c.Body[len(c.Body)-1]; footer.Text != "Herald · Payments" || !footer.IsSubtle || footer.Size != "Small" {
			t.Errorf("footer %+v", footer)
		}
		if len(c.Actions) != 1 || c.Actions[0] != (Action{Type: "Action.OpenUrl", Title: "View", URL: m.Link}) {
			t.Errorf("actions %+v, want View to %s", c.Actions, m.Link)
		}
		if typ == herald.IssueSentBack && !strings.Contains(all, "rollback plan &amp; run it on &lt;staging&gt; first") {
			t.Errorf("the comment is not in the description, escaped:\n%s", all)
		}

		payload, err := RenderMessageCard(m)
		if err != nil {
			t.Fatal(err)
		}
		mc := parseMessageCard(t, payload)
		if mc.ThemeColor != themeColors[typ.Level()] || mc.ThemeColor == "" || mc.Summary != m.Heading() || mc.Title != message.LevelEmoji(typ.Level())+" "+m.Heading() {
			t.Errorf("card header: colour %q summary %q title %q", mc.ThemeColor, mc.Summary, mc.Title)
		}
		if mc.Text != markdown(m.Description, 3000) {
			t.Errorf("text %q, want the description", mc.Text)
		}
		s := mc.Sections[0]
		if s.ActivityTitle != "Herald · Payments" || !s.Markdown {
			t.Errorf("section %+v", s)
		}
		checkFacts(t, typ, m, factMap(s.Facts, func(f cardFact) (string, string) { return f.Name, f.Value }))
		checkTasksAndDetails(t, typ, m, s.Text)
		want := []openURI{{Type: "OpenUri", Name: "View", Targets: []target{{OS: "default", URI: m.Link}}}}
		if !reflect.DeepEqual(mc.PotentialAction, want) {
			t.Errorf("actions %+v", mc.PotentialAction)
		}
	})
}

func checkFacts(t *testing.T, typ herald.EventType, m *message.Message, facts map[string]string) {
	t.Helper()
	want := map[string]string{
		m.SubjectKind: "[" + markdown(m.Subject, 1000) + "](" + m.Link + ")",
		"Project":     "Payments", "Actor": "Alice Chen", "Environment": "prod",
	}
	if typ.IsPipeline() {
		want["Stage"] = "prod-eu"
	}
	if !reflect.DeepEqual(facts, want) {
		t.Errorf("facts %q, want %q", facts, want)
	}
}

func checkTasksAndDetails(t *testing.T, typ herald.EventType, m *message.Message, text string) {
	t.Helper()
	if typ == herald.PipelineFailed {
		if n := strings.Count(text, "• Migrate shard"); n != message.MaxFailedTasks {
			t.Errorf("%d failed tasks listed, want %d:\n%s", n, message.MaxFailedTasks, text)
		}
		if !strings.Contains(text, "• and 2 more") || !strings.Contains(text, `relation "ledger\_entries" is locked`) {
			t.Errorf("no \"and 2 more\" or no escaped error:\n%s", text)
		}
	}
	if m.Details != "" && !strings.Contains(text, "Speeds up the nightly reconciliation report.\n\nReviewed with the DBA team.") {
		t.Errorf("no issue details:\n%s", text)
	}
}

func TestMarkdown(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain text", 100, "plain text"},
		{"a*b_c `d` [e](f) \\ g", 100, `a\*b\_c \` + "`d\\`" + ` \[e\](f) \\ g`},
		{"<b>x</b> & <https://x>", 100, "&lt;b&gt;x&lt;/b&gt; &amp; &lt;https://x&gt;"},
		{"&amp;", 100, "&amp;amp;"},
		{"- item", 100, `\- item`},
		{"  + item", 100, `\+ item`},
		{"a - b + c", 100, "a - b + c"},
		{"1. first", 100, `1\. first`},
		{"12) twelfth", 100, `12\) twelfth`},
		{"v1.2 (beta)", 100, "v1.2 (beta)"},
		{"see 1. above", 100, "see 1. above"},
		{"one\ntwo", 100, "one\n\ntwo"},
		{"one\r\n- two\n3. three", 100, "one\n\n\\- two\n\n3\\. three"},
		{"a\x00b\x1bc\u0085d", 100, "abcd"},
		{"  \n\t ", 100, ""},
		{"\x00", 100, ""},
		{"**********", 5, `\*\*…`},
		{"<<<<", 7, "&lt;…"},
		{"中文字符测试", 4, "中文字…"},
		{"x", 0, ""},
	}
	for _, tt := range tests {
		if got := markdown(tt.in, tt.max); got != tt.want {
			t.Errorf("markdown(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestLinkTarget(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://console.example.com/issues/1?x=1&y=2", "https://console.example.com/issues/1?x=1&y=2", true},
		{"https://x.example/a b(c)<d>\"e\\f`g", "https://x.example/a%20b%28c%29%3Cd%3E%22e%5Cf%60g", true},
		{"https://x.example/中文\u2028", "https://x.example/%E4%B8%AD%E6%96%87%E2%80%A8", true},
		{"javascript:alert(1)", "", false},
		{"ftp://x.example/", "", false},
		{"/relative", "", false},
		{"", "", false},
		{"https://x.example/" + strings.Repeat("a", maxLink), "", false},
	}
	for _, tt := range tests {
		got, ok := linkTarget(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("linkTarget(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRenderWithoutLink checks a message whose link is missing or unusable:
// no action, and the subject is a plain fact.
func TestRenderWithoutLink(t *testing.T) {
	for _, l := range []string{"", "https://x.example/" + strings.Repeat("p", maxLink)} {
		m := platformtest.FixtureMessage(herald.IssueCreated)
		m.Link = l
		c := Card(m)
		if c.Actions != nil {
			t.Errorf("link of %d: actions %+v", len(l), c.Actions)
		}
		if f := c.Body[2].Facts[0]; f.Value != markdown(m.Subject, 1000) {
			t.Errorf("link of %d: subject fact %+v", len(l), f)
		}
		payload, err := RenderMessageCard(m)
		if err != nil {
			t.Fatal(err)
		}
		if mc := parseMessageCard(t, payload); mc.PotentialAction != nil {
			t.Errorf("link of %d: potentialAction %+v", len(l), mc.PotentialAction)
		}
	}
}

// markup is text that stresses escaping and byte counting.
const markup = "<&>*_~`|[]()\\#- 1. 中文字符😀\n"

// TestLongMarkupDescriptionIsAccepted sends a 10,000-character description
// of markup and Chinese to both kinds of fake hook.
func TestLongMarkupDescriptionIsAccepted(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprint("legacy=", legacy), func(t *testing.T) {
			m := platformtest.LongMessage(herald.PipelineFailed, markup)
			res, srv, hook := send(t, m, legacy, nil)
			msg := platformtest.CheckDelivered(t, res, srv, hook)
			desc := ""
			if legacy {
				desc = parseMessageCard(t, msg).Text
			} else {
				desc = parseWorkflows(t, msg).Body[1].Text
			}
			if n := utf8.RuneCountInString(desc); n != 3000 || !strings.HasSuffix(desc, message.Ellipsis) {
				t.Errorf("legacy %v: the description has %d characters, want it cut to 3000 with …", legacy, n)
			}
		})
	}
}

// TestRenderShrinksDescriptionFirst gives a message whose description and
// details are too large in bytes for Teams: they are cut further, while the
// facts keep their length.
func TestRenderShrinksDescriptionFirst(t *testing.T) {
	m := platformtest.FixtureMessage(herald.IssueCreated)
	m.Description = "x" + strings.Repeat("\u2028", 5000) + "x" // 6 bytes each in JSON
	m.Details = m.Description
	m.Actor = strings.Repeat("😀", 1000)
	c := Card(m)
	payload, _ := RenderWorkflows(m)
	if len(payload) > maxPayload {
		t.Fatalf("%d bytes", len(payload))
	}
	if n := utf8.RuneCountInString(c.Body[1].Text); n != levels[1].description {
		t.Errorf("description of %d characters, want %d", n, levels[1].description)
	}
	if actor := c.Body[2].Facts[2]; actor.Value != m.Actor {
		t.Errorf("the actor was cut: %d characters", utf8.RuneCountInString(actor.Value))
	}
}

// TestRenderWorstCase fills every text with the characters that take the
// most bytes of JSON, and the link with the most bytes kept: the smallest
// cuts must still fit.
func TestRenderWorstCase(t *testing.T) {
	for _, fill := range []string{"\u2028", "😀", "<", "\\", "\""} {
		big := "x" + strings.Repeat(fill, 20000) + "x"
		m := &message.Message{
			Level: herald.LevelError, Title: big, Description: big, Subject: big, SubjectKind: "Rollout",
			Link: "https://x.example/" + strings.Repeat("y", maxLink-len("https://x.example/")), Project: big, Actor: big,
			Environment: big, Stage: big, Details: big, Keyword: big, MoreTasks: 99,
		}
		for range message.MaxFailedTasks {
			m.FailedTasks = append(m.FailedTasks, herald.FailedTask{Name: big, Database: big, Error: big})
		}
		checkRendered(t, fmt.Sprintf("%q", fill), m)
		if c := Card(m); len(c.Actions) != 1 {
			t.Errorf("%q: the link of %d bytes was dropped", fill, len(m.Link))
		}
	}
}

// TestRenderRandomMessages renders random messages (any Unicode, every
// markup, fields of 0–20,000 characters, many failed tasks, long links) and
// checks them against the fake's rules and Herald's byte budget.
func TestRenderRandomMessages(t *testing.T) {
	platformtest.RandomMessages(t, 300, checkRendered)
}

// FuzzRender checks the same properties for texts the fuzzer chooses.
func FuzzRender(f *testing.F) {
	f.Add("Issue <created>", "a & b < c > d", "subject](x)", "https://x.example/(a)", "details\n- item\n1. one", "task: *err*", 7)
	f.Add("\x00", "\u2028", "\r\n", "https://x.example/"+strings.Repeat("é", 3000), strings.Repeat("\\", 9000), strings.Repeat("😀", 5000), 40)
	f.Add(strings.Repeat("界", 300), strings.Repeat("&", 4000), strings.Repeat("<", 3000), "javascript:alert(1)", strings.Repeat("\n", 1500), strings.Repeat("_", 3000), 3)
	platformtest.FuzzMessages(f, checkRendered)
}

// checkRendered checks what both renderings of every message must satisfy.
func checkRendered(t *testing.T, name string, m *message.Message) {
	t.Helper()
	start := message.Truncate(strings.TrimSpace(m.Heading()), 10)
	for _, legacy := range []bool{false, true} {
		render := RenderWorkflows
		if legacy {
			render = RenderMessageCard
		}
		payload, err := render(m)
		if err != nil {
			t.Errorf("%s, legacy %v: %v", name, legacy, err)
			return
		}
		if len(payload) > maxPayload {
			t.Errorf("%s, legacy %v: %d bytes, more than %d", name, legacy, len(payload), maxPayload)
		}
		where := fmt.Sprintf("%s, legacy %v", name, legacy)
		if legacy && !platformtest.CheckPayload(t, where, payload, teamstest.CheckMessageCard) ||
			!legacy && !platformtest.CheckPayload(t, where, payload, teamstest.CheckWorkflows) {
			return
		}
		heading, want := "", ""
		if legacy {
			heading, want = parseMessageCard(t, payload).Title, plain(start, 100)
		} else {
			heading, want = parseWorkflows(t, payload).Body[0].Text, markdown(start, 100)
		}
		if want = strings.TrimSuffix(want, message.Ellipsis); !strings.Contains(heading, want) {
			t.Errorf("%s, legacy %v: the title %q does not start with %q", name, legacy, message.Truncate(heading, 40), want)
		}
	}
}
