package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/service"
	"github.com/heraldhq/herald/store"
)

// formErrors maps a field to the reason it was refused.
type formErrors map[string]string

// fieldErrors turns a service error into errors beside the fields: an
// INVALID_ARGUMENT error names its field; any other error is returned.
func fieldErrors(err error) (formErrors, error) {
	var he *herald.Error
	if errors.As(err, &he) && he.Code == herald.CodeInvalidArgument {
		field := he.Field
		if i := strings.IndexAny(field, ".["); i > 0 {
			field = field[:i]
		}
		return formErrors{field: he.Message}, nil
	}
	if errors.As(err, &he) && he.Code == herald.CodeAlreadyExists {
		return formErrors{"projectId": he.Message}, nil
	}
	return nil, err
}

func redirect(w http.ResponseWriter, r *http.Request, path, flash string) {
	if flash != "" {
		path += "?flash=" + url.QueryEscape(flash)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// ---- sign-in

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.sessionOf(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login.html", page{Title: "Sign in", Data: map[string]string{"Next": r.URL.Query().Get("next")}})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	next := r.PostFormValue("next")
	if !c.checkToken(r.PostFormValue("token")) {
		c.render(w, r, http.StatusUnauthorized, "login.html", page{Title: "Sign in",
			Data: map[string]string{"Next": next, "Error": "That is not the admin API token."}})
		return
	}
	c.newSession(w, r)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

// safeNext keeps a redirect after sign-in on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/projects"
	}
	return next
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	clearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// ---- projects

type projectsData struct {
	Projects []*herald.Project
	Errors   formErrors
	Form     url.Values
}

func (c *Console) projects(w http.ResponseWriter, r *http.Request) {
	c.renderProjects(w, r, http.StatusOK, nil, nil)
}

func (c *Console) renderProjects(w http.ResponseWriter, r *http.Request, status int, errs formErrors, form url.Values) {
	ps, _, err := c.svc.ListProjects(r.Context(), store.Page{Size: 1000})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "projects.html", page{Title: "Projects", Nav: "projects", Data: projectsData{Projects: ps, Errors: errs, Form: form}})
}

func (c *Console) createProject(w http.ResponseWriter, r *http.Request) {
	in := service.ProjectCreate{ProjectID: strings.TrimSpace(r.PostFormValue("projectId")), Title: r.PostFormValue("title")}
	p, err := c.svc.CreateProject(r.Context(), in)
	if err != nil {
		errs, err := fieldErrors(err)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		c.renderProjects(w, r, http.StatusBadRequest, errs, r.PostForm)
		return
	}
	redirect(w, r, "/projects/"+p.ProjectID+"/webhooks", "Project "+p.Title+" created.")
}

func (c *Console) project(w http.ResponseWriter, r *http.Request) (*herald.Project, bool) {
	p, err := c.svc.GetProject(r.Context(), chi.URLParam(r, "p"))
	if err != nil {
		c.fail(w, r, err)
		return nil, false
	}
	return p, true
}

func (c *Console) renameProject(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "p")
	title := r.PostFormValue("title")
	if _, err := c.svc.UpdateProject(r.Context(), id, service.ProjectUpdate{Title: &title}); err != nil {
		errs, err := fieldErrors(err)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		c.renderWebhooks(w, r, http.StatusBadRequest, errs, nil)
		return
	}
	redirect(w, r, "/projects/"+id+"/webhooks", "Project renamed.")
}

func (c *Console) confirmDeleteProject(w http.ResponseWriter, r *http.Request) {
	p, ok := c.project(w, r)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "confirm.html", page{Title: "Delete project", Nav: "projects", Project: p, Data: confirmData{
		Question: "Delete the project " + p.Title + " with its webhooks, events and deliveries? This cannot be undone.",
		Action:   "/projects/" + p.ProjectID + "/delete", Button: "Delete project", Back: "/projects/" + p.ProjectID + "/webhooks",
	}})
}

type confirmData struct{ Question, Action, Button, Back string }

func (c *Console) deleteProject(w http.ResponseWriter, r *http.Request) {
	if err := c.svc.DeleteProject(r.Context(), chi.URLParam(r, "p")); err != nil {
		c.fail(w, r, err)
		return
	}
	redirect(w, r, "/projects", "Project deleted.")
}

// ---- webhooks

// webhookRow is a webhook with its latest delivery.
type webhookRow struct {
	*herald.Webhook
	Last *herald.Delivery
	Test *service.TestResult
}

type webhooksData struct {
	Webhooks []webhookRow
	Errors   formErrors
}

func (c *Console) webhooks(w http.ResponseWriter, r *http.Request) {
	c.renderWebhooks(w, r, http.StatusOK, nil, nil)
}

func (c *Console) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, errs formErrors, tested map[string]*service.TestResult) {
	p, ok := c.project(w, r)
	if !ok {
		return
	}
	ws, _, err := c.svc.ListWebhooks(r.Context(), p.ProjectID, store.Page{Size: 1000})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rows := make([]webhookRow, len(ws))
	for i, hook := range ws {
		rows[i] = webhookRow{Webhook: hook, Test: tested[hook.ID]}
		if ds, _, err := c.svc.ListDeliveries(r.Context(), p.ProjectID, hook.ID, "", store.Page{Size: 1}); err == nil && len(ds) > 0 {
			rows[i].Last = ds[0]
		}
	}
	c.render(w, r, status, "webhooks.html", page{Title: p.Title + " · Webhooks", Nav: "webhooks", Project: p,
		Data: webhooksData{Webhooks: rows, Errors: errs}})
}

// webhookForm is the create/edit form.
type webhookForm struct {
	Webhook *herald.Webhook // nil when creating
	Type    string
	Title   string
	URL     string
	Events  []string
	DM      bool
	Keyword string
	Enabled bool
	Errors  formErrors
	// Secret is a CUSTOM signing secret Herald generated: shown once.
	Secret string
}

func (c *Console) newWebhook(w http.ResponseWriter, r *http.Request) {
	p, ok := c.project(w, r)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "webhook.html", page{Title: "New webhook", Nav: "webhooks", Project: p,
		Data: webhookForm{Type: string(herald.Slack), Enabled: true, Events: []string{string(herald.IssueApprovalRequested)}}})
}

func formEvents(r *http.Request) []herald.EventType {
	var out []herald.EventType
	for _, v := range r.PostForm["notificationTypes"] {
		out = append(out, herald.EventType(v))
	}
	return out
}

func checked(r *http.Request, name string) bool { return r.PostFormValue(name) != "" }

func (c *Console) createWebhook(w http.ResponseWriter, r *http.Request) {
	p, ok := c.project(w, r)
	if !ok {
		return
	}
	enabled := checked(r, "enabled")
	in := service.WebhookCreate{
		Type: herald.WebhookType(r.PostFormValue("type")), Title: r.PostFormValue("title"), URL: strings.TrimSpace(r.PostFormValue("url")),
		NotificationTypes: formEvents(r), DirectMessage: checked(r, "directMessage"),
		SigningSecret: strings.TrimSpace(r.PostFormValue("signingSecret")), Keyword: r.PostFormValue("keyword"), Enabled: &enabled,
	}
	created, err := c.svc.CreateWebhook(r.Context(), p.ProjectID, in)
	if err != nil {
		errs, err := fieldErrors(err)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		c.render(w, r, http.StatusBadRequest, "webhook.html", page{Title: "New webhook", Nav: "webhooks", Project: p, Data: webhookForm{
			Type: r.PostFormValue("type"), Title: in.Title, URL: in.URL, Events: r.PostForm["notificationTypes"], DM: in.DirectMessage,
			Keyword: in.Keyword, Enabled: enabled, Errors: errs,
		}})
		return
	}
	if created.SigningSecret != "" {
		hook := created.Webhook
		c.render(w, r, http.StatusOK, "secret.html", page{Title: "Webhook created", Nav: "webhooks", Project: p,
			Data: webhookForm{Webhook: &hook, Secret: created.SigningSecret}})
		return
	}
	redirect(w, r, "/projects/"+p.ProjectID+"/webhooks", "Webhook "+created.Title+" created.")
}

// webhook loads the project and the webhook the path names, or answers
// with the error page.
func (c *Console) webhook(w http.ResponseWriter, r *http.Request) (*herald.Project, *herald.Webhook, bool) {
	p, ok := c.project(w, r)
	if !ok {
		return nil, nil, false
	}
	hook, err := c.svc.GetWebhook(r.Context(), p.ProjectID, chi.URLParam(r, "w"))
	if err != nil {
		c.fail(w, r, err)
		return nil, nil, false
	}
	return p, hook, true
}

func (c *Console) editWebhook(w http.ResponseWriter, r *http.Request) {
	p, hook, ok := c.webhook(w, r)
	if !ok {
		return
	}
	events := make([]string, len(hook.NotificationTypes))
	for i, t := range hook.NotificationTypes {
		events[i] = string(t)
	}
	c.render(w, r, http.StatusOK, "webhook.html", page{Title: "Edit " + hook.Title, Nav: "webhooks", Project: p, Data: webhookForm{
		Webhook: hook, Type: string(hook.Type), Title: hook.Title, Events: events, DM: hook.DirectMessage, Keyword: hook.Keyword, Enabled: hook.Enabled,
	}})
}

func (c *Console) updateWebhook(w http.ResponseWriter, r *http.Request) {
	p, ok := c.project(w, r)
	if !ok {
		return
	}
	id := chi.URLParam(r, "w")
	title, keyword := r.PostFormValue("title"), r.PostFormValue("keyword")
	dm, enabled := checked(r, "directMessage"), checked(r, "enabled")
	in := service.WebhookUpdate{Title: &title, NotificationTypes: formEvents(r), DirectMessage: &dm, Keyword: &keyword, Enabled: &enabled}
	if in.NotificationTypes == nil {
		in.NotificationTypes = []herald.EventType{} // present and empty: refused beside the field
	}
	if u := strings.TrimSpace(r.PostFormValue("url")); u != "" { // write-only: blank keeps it
		in.URL = &u
	}
	if s := strings.TrimSpace(r.PostFormValue("signingSecret")); s != "" {
		in.SigningSecret = &s
	}
	if checked(r, "removeSigningSecret") {
		empty := ""
		in.SigningSecret = &empty
	}
	if _, err := c.svc.UpdateWebhook(r.Context(), p.ProjectID, id, in); err != nil {
		errs, err := fieldErrors(err)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		hook, err := c.svc.GetWebhook(r.Context(), p.ProjectID, id)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		c.render(w, r, http.StatusBadRequest, "webhook.html", page{Title: "Edit " + hook.Title, Nav: "webhooks", Project: p, Data: webhookForm{
			Webhook: hook, Type: string(hook.Type), Title: title, URL: r.PostFormValue("url"), Events: r.PostForm["notificationTypes"],
			DM: dm, Keyword: keyword, Enabled: enabled, Errors: errs,
		}})
		return
	}
	redirect(w, r, "/projects/"+p.ProjectID+"/webhooks", "Webhook saved.")
}

func (c *Console) testWebhook(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "w")
	res, err := c.svc.TestWebhook(r.Context(), chi.URLParam(r, "p"), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderWebhooks(w, r, http.StatusOK, nil, map[string]*service.TestResult{id: res})
}

func (c *Console) confirmDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	p, hook, ok := c.webhook(w, r)
	if !ok {
		return
	}
	base := "/projects/" + p.ProjectID + "/webhooks"
	c.render(w, r, http.StatusOK, "confirm.html", page{Title: "Delete webhook", Nav: "webhooks", Project: p, Data: confirmData{
		Question: "Delete the webhook " + hook.Title + "? Its deliveries stay in the log; pending ones fail.",
		Action:   base + "/" + hook.ID + "/delete", Button: "Delete webhook", Back: base,
	}})
}

func (c *Console) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	p := chi.URLParam(r, "p")
	if err := c.svc.DeleteWebhook(r.Context(), p, chi.URLParam(r, "w")); err != nil {
		c.fail(w, r, err)
		return
	}
	redirect(w, r, "/projects/"+p+"/webhooks", "Webhook deleted.")
}

// ---- deliveries

type deliveriesData struct {
	Deliveries []*herald.Delivery
	Webhooks   map[string]*herald.Webhook // by name
	All        []*herald.Webhook
	Webhook    string // filter: webhook id
	State      string // filter
	States     []herald.DeliveryState
	Next       string
}

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request) {
	p, ok := c.project(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := deliveriesData{Webhook: q.Get("webhook"), State: q.Get("state"), States: herald.DeliveryStates, Webhooks: map[string]*herald.Webhook{}}
	ds, next, err := c.svc.ListDeliveries(r.Context(), p.ProjectID, d.Webhook, herald.DeliveryState(d.State), store.Page{Size: 50, Token: q.Get("page")})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Deliveries, d.Next = ds, next
	if d.All, _, err = c.svc.ListWebhooks(r.Context(), p.ProjectID, store.Page{Size: 1000}); err != nil {
		c.fail(w, r, err)
		return
	}
	for _, hook := range d.All {
		d.Webhooks[hook.Name] = hook
	}
	c.render(w, r, http.StatusOK, "deliveries.html", page{Title: p.Title + " · Deliveries", Nav: "deliveries", Project: p, Data: d})
}

type deliveryData struct {
	Delivery *herald.Delivery
	Event    *herald.Event
	Webhook  *herald.Webhook
}

func (c *Console) delivery(w http.ResponseWriter, r *http.Request) {
	p, ok := c.project(w, r)
	if !ok {
		return
	}
	d, err := c.svc.GetDelivery(r.Context(), p.ProjectID, chi.URLParam(r, "d"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	data := deliveryData{Delivery: d}
	data.Event, _ = c.svc.GetEvent(r.Context(), p.ProjectID, d.EventID)
	data.Webhook, _ = c.svc.GetWebhook(r.Context(), p.ProjectID, d.WebhookID)
	slices.Reverse(d.Attempts) // newest first
	c.render(w, r, http.StatusOK, "delivery.html", page{Title: "Delivery", Nav: "deliveries", Project: p, Data: data})
}

func (c *Console) retryDelivery(w http.ResponseWriter, r *http.Request) {
	p, id := chi.URLParam(r, "p"), chi.URLParam(r, "d")
	if _, err := c.svc.RetryDelivery(r.Context(), p, id); err != nil {
		c.fail(w, r, err)
		return
	}
	redirect(w, r, "/projects/"+p+"/deliveries/"+id, "Retry queued.")
}

// ---- IM integrations

type imData struct {
	View    *service.IMView
	Result  map[string]*service.ValidateResult
	Errors  map[string]formErrors
	Secrets map[string]bool // platform → a secret is stored
}

func (c *Console) imSettings(w http.ResponseWriter, r *http.Request) {
	c.renderIM(w, r, http.StatusOK, imData{})
}

func (c *Console) renderIM(w http.ResponseWriter, r *http.Request, status int, d imData) {
	v, err := c.svc.IMSettings(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.View = v
	d.Secrets = map[string]bool{
		"slack": v.Slack.Configured, "teams": v.Teams.Configured, "dingtalk": v.DingTalk.Configured,
		"feishu": v.Feishu.Configured, "lark": v.Lark.Configured, "wecom": v.WeCom.Configured,
	}
	c.render(w, r, status, "im.html", page{Title: "IM integrations", Nav: "im", Data: d})
}

func (c *Console) imPlatform(w http.ResponseWriter, r *http.Request) (herald.IMPlatform, bool) {
	p, err := herald.ParseIMPlatform("platform", chi.URLParam(r, "platform"))
	if err != nil {
		c.fail(w, r, herald.NotFoundf("no IM platform %q", chi.URLParam(r, "platform")))
		return "", false
	}
	return p, true
}

// imPatch reads a platform's form: ids as submitted, secrets only when
// typed (they are write-only: the form never shows them).
func imPatch(p herald.IMPlatform, r *http.Request) (service.IMPatch, error) {
	val := func(name string) *string { v := r.PostFormValue(name); return &v }
	secret := func(name string) *string {
		if v := r.PostFormValue(name); v != "" {
			return &v
		}
		return nil
	}
	switch p {
	case herald.IMSlack:
		return service.SlackIMPatch{Token: secret("token")}, nil
	case herald.IMTeams:
		return service.TeamsIMPatch{TenantID: val("tenantId"), ClientID: val("clientId"), ClientSecret: secret("clientSecret")}, nil
	case herald.IMDingTalk:
		return service.DingTalkIMPatch{ClientID: val("clientId"), ClientSecret: secret("clientSecret"), RobotCode: val("robotCode")}, nil
	case herald.IMFeishu, herald.IMLark:
		return service.AppIMPatch{AppID: val("appId"), AppSecret: secret("appSecret")}, nil
	}
	patch := service.WeComIMPatch{CorpID: val("corpId"), Secret: secret("secret")}
	if v := strings.TrimSpace(r.PostFormValue("agentId")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, herald.Invalidf("agentId", "must be a positive integer")
		}
		patch.AgentID = &n
	} else {
		zero := int64(0)
		patch.AgentID = &zero
	}
	return patch, nil
}

func (c *Console) saveIM(w http.ResponseWriter, r *http.Request) {
	p, ok := c.imPlatform(w, r)
	if !ok {
		return
	}
	patch, err := imPatch(p, r)
	if err == nil {
		_, err = c.svc.PatchIM(r.Context(), p, patch)
	}
	if err != nil {
		errs, err := fieldErrors(err)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		c.renderIM(w, r, http.StatusBadRequest, imData{Errors: map[string]formErrors{string(p): errs}})
		return
	}
	redirect(w, r, "/settings/im", strings.ToUpper(string(p[:1]))+string(p[1:])+" settings saved.")
}

func (c *Console) validateIM(w http.ResponseWriter, r *http.Request) {
	p, ok := c.imPlatform(w, r)
	if !ok {
		return
	}
	res, err := c.svc.ValidateIM(r.Context(), p)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderIM(w, r, http.StatusOK, imData{Result: map[string]*service.ValidateResult{string(p): res}})
}

func (c *Console) deleteIM(w http.ResponseWriter, r *http.Request) {
	p, ok := c.imPlatform(w, r)
	if !ok {
		return
	}
	err := c.svc.DeleteIM(r.Context(), p)
	if err != nil && herald.ErrorCode(err) != herald.CodeNotFound {
		c.fail(w, r, err)
		return
	}
	redirect(w, r, "/settings/im", "Integration removed.")
}

func templateURLEscape(s string) string { return url.QueryEscape(s) }
