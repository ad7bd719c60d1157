package teamstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxMessageBytes is the largest body the fake takes: Teams' message limit
// of about 28 KB (platforms.md C1), read as 28 KiB.
const MaxMessageBytes = 28 << 10

// MaxCardVersion is the highest Adaptive Card version Teams renders.
const MaxCardVersion = "1.5"

// CardContentType is the contentType of an Adaptive Card attachment.
const CardContentType = "application/vnd.microsoft.card.adaptive"

// nullAttachments is how a run of the "Post to a channel when a webhook
// request is received" template fails when the body has no attachments
// array (a MessageCard, say): its foreach over them finds Null
// (platforms.md C1).
const nullAttachments = "The execution of template action 'Send_each_adaptive_card' failed: the result of the evaluation of " +
	"'foreach' expression '@triggerOutputs()?['body']?['attachments']' is of type 'Null'. The result must be a valid array."

// CheckWorkflows reports whether a run of the Teams Workflows template
// would post the message body: valid UTF-8 JSON of at most MaxMessageBytes
// whose "attachments" array holds at least one attachment, each of
// contentType CardContentType with a card CheckCard accepts. It returns
// nil when it would, else why the run fails, as its run history would say.
func CheckWorkflows(body []byte) error {
	if len(body) > MaxMessageBytes {
		return fmt.Errorf("the message has %d bytes, more than Teams' %d", len(body), MaxMessageBytes)
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("the body is not valid UTF-8")
	}
	var m struct {
		Attachments json.RawMessage `json:"attachments"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("the body is not a JSON object: %v", err)
	}
	if len(m.Attachments) == 0 || string(m.Attachments) == "null" {
		return fmt.Errorf("%s", nullAttachments)
	}
	var attachments []struct {
		ContentType string          `json:"contentType"`
		Content     json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(m.Attachments, &attachments); err != nil {
		return fmt.Errorf("the 'foreach' expression '@triggerOutputs()?['body']?['attachments']' is not a valid array of attachments: %v", err)
	}
	if len(attachments) == 0 {
		return fmt.Errorf("attachments is empty: the run posted nothing")
	}
	for i, a := range attachments {
		if a.ContentType != CardContentType {
			return fmt.Errorf("attachments[%d]: contentType %q is not %s, so 'Post card in a chat or channel' refuses it", i, a.ContentType, CardContentType)
		}
		if err := CheckCard(a.Content); err != nil {
			return fmt.Errorf("attachments[%d]: 'Post card in a chat or channel' failed with BadRequest: %v", i, err)
		}
	}
	return nil
}

// Enumerations of the Adaptive Card schema the fake checks, in lower case
// (the schema's enums are case-insensitive).
var (
	elementTypes = set("TextBlock", "Image", "Media", "RichTextBlock", "Container", "ColumnSet", "FactSet", "ImageSet", "ActionSet", "Table",
		"Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle", "Input.ChoiceSet")
	// actionTypes are those a webhook's card may hold: Action.Submit (and
	// Action.Execute) need a bot to answer them.
	actionTypes = set("Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility")
	weights     = set("Default", "Lighter", "Bolder")
	sizes       = set("Default", "Small", "Medium", "Large", "ExtraLarge")
	colors      = set("Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention")
	spacings    = set("None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = true
	}
	return m
}

// wire forms, as far as the fake checks them.
type (
	wireCard struct {
		Type    string            `json:"type"`
		Version *string           `json:"version"`
		Body    []json.RawMessage `json:"body"`
		Actions []json.RawMessage `json:"actions"`
	}
	wireElement struct {
		Type    string            `json:"type"`
		Text    *string           `json:"text"`
		Weight  string            `json:"weight"`
		Size    string            `json:"size"`
		Color   string            `json:"color"`
		Spacing string            `json:"spacing"`
		Facts   []wireFact        `json:"facts"`
		Items   []json.RawMessage `json:"items"`
		Columns []struct {
			Items []json.RawMessage `json:"items"`
		} `json:"columns"`
		Actions []json.RawMessage `json:"actions"`
	}
	wireFact struct {
		Title *string `json:"title"`
		Value *string `json:"value"`
	}
	wireAction struct {
		Type  string          `json:"type"`
		Title string          `json:"title"`
		URL   string          `json:"url"`
		Card  json.RawMessage `json:"card"`
	}
)

// CheckCard reports whether card is an Adaptive Card Teams renders: type
// AdaptiveCard, a version no higher than MaxCardVersion, body elements of
// known types (TextBlocks with text, FactSets whose facts have a title and
// a value), actions of the types a webhook card may hold (not
// Action.Submit) with an absolute URL for Action.OpenUrl, and the schema's
// values for weight, size, color and spacing. It is stricter than Teams,
// which ignores a value it does not know: the fake wants Herald's cards to
// follow the schema.
func CheckCard(card []byte) error {
	var c wireCard
	if err := json.Unmarshal(card, &c); err != nil {
		return fmt.Errorf("the card is not a JSON object: %v", err)
	}
	if c.Type != "AdaptiveCard" {
		return fmt.Errorf("the card's type is %q, not AdaptiveCard", c.Type)
	}
	if c.Version == nil {
		return fmt.Errorf("the card has no version")
	}
	if !versionAtMost(*c.Version, MaxCardVersion) {
		return fmt.Errorf("the card's version %q is not a version up to %s, the highest Teams renders", *c.Version, MaxCardVersion)
	}
	if err := checkElements("body", c.Body); err != nil {
		return err
	}
	return checkActions("actions", c.Actions)
}

// versionAtMost reports whether v ("1.4") is a version no higher than max.
func versionAtMost(v, max string) bool {
	parse := func(s string) (int, int, bool) {
		major, minor, ok := strings.Cut(s, ".")
		a, err1 := strconv.Atoi(major)
		b, err2 := strconv.Atoi(minor)
		return a, b, ok && err1 == nil && err2 == nil && a >= 0 && b >= 0
	}
	a, b, ok := parse(v)
	c, d, _ := parse(max)
	return ok && (a < c || a == c && b <= d)
}

func checkElements(where string, elements []json.RawMessage) error {
	for i, raw := range elements {
		at := fmt.Sprintf("%s[%d]", where, i)
		var e wireElement
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		if !elementTypes[strings.ToLower(e.Type)] {
			return fmt.Errorf("%s: unknown element type %q", at, e.Type)
		}
		for _, p := range []struct {
			name, value string
			allowed     map[string]bool
		}{{"weight", e.Weight, weights}, {"size", e.Size, sizes}, {"color", e.Color, colors}, {"spacing", e.Spacing, spacings}} {
			if p.value != "" && !p.allowed[strings.ToLower(p.value)] {
				return fmt.Errorf("%s: %s %q is not a value of the schema", at, p.name, p.value)
			}
		}
		switch strings.ToLower(e.Type) {
		case "textblock":
			if e.Text == nil || *e.Text == "" {
				return fmt.Errorf("%s: a TextBlock needs its required property text", at)
			}
		case "factset":
			if len(e.Facts) == 0 {
				return fmt.Errorf("%s: a FactSet needs facts", at)
			}
			for j, f := range e.Facts {
				if f.Title == nil || f.Value == nil {
					return fmt.Errorf("%s.facts[%d]: a fact needs a title and a value", at, j)
				}
			}
		case "container":
			if err := checkElements(at+".items", e.Items); err != nil {
				return err
			}
		case "columnset":
			for j, col := range e.Columns {
				if err := checkElements(fmt.Sprintf("%s.columns[%d].items", at, j), col.Items); err != nil {
					return err
				}
			}
		case "actionset":
			if err := checkActions(at+".actions", e.Actions); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkActions(where string, actions []json.RawMessage) error {
	for i, raw := range actions {
		at := fmt.Sprintf("%s[%d]", where, i)
		var a wireAction
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		if !actionTypes[strings.ToLower(a.Type)] {
			return fmt.Errorf("%s: action type %q cannot be used in a webhook's card", at, a.Type)
		}
		switch strings.ToLower(a.Type) {
		case "action.openurl":
			if u, err := url.Parse(a.URL); err != nil || !u.IsAbs() {
				return fmt.Errorf("%s: Action.OpenUrl needs an absolute url", at)
			}
		case "action.showcard":
			if err := CheckCard(a.Card); err != nil {
				return fmt.Errorf("%s.card: %v", at, err)
			}
		}
	}
	return nil
}

// Refusal is a legacy connector's answer to a message it does not deliver:
// the status and text it answers, and why.
type Refusal struct {
	Status int
	Body   string
	Reason string
}

// Error returns the answer and the reason.
func (r *Refusal) Error() string { return fmt.Sprintf("%d %s: %s", r.Status, r.Body, r.Reason) }

// Texts of the legacy connector's answers (platforms.md C2,
// msteams-docs#402, #1810, #7385).
const (
	// Delivered is the body of a delivered message.
	Delivered = "1"
	// BadPayload answers a body the connector cannot read.
	BadPayload = "Bad payload received by generic incoming webhook."
	// SummaryRequired answers a MessageCard with neither summary nor text.
	SummaryRequired = "Summary or Text is required."
)

// TeamsError is the text with which a connector reports, with HTTP 200, an
// error status of Teams itself (429 when rate limited, 413 when too large).
func TeamsError(status int) string {
	return fmt.Sprintf("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error %d "+
		"with ContextId tcid=0,server=msgapi-production-weu-azsc5-5-51,cv=4ZkV0n2C9kq1Yw3xYbQwGg.0..", status)
}

// CheckMessageCard reports whether a legacy connector would deliver body:
// valid UTF-8 JSON of at most MaxMessageBytes, and either a MessageCard
// (@type MessageCard when given; summary or text not empty; facts with a
// name and a value; OpenUri actions with targets) or the Workflows
// envelope of an Adaptive Card, which connectors take too. It returns nil
// when it would, else the connector's answer.
func CheckMessageCard(body []byte) *Refusal {
	if len(body) > MaxMessageBytes {
		return &Refusal{Status: http.StatusOK, Body: TeamsError(http.StatusRequestEntityTooLarge), Reason: fmt.Sprintf("%d bytes", len(body))}
	}
	bad := func(format string, args ...any) *Refusal {
		return &Refusal{Status: http.StatusBadRequest, Body: BadPayload, Reason: fmt.Sprintf(format, args...)}
	}
	if !utf8.Valid(body) {
		return bad("the body is not valid UTF-8")
	}
	var c struct {
		Type            string            `json:"@type"`
		Summary         string            `json:"summary"`
		Text            string            `json:"text"`
		Attachments     json.RawMessage   `json:"attachments"`
		Sections        []json.RawMessage `json:"sections"`
		PotentialAction []struct {
			Type    string `json:"@type"`
			Targets []struct {
				URI string `json:"uri"`
			} `json:"targets"`
		} `json:"potentialAction"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return bad("not a JSON card: %v", err)
	}
	if c.Attachments != nil {
		if err := CheckWorkflows(body); err != nil {
			return &Refusal{Status: http.StatusOK, Body: TeamsError(http.StatusBadRequest), Reason: err.Error()}
		}
		return nil
	}
	if c.Type != "" && !strings.EqualFold(c.Type, "MessageCard") {
		return bad("@type %q is not MessageCard", c.Type)
	}
	if strings.TrimSpace(c.Summary) == "" && strings.TrimSpace(c.Text) == "" {
		return &Refusal{Status: http.StatusBadRequest, Body: SummaryRequired, Reason: "neither summary nor text"}
	}
	for i, raw := range c.Sections {
		var s struct {
			Facts []wireFactNV `json:"facts"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return bad("sections[%d]: %v", i, err)
		}
		for j, f := range s.Facts {
			if f.Name == nil || f.Value == nil {
				return bad("sections[%d].facts[%d]: a fact needs a name and a value", i, j)
			}
		}
	}
	for i, a := range c.PotentialAction {
		if strings.EqualFold(a.Type, "OpenUri") {
			if len(a.Targets) == 0 {
				return bad("potentialAction[%d]: OpenUri without targets", i)
			}
			for j, t := range a.Targets {
				if u, err := url.Parse(t.URI); err != nil || !u.IsAbs() {
					return bad("potentialAction[%d].targets[%d]: uri is not an absolute URL", i, j)
				}
			}
		}
	}
	return nil
}

type wireFactNV struct {
	Name  *string `json:"name"`
	Value *string `json:"value"`
}
