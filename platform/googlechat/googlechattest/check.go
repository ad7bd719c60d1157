package googlechattest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Limits the fake enforces (platforms.md F2).
const (
	// MaxBytes is the limit on a whole message, text and cards [doc].
	MaxBytes = 32000
	// MaxText is the limit, in characters, on the message's "text"; Google
	// answered it in 2018 ("Maximum length of the field is 4096") [probe].
	// Newer documentation names only MaxBytes, so this may be lifted; the
	// fake keeps the stricter rule.
	MaxText = 4096
)

// APIError is one of Google's JSON error answers:
// {"error": {"code": 400, "message": "…", "status": "INVALID_ARGUMENT"}}.
type APIError struct {
	Code    int
	Status  string
	Message string
	// Details are Google's optional detail objects (ErrorInfo, BadRequest).
	Details []any
}

// Error returns the code, status and message.
func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Code, e.Status, e.Message) }

// Body returns the answer as Google writes it: JSON indented by two spaces.
func (e *APIError) Body() string {
	type inner struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []any  `json:"details,omitempty"`
	}
	b, _ := json.MarshalIndent(struct {
		Error inner `json:"error"`
	}{inner{e.Code, e.Message, e.Status, e.Details}}, "", "  ")
	return string(b) + "\n"
}

// invalid is a 400 INVALID_ARGUMENT answer.
func invalid(format string, args ...any) *APIError {
	return &APIError{Code: 400, Status: "INVALID_ARGUMENT", Message: fmt.Sprintf(format, args...)}
}

// The wire form of a message, as far as the fake checks it. Google parses
// the body as a google.chat.v1.Message in proto JSON, which refuses names
// it does not know ("Unknown name … Cannot find field"): every field of
// Message, Card and the widgets Herald uses is listed here, so that any
// other name is refused too. The fake accepts only the lowerCamelCase names
// (proto JSON also takes snake_case), and, as encoding/json does, matches
// them without regard to case.
type (
	wireMessage struct {
		Name                    json.RawMessage   `json:"name"`
		Sender                  json.RawMessage   `json:"sender"`
		CreateTime              json.RawMessage   `json:"createTime"`
		LastUpdateTime          json.RawMessage   `json:"lastUpdateTime"`
		DeleteTime              json.RawMessage   `json:"deleteTime"`
		Text                    *string           `json:"text"`
		FormattedText           json.RawMessage   `json:"formattedText"`
		Cards                   []json.RawMessage `json:"cards"` // the deprecated v1 cards, not checked
		CardsV2                 []wireCardWithID  `json:"cardsV2"`
		Annotations             json.RawMessage   `json:"annotations"`
		Thread                  json.RawMessage   `json:"thread"`
		Space                   json.RawMessage   `json:"space"`
		FallbackText            *string           `json:"fallbackText"`
		ActionResponse          json.RawMessage   `json:"actionResponse"`
		ArgumentText            json.RawMessage   `json:"argumentText"`
		SlashCommand            json.RawMessage   `json:"slashCommand"`
		Attachment              json.RawMessage   `json:"attachment"`
		MatchedURL              json.RawMessage   `json:"matchedUrl"`
		ThreadReply             json.RawMessage   `json:"threadReply"`
		ClientAssignedMessageID json.RawMessage   `json:"clientAssignedMessageId"`
		EmojiReactionSummaries  json.RawMessage   `json:"emojiReactionSummaries"`
		PrivateMessageViewer    json.RawMessage   `json:"privateMessageViewer"`
		DeletionMetadata        json.RawMessage   `json:"deletionMetadata"`
		QuotedMessageMetadata   json.RawMessage   `json:"quotedMessageMetadata"`
		AttachedGifs            json.RawMessage   `json:"attachedGifs"`
		AccessoryWidgets        json.RawMessage   `json:"accessoryWidgets"`
	}
	wireCardWithID struct {
		CardID string    `json:"cardId"`
		Card   *wireCard `json:"card"`
	}
	wireCard struct {
		Header              *wireHeader     `json:"header"`
		Sections            []wireSection   `json:"sections"`
		SectionDividerStyle json.RawMessage `json:"sectionDividerStyle"`
		CardActions         json.RawMessage `json:"cardActions"`
		Name                json.RawMessage `json:"name"`
		FixedFooter         json.RawMessage `json:"fixedFooter"`
		DisplayStyle        json.RawMessage `json:"displayStyle"`
		PeekCardHeader      json.RawMessage `json:"peekCardHeader"`
	}
	wireHeader struct {
		Title        string          `json:"title"`
		Subtitle     string          `json:"subtitle"`
		ImageType    json.RawMessage `json:"imageType"`
		ImageURL     json.RawMessage `json:"imageUrl"`
		ImageAltText json.RawMessage `json:"imageAltText"`
	}
	wireSection struct {
		Header                    json.RawMessage `json:"header"`
		Widgets                   []wireWidget    `json:"widgets"`
		Collapsible               json.RawMessage `json:"collapsible"`
		UncollapsibleWidgetsCount json.RawMessage `json:"uncollapsibleWidgetsCount"`
		CollapseControl           json.RawMessage `json:"collapseControl"`
		ID                        json.RawMessage `json:"id"`
	}
	// wireWidget has one field per kind of widget; exactly one must be set.
	wireWidget struct {
		TextParagraph       *wireTextParagraph `json:"textParagraph"`
		DecoratedText       *wireDecoratedText `json:"decoratedText"`
		ButtonList          *wireButtonList    `json:"buttonList"`
		Image               json.RawMessage    `json:"image"`
		TextInput           json.RawMessage    `json:"textInput"`
		SelectionInput      json.RawMessage    `json:"selectionInput"`
		DateTimePicker      json.RawMessage    `json:"dateTimePicker"`
		Divider             json.RawMessage    `json:"divider"`
		Grid                json.RawMessage    `json:"grid"`
		Columns             json.RawMessage    `json:"columns"`
		ChipList            json.RawMessage    `json:"chipList"`
		Carousel            json.RawMessage    `json:"carousel"`
		HorizontalAlignment json.RawMessage    `json:"horizontalAlignment"`
		ID                  json.RawMessage    `json:"id"`
		Visibility          json.RawMessage    `json:"visibility"`
		EventActions        json.RawMessage    `json:"eventActions"`
	}
	wireTextParagraph struct {
		Text       string          `json:"text"`
		MaxLines   json.RawMessage `json:"maxLines"`
		TextSyntax json.RawMessage `json:"textSyntax"`
	}
	wireDecoratedText struct {
		Icon                       json.RawMessage `json:"icon"`
		StartIcon                  json.RawMessage `json:"startIcon"`
		StartIconVerticalAlignment json.RawMessage `json:"startIconVerticalAlignment"`
		TopLabel                   string          `json:"topLabel"`
		TopLabelText               json.RawMessage `json:"topLabelText"`
		Text                       string          `json:"text"`
		ContentText                json.RawMessage `json:"contentText"`
		WrapText                   json.RawMessage `json:"wrapText"`
		BottomLabel                string          `json:"bottomLabel"`
		BottomLabelText            json.RawMessage `json:"bottomLabelText"`
		OnClick                    json.RawMessage `json:"onClick"`
		Button                     json.RawMessage `json:"button"`
		SwitchControl              json.RawMessage `json:"switchControl"`
		EndIcon                    json.RawMessage `json:"endIcon"`
	}
	wireButtonList struct {
		Buttons []wireButton `json:"buttons"`
	}
	wireButton struct {
		Text     string          `json:"text"`
		Icon     json.RawMessage `json:"icon"`
		Color    json.RawMessage `json:"color"`
		OnClick  *wireOnClick    `json:"onClick"`
		Disabled json.RawMessage `json:"disabled"`
		AltText  json.RawMessage `json:"altText"`
		Type     json.RawMessage `json:"type"`
	}
	wireOnClick struct {
		Action                json.RawMessage `json:"action"`
		OpenLink              *wireOpenLink   `json:"openLink"`
		OpenDynamicLinkAction json.RawMessage `json:"openDynamicLinkAction"`
		Card                  json.RawMessage `json:"card"`
		OverflowMenu          json.RawMessage `json:"overflowMenu"`
	}
	wireOpenLink struct {
		URL     string          `json:"url"`
		OpenAs  json.RawMessage `json:"openAs"`
		OnClose json.RawMessage `json:"onClose"`
	}
)

// Check reports whether body is a message a Google Chat incoming webhook
// would accept: valid UTF-8 JSON of at most MaxBytes, with no unknown field,
// with text or cards, text of at most MaxText characters, and cardsV2 cards
// that are well formed: a card id on each card when there are several
// (unique), a non-empty title on a header, at least one section, widgets of
// one known kind each, textParagraph and decoratedText with text, and
// buttons with text or an icon and an onClick whose openLink has an
// absolute http(s) URL. It returns nil, or the *APIError Google would
// answer (400 INVALID_ARGUMENT).
//
// Which messages Google writes for card errors is UNVERIFIED: the fake's
// say what is wrong, under Google's status.
func Check(body []byte) error {
	if e := check(body); e != nil {
		return e
	}
	return nil
}

func check(body []byte) *APIError {
	if len(body) > MaxBytes {
		return invalid("Message is too large: %d bytes, more than the maximum of %d bytes.", len(body), MaxBytes)
	}
	if !utf8.Valid(body) {
		return invalid("Invalid JSON payload received. Invalid UTF-8 in string.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m wireMessage
	if err := dec.Decode(&m); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return invalid("Invalid JSON payload received. Unexpected token after the message.")
	}
	text := ""
	if m.Text != nil {
		text = *m.Text
	}
	if strings.TrimSpace(text) == "" && len(m.CardsV2) == 0 && len(m.Cards) == 0 {
		return invalid("Message cannot be empty.")
	}
	if utf8.RuneCountInString(text) > MaxText {
		return invalid("Maximum length of the field is %d. Field: apps.dynamite.CreateMessageInfo.text_body", MaxText)
	}
	ids := map[string]bool{}
	for i, c := range m.CardsV2 {
		where := fmt.Sprintf("cards_v2[%d]", i)
		if c.CardID == "" && len(m.CardsV2) > 1 {
			return invalid("Invalid card: %s: card_id is required when a message has several cards.", where)
		}
		if c.CardID != "" && ids[c.CardID] {
			return invalid("Invalid card: %s: card_id %q is not unique.", where, c.CardID)
		}
		ids[c.CardID] = true
		if err := checkCard(where+".card", c.Card); err != nil {
			return err
		}
	}
	return nil
}

// jsonError is Google's answer to a body that does not parse as a Message.
func jsonError(err error) *APIError {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return invalid("Invalid JSON payload received. Unknown name %s: Cannot find field.", name)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return invalid("Invalid value at '%s' (%s), %s", te.Field, te.Type, te.Value)
	}
	return invalid("Invalid JSON payload received. %s", strings.TrimPrefix(msg, "json: "))
}

func checkCard(where string, c *wireCard) *APIError {
	if c == nil {
		return invalid("Invalid card: %s is missing.", where)
	}
	if c.Header != nil && strings.TrimSpace(c.Header.Title) == "" {
		return invalid("Invalid card: %s.header.title is required.", where)
	}
	if len(c.Sections) == 0 {
		return invalid("Invalid card: %s has no sections.", where)
	}
	for i, s := range c.Sections {
		if len(s.Widgets) == 0 {
			return invalid("Invalid card: %s.sections[%d] has no widgets.", where, i)
		}
		for j, w := range s.Widgets {
			if err := checkWidget(fmt.Sprintf("%s.sections[%d].widgets[%d]", where, i, j), w); err != nil {
				return err
			}
		}
	}
	return nil
}

func set(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func checkWidget(where string, w wireWidget) *APIError {
	kinds := 0
	for _, ok := range []bool{
		w.TextParagraph != nil, w.DecoratedText != nil, w.ButtonList != nil,
		set(w.Image), set(w.TextInput), set(w.SelectionInput), set(w.DateTimePicker), set(w.Divider),
		set(w.Grid), set(w.Columns), set(w.ChipList), set(w.Carousel),
	} {
		if ok {
			kinds++
		}
	}
	if kinds != 1 {
		return invalid("Invalid card: %s must hold exactly one kind of widget, holds %d.", where, kinds)
	}
	switch {
	case w.TextParagraph != nil:
		if w.TextParagraph.Text == "" {
			return invalid("Invalid card: %s.text_paragraph.text is empty.", where)
		}
	case w.DecoratedText != nil:
		if w.DecoratedText.Text == "" {
			return invalid("Invalid card: %s.decorated_text.text is required.", where)
		}
	case w.ButtonList != nil:
		if len(w.ButtonList.Buttons) == 0 {
			return invalid("Invalid card: %s.button_list has no buttons.", where)
		}
		for i, b := range w.ButtonList.Buttons {
			if err := checkButton(fmt.Sprintf("%s.button_list.buttons[%d]", where, i), b); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkButton(where string, b wireButton) *APIError {
	if b.Text == "" && !set(b.Icon) {
		return invalid("Invalid card: %s needs text or an icon.", where)
	}
	if b.OnClick == nil {
		return invalid("Invalid card: %s.on_click is required.", where)
	}
	actions := 0
	for _, ok := range []bool{set(b.OnClick.Action), b.OnClick.OpenLink != nil, set(b.OnClick.OpenDynamicLinkAction), set(b.OnClick.Card), set(b.OnClick.OverflowMenu)} {
		if ok {
			actions++
		}
	}
	if actions != 1 {
		return invalid("Invalid card: %s.on_click must hold exactly one action, holds %d.", where, actions)
	}
	if l := b.OnClick.OpenLink; l != nil {
		u, err := url.Parse(l.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("Invalid card: %s.on_click.open_link.url is not an absolute http(s) URL.", where)
		}
	}
	return nil
}
