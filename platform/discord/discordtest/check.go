package discordtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits the fake enforces (platforms.md B, "Embed Limits"), in characters
// (runes) of text trimmed as Discord trims it.
const (
	MaxContent     = 2000
	MaxEmbeds      = 10
	MaxTitle       = 256
	MaxDescription = 4096
	MaxFields      = 25
	MaxFieldName   = 256
	MaxFieldValue  = 1024
	MaxFooter      = 2048
	MaxAuthorName  = 256
	MaxTotal       = 6000 // title, description, field names and values, footer, author name over all embeds
	MaxUsername    = 80
	MaxColor       = 0xFFFFFF
	// MaxURL is the longest URL the fake takes in an embed. Discord
	// documents none for embeds (UNVERIFIED); 2048 is its limit elsewhere.
	MaxURL = 2048
)

// Discord's JSON error codes that the fake answers with.
const (
	CodeUnknownWebhook      = 10015
	CodeInvalidWebhookToken = 50027
	CodeEmptyMessage        = 50006
	CodeInvalidFormBody     = 50035
	CodeInvalidJSON         = 50109
	CodeEntityTooLarge      = 40005
	CodeInvalidAPIVersion   = 50041
)

// Refusal is why Discord would refuse a request: its HTTP status, its JSON
// code and message, the "errors" object of an invalid form body (nested by
// the path of the offending value, as Discord writes it), and what exactly
// was wrong, for test failures.
type Refusal struct {
	Status  int
	Code    int
	Message string
	Errors  map[string]any
	Reason  string
}

// Error returns the code, the message and the reason.
func (r *Refusal) Error() string {
	return fmt.Sprintf("%d %s: %s", r.Code, r.Message, r.Reason)
}

// Body returns the JSON body Discord answers with.
func (r *Refusal) Body() string {
	body := struct {
		Code    int            `json:"code"`
		Errors  map[string]any `json:"errors,omitempty"`
		Message string         `json:"message"`
	}{r.Code, r.Errors, r.Message}
	b, _ := json.Marshal(body)
	return string(b)
}

// formErrors collects the errors of an invalid form body.
type formErrors struct {
	tree    map[string]any
	reasons []string
}

// add records one error at path (e.g. "embeds", "0", "description").
func (f *formErrors) add(code, msg string, path ...string) {
	if f.tree == nil {
		f.tree = map[string]any{}
	}
	node := f.tree
	for _, p := range path {
		next, ok := node[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			node[p] = next
		}
		node = next
	}
	list, _ := node["_errors"].([]any)
	node["_errors"] = append(list, map[string]string{"code": code, "message": msg})
	f.reasons = append(f.reasons, strings.Join(path, ".")+": "+msg)
}

// maxLength records a BASE_TYPE_MAX_LENGTH error when s is over limit.
func (f *formErrors) maxLength(s string, limit int, path ...string) {
	if n := length(s); n > limit {
		f.add("BASE_TYPE_MAX_LENGTH", fmt.Sprintf("Must be %d or fewer in length.", limit), path...)
	}
}

// required records a BASE_TYPE_REQUIRED error when s is blank.
func (f *formErrors) required(s string, path ...string) bool {
	if length(s) == 0 {
		f.add("BASE_TYPE_REQUIRED", "This field is required", path...)
		return false
	}
	return true
}

// url records an error when s is not an http(s) URL Discord takes.
func (f *formErrors) url(s string, path ...string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || strings.ContainsAny(s, " \t\r\n") || (u.Scheme != "" && u.Host == ""):
		f.add("URL_TYPE_INVALID_URL", "Not a well formed URL.", path...)
	case u.Scheme != "http" && u.Scheme != "https":
		f.add("URL_TYPE_INVALID_SCHEME", fmt.Sprintf("Scheme %q is not supported. Scheme must be one of ('http', 'https').", u.Scheme), path...)
	default:
		f.maxLength(s, MaxURL, path...)
	}
}

func (f *formErrors) refusal() *Refusal {
	if f.tree == nil {
		return nil
	}
	return &Refusal{Status: 400, Code: CodeInvalidFormBody, Message: "Invalid Form Body", Errors: f.tree, Reason: strings.Join(f.reasons, "; ")}
}

func invalidJSON(reason string) *Refusal {
	return &Refusal{Status: 400, Code: CodeInvalidJSON, Message: "The request body contains invalid JSON.", Reason: reason}
}

func emptyMessage(reason string) *Refusal {
	return &Refusal{Status: 400, Code: CodeEmptyMessage, Message: "Cannot send an empty message", Reason: reason}
}

// The wire form of an execute-webhook body, as far as the fake checks it.
// Unknown fields are ignored, as Discord does; a field of the wrong JSON
// type is refused.
type (
	wireMessage struct {
		Content         string               `json:"content"`
		Username        *string              `json:"username"`
		Embeds          []wireEmbed          `json:"embeds"`
		AllowedMentions *wireAllowedMentions `json:"allowed_mentions"`
		Components      []json.RawMessage    `json:"components"`
		Attachments     []json.RawMessage    `json:"attachments"`
		Poll            json.RawMessage      `json:"poll"`
	}
	wireEmbed struct {
		Title       string      `json:"title"`
		Description string      `json:"description"`
		URL         string      `json:"url"`
		Timestamp   string      `json:"timestamp"`
		Color       *int64      `json:"color"`
		Fields      []wireField `json:"fields"`
		Footer      *wireFooter `json:"footer"`
		Author      *wireAuthor `json:"author"`
		Image       *wireMedia  `json:"image"`
		Thumbnail   *wireMedia  `json:"thumbnail"`
	}
	wireField struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Inline bool   `json:"inline"`
	}
	wireFooter struct {
		Text    string `json:"text"`
		IconURL string `json:"icon_url"`
	}
	wireAuthor struct {
		Name    string `json:"name"`
		URL     string `json:"url"`
		IconURL string `json:"icon_url"`
	}
	wireMedia struct {
		URL string `json:"url"`
	}
	wireAllowedMentions struct {
		Parse []string `json:"parse"`
	}
)

// Check reports whether body is an execute-webhook JSON body Discord would
// take: valid UTF-8 JSON (else 50109), not empty (else 50006), and within
// every embed limit, the 6000-character total, and the rules for URLs,
// colours, timestamps and allowed_mentions (else 50035 with the errors
// object). Lengths are counted in characters after trimming white space,
// as Discord counts them. It returns nil when Discord would take it.
func Check(body []byte) *Refusal {
	_, r := check(body)
	return r
}

func check(body []byte) (*wireMessage, *Refusal) {
	if !utf8.Valid(body) {
		return nil, invalidJSON("body is not valid UTF-8")
	}
	var m wireMessage
	if err := json.Unmarshal(body, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			var f formErrors
			f.add("BASE_TYPE_BAD_TYPE", fmt.Sprintf("Value of type %s is not valid here.", te.Value), strings.Split(te.Field, ".")...)
			return nil, f.refusal()
		}
		return nil, invalidJSON(err.Error())
	}
	if length(m.Content) == 0 && len(m.Embeds) == 0 && len(m.Components) == 0 && len(m.Attachments) == 0 && len(m.Poll) == 0 {
		return nil, emptyMessage("no content, embeds, components, attachments or poll")
	}
	var f formErrors
	f.maxLength(m.Content, MaxContent, "content")
	if m.Username != nil && (length(*m.Username) == 0 || length(*m.Username) > MaxUsername) {
		f.add("BASE_TYPE_BAD_LENGTH", fmt.Sprintf("Must be between 1 and %d in length.", MaxUsername), "username")
	}
	if len(m.Embeds) > MaxEmbeds {
		f.add("BASE_TYPE_MAX_LENGTH", fmt.Sprintf("Must be %d or fewer in length.", MaxEmbeds), "embeds")
	}
	total := 0
	for i, e := range m.Embeds {
		total += checkEmbed(&f, e, "embeds", fmt.Sprint(i))
	}
	if total > MaxTotal {
		f.add("MAX_EMBED_SIZE_EXCEEDED", fmt.Sprintf("Embed size exceeds maximum size of %d", MaxTotal), "embeds")
	}
	if am := m.AllowedMentions; am != nil {
		for i, p := range am.Parse {
			if !slices.Contains([]string{"users", "roles", "everyone"}, p) {
				f.add("ENUM_TYPE_COERCE", fmt.Sprintf("Value %q is not a valid enum value.", p), "allowed_mentions", "parse", fmt.Sprint(i))
			}
		}
	}
	return &m, f.refusal()
}

// checkEmbed checks one embed and returns what it counts towards the total.
func checkEmbed(f *formErrors, e wireEmbed, path ...string) int {
	at := func(p ...string) []string { return append(slices.Clone(path), p...) }
	f.maxLength(e.Title, MaxTitle, at("title")...)
	f.maxLength(e.Description, MaxDescription, at("description")...)
	f.url(e.URL, at("url")...)
	if e.Color != nil && (*e.Color < 0 || *e.Color > MaxColor) {
		f.add("NUMBER_TYPE_MAX", fmt.Sprintf("int value should be less than or equal to %d.", MaxColor), at("color")...)
	}
	if e.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
			f.add("DATE_TYPE_PARSE", fmt.Sprintf("Could not parse %s. Should be ISO8601.", e.Timestamp), at("timestamp")...)
		}
	}
	total := length(e.Title) + length(e.Description)
	if len(e.Fields) > MaxFields {
		f.add("BASE_TYPE_MAX_LENGTH", fmt.Sprintf("Must be %d or fewer in length.", MaxFields), at("fields")...)
	}
	for i, fl := range e.Fields {
		p := at("fields", fmt.Sprint(i))
		if f.required(fl.Name, append(p, "name")...) {
			f.maxLength(fl.Name, MaxFieldName, append(p, "name")...)
		}
		if f.required(fl.Value, append(p, "value")...) {
			f.maxLength(fl.Value, MaxFieldValue, append(p, "value")...)
		}
		total += length(fl.Name) + length(fl.Value)
	}
	if e.Footer != nil {
		if f.required(e.Footer.Text, at("footer", "text")...) {
			f.maxLength(e.Footer.Text, MaxFooter, at("footer", "text")...)
		}
		f.url(e.Footer.IconURL, at("footer", "icon_url")...)
		total += length(e.Footer.Text)
	}
	if e.Author != nil {
		if f.required(e.Author.Name, at("author", "name")...) {
			f.maxLength(e.Author.Name, MaxAuthorName, at("author", "name")...)
		}
		f.url(e.Author.URL, at("author", "url")...)
		f.url(e.Author.IconURL, at("author", "icon_url")...)
		total += length(e.Author.Name)
	}
	if e.Image != nil && !strings.HasPrefix(e.Image.URL, "attachment://") {
		f.url(e.Image.URL, at("image", "url")...)
	}
	if e.Thumbnail != nil && !strings.HasPrefix(e.Thumbnail.URL, "attachment://") {
		f.url(e.Thumbnail.URL, at("thumbnail", "url")...)
	}
	return total
}

// length is how Discord counts a text: its characters after trimming the
// white space of Python's str.strip (which includes U+001C–U+001F).
func length(s string) int {
	return utf8.RuneCountInString(strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	}))
}
