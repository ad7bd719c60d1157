// Package client is the Go client of Herald's HTTP API, for producers (a CI
// pipeline publishing events, a platform managing its projects' webhooks).
//
//	c := client.New("http://127.0.0.1:8080", token)
//	ev, err := c.Publish(ctx, "payments", &herald.Event{Type: herald.PipelineFailed, ...})
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/service"
)

// Client calls one Herald server. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	// HTTP sends the requests; New sets a client with a 30 s timeout.
	HTTP *http.Client
}

// New returns a client of the server at base (e.g. http://127.0.0.1:8080)
// that authenticates with token.
func New(base, token string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is an error answer of the API (SPEC §8).
type Error struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("herald: %d %s: %s", e.Code, e.Status, e.Message)
}

// Page selects a page of a list.
type Page struct {
	Size  int
	Token string
}

func (p Page) query() url.Values {
	q := url.Values{}
	if p.Size > 0 {
		q.Set("pageSize", strconv.Itoa(p.Size))
	}
	if p.Token != "" {
		q.Set("pageToken", p.Token)
	}
	return q
}

// do sends one call and decodes the answer into out (when not nil). It
// returns the HTTP status; an error answer is an *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) (int, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			return resp.StatusCode, e.Error
		}
		return resp.StatusCode, &Error{Code: resp.StatusCode, Status: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("herald: decoding the answer to %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func esc(s string) string { return url.PathEscape(s) }

// CreateProject creates a project.
func (c *Client) CreateProject(ctx context.Context, projectID, title string) (*herald.Project, error) {
	var p herald.Project
	_, err := c.do(ctx, http.MethodPost, "/v1/projects", nil, service.ProjectCreate{ProjectID: projectID, Title: title}, &p)
	return &p, err
}

// GetProject returns a project.
func (c *Client) GetProject(ctx context.Context, projectID string) (*herald.Project, error) {
	var p herald.Project
	_, err := c.do(ctx, http.MethodGet, "/v1/projects/"+esc(projectID), nil, nil, &p)
	return &p, err
}

// ListProjects returns a page of projects and the next page's token.
func (c *Client) ListProjects(ctx context.Context, page Page) ([]*herald.Project, string, error) {
	var out struct {
		Projects      []*herald.Project `json:"projects"`
		NextPageToken string            `json:"nextPageToken"`
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/projects", page.query(), nil, &out)
	return out.Projects, out.NextPageToken, err
}

// UpdateProject sets a project's title.
func (c *Client) UpdateProject(ctx context.Context, projectID, title string) (*herald.Project, error) {
	var p herald.Project
	_, err := c.do(ctx, http.MethodPatch, "/v1/projects/"+esc(projectID), nil, service.ProjectUpdate{Title: &title}, &p)
	return &p, err
}

// DeleteProject deletes a project with its webhooks, events and deliveries.
func (c *Client) DeleteProject(ctx context.Context, projectID string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/projects/"+esc(projectID), nil, nil, nil)
	return err
}

// CreateWebhook creates a webhook. For a CUSTOM webhook created without a
// signing secret, the answer carries the generated one, shown only here.
func (c *Client) CreateWebhook(ctx context.Context, projectID string, in service.WebhookCreate) (*service.CreatedWebhook, error) {
	var w service.CreatedWebhook
	_, err := c.do(ctx, http.MethodPost, "/v1/projects/"+esc(projectID)+"/webhooks", nil, in, &w)
	if err == nil {
		fillWebhook(&w.Webhook)
	}
	return &w, err
}

// GetWebhook returns a webhook (without its write-only fields).
func (c *Client) GetWebhook(ctx context.Context, projectID, webhookID string) (*herald.Webhook, error) {
	var w herald.Webhook
	_, err := c.do(ctx, http.MethodGet, "/v1/projects/"+esc(projectID)+"/webhooks/"+esc(webhookID), nil, nil, &w)
	fillWebhook(&w)
	return &w, err
}

// ListWebhooks returns a page of a project's webhooks.
func (c *Client) ListWebhooks(ctx context.Context, projectID string, page Page) ([]*herald.Webhook, string, error) {
	var out struct {
		Webhooks      []*herald.Webhook `json:"webhooks"`
		NextPageToken string            `json:"nextPageToken"`
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/projects/"+esc(projectID)+"/webhooks", page.query(), nil, &out)
	for _, w := range out.Webhooks {
		fillWebhook(w)
	}
	return out.Webhooks, out.NextPageToken, err
}

// UpdateWebhook changes the fields set in in.
func (c *Client) UpdateWebhook(ctx context.Context, projectID, webhookID string, in service.WebhookUpdate) (*herald.Webhook, error) {
	var w herald.Webhook
	_, err := c.do(ctx, http.MethodPatch, "/v1/projects/"+esc(projectID)+"/webhooks/"+esc(webhookID), nil, in, &w)
	fillWebhook(&w)
	return &w, err
}

// DeleteWebhook deletes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, projectID, webhookID string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/projects/"+esc(projectID)+"/webhooks/"+esc(webhookID), nil, nil, nil)
	return err
}

// TestWebhook sends a sample message now and returns the platform's answer.
func (c *Client) TestWebhook(ctx context.Context, projectID, webhookID string) (*service.TestResult, error) {
	var r service.TestResult
	_, err := c.do(ctx, http.MethodPost, "/v1/projects/"+esc(projectID)+"/webhooks/"+esc(webhookID)+":test", nil, nil, &r)
	return &r, err
}

// Publish publishes an event. created is false when the project already had
// an event with the same eventId (Herald returned the original and stored
// nothing).
func (c *Client) Publish(ctx context.Context, projectID string, e *herald.Event) (ev *herald.Event, created bool, err error) {
	var out herald.Event
	status, err := c.do(ctx, http.MethodPost, "/v1/projects/"+esc(projectID)+"/events", nil, e, &out)
	return &out, status == http.StatusAccepted, err
}

// GetEvent returns an event with its deliveries.
func (c *Client) GetEvent(ctx context.Context, projectID, eventID string) (*herald.Event, error) {
	var e herald.Event
	_, err := c.do(ctx, http.MethodGet, "/v1/projects/"+esc(projectID)+"/events/"+esc(eventID), nil, nil, &e)
	return &e, err
}

// DeliveryFilter narrows ListDeliveries.
type DeliveryFilter struct {
	Webhook string // id or name
	State   herald.DeliveryState
}

// ListDeliveries returns a page of a project's deliveries, newest first.
func (c *Client) ListDeliveries(ctx context.Context, projectID string, f DeliveryFilter, page Page) ([]*herald.Delivery, string, error) {
	q := page.query()
	if f.Webhook != "" {
		q.Set("webhook", f.Webhook)
	}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	var out struct {
		Deliveries    []*herald.Delivery `json:"deliveries"`
		NextPageToken string             `json:"nextPageToken"`
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/projects/"+esc(projectID)+"/deliveries", q, nil, &out)
	return out.Deliveries, out.NextPageToken, err
}

// GetDelivery returns a delivery with its attempts.
func (c *Client) GetDelivery(ctx context.Context, projectID, deliveryID string) (*herald.Delivery, error) {
	var d herald.Delivery
	_, err := c.do(ctx, http.MethodGet, "/v1/projects/"+esc(projectID)+"/deliveries/"+esc(deliveryID), nil, nil, &d)
	return &d, err
}

// RetryDelivery sends a FAILED or SUCCEEDED delivery again.
func (c *Client) RetryDelivery(ctx context.Context, projectID, deliveryID string) (*herald.Delivery, error) {
	var d herald.Delivery
	_, err := c.do(ctx, http.MethodPost, "/v1/projects/"+esc(projectID)+"/deliveries/"+esc(deliveryID)+":retry", nil, nil, &d)
	return &d, err
}

// IMSettings returns every IM integration (GET /v1/settings/im).
func (c *Client) IMSettings(ctx context.Context) (*service.IMView, error) {
	var v service.IMView
	_, err := c.do(ctx, http.MethodGet, "/v1/settings/im", nil, nil, &v)
	return &v, err
}

// PatchIMSettings sets the fields of patch (a service.SlackIMPatch,
// TeamsIMPatch, DingTalkIMPatch, AppIMPatch or WeComIMPatch) for platform;
// out receives the platform's view.
func (c *Client) PatchIMSettings(ctx context.Context, p herald.IMPlatform, patch service.IMPatch, out any) error {
	_, err := c.do(ctx, http.MethodPatch, "/v1/settings/im/"+esc(string(p)), nil, patch, out)
	return err
}

// DeleteIMSettings removes an IM integration.
func (c *Client) DeleteIMSettings(ctx context.Context, p herald.IMPlatform) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/settings/im/"+esc(string(p)), nil, nil, nil)
	return err
}

// ValidateIMSettings checks an integration's stored credentials against
// the platform now.
func (c *Client) ValidateIMSettings(ctx context.Context, p herald.IMPlatform) (*service.ValidateResult, error) {
	var r service.ValidateResult
	_, err := c.do(ctx, http.MethodPost, "/v1/settings/im/"+esc(string(p))+":validate", nil, nil, &r)
	return &r, err
}

// Health reports whether the server answers /healthz.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
	return err
}

// fillWebhook sets the id fields the JSON form carries only in the name.
func fillWebhook(w *herald.Webhook) {
	if parts := strings.Split(w.Name, "/"); len(parts) == 4 {
		w.ProjectID, w.ID = parts[1], parts[3]
	}
}

// ID returns the last segment of a resource name ("projects/p/deliveries/d"
// gives "d").
func ID(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}
