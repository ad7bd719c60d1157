package teamstest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform/platformtest"
)

const validActivity = `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":` + validCard + `}]}`

// tokenForm is a client-credentials request of the fake's app for scope.
func tokenForm(a *IMAPI, scope string) url.Values {
	s := a.Settings()
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}, "scope": {scope}}
}

func tokenURL(a *IMAPI) string {
	return a.URL + "/login/" + a.Settings().TenantID + "/oauth2/v2.0/token"
}

// getToken fetches a token for scope, failing t when there is none.
func getToken(t *testing.T, a *IMAPI, scope string) string {
	t.Helper()
	resp, body := platformtest.Do(t, http.MethodPost, tokenURL(a), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, tokenForm(a, scope).Encode())
	var tok struct {
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.TokenType != "Bearer" || tok.ExpiresIn != 3599 || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

// aadCode reads the OAuth error and the AADSTS code of its description.
func aadCode(t *testing.T, body string) (string, string) {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("not an OAuth error: %s", body)
	}
	code, _, _ := strings.Cut(e.Description, ":")
	return e.Error, code
}

func TestIMAPIToken(t *testing.T) {
	a := NewIMAPI(t)
	form := "application/x-www-form-urlencoded"
	with := func(edit func(url.Values)) string {
		v := tokenForm(a, GraphScope)
		edit(v)
		return v.Encode()
	}
	tests := []struct {
		name, method, url, contentType, body string
		status                               int
		error, aadsts                        string
	}{
		{"GET", http.MethodGet, tokenURL(a), "", "", 400, "invalid_request", "AADSTS900561"},
		{"other tenant", http.MethodPost, a.URL + "/login/contoso.onmicrosoft.com/oauth2/v2.0/token", form, with(func(url.Values) {}), 400, "invalid_request", "AADSTS90002"},
		{"JSON body", http.MethodPost, tokenURL(a), "application/json", `{"grant_type":"client_credentials"}`, 400, "invalid_request", "AADSTS900144"},
		{"secret in the query", http.MethodPost, tokenURL(a) + "?client_secret=" + url.QueryEscape(a.Settings().ClientSecret), form,
			with(func(v url.Values) { v.Del("client_secret") }), 401, "invalid_client", "AADSTS7000218"},
		{"wrong secret", http.MethodPost, tokenURL(a), form, with(func(v url.Values) { v.Set("client_secret", "nope") }), 401, "invalid_client", "AADSTS7000215"},
		{"other client", http.MethodPost, tokenURL(a), form, with(func(v url.Values) { v.Set("client_id", "x") }), 400, "unauthorized_client", "AADSTS700016"},
		{"password grant", http.MethodPost, tokenURL(a), form, with(func(v url.Values) { v.Set("grant_type", "password") }), 400, "unsupported_grant_type", "AADSTS70003"},
		{"scope without .default", http.MethodPost, tokenURL(a), form, with(func(v url.Values) { v.Set("scope", "https://graph.microsoft.com/User.Read.All") }),
			400, "invalid_scope", "AADSTS1002012"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := platformtest.Do(t, tt.method, tt.url, http.Header{"Content-Type": {tt.contentType}}, tt.body)
			e, code := aadCode(t, body)
			if resp.StatusCode != tt.status || e != tt.error || code != tt.aadsts {
				t.Fatalf("got %d %s %s, want %d %s %s: %s", resp.StatusCode, e, code, tt.status, tt.error, tt.aadsts, body)
			}
		})
	}
	if getToken(t, a, GraphScope) == "" || a.TokenFetches(GraphScope) != 1 || a.TokenFetches(BotScope) != 0 {
		t.Fatalf("fetches %d %d", a.TokenFetches(GraphScope), a.TokenFetches(BotScope))
	}
	a.RejectCredentials()
	resp, body := platformtest.Do(t, http.MethodPost, tokenURL(a), http.Header{"Content-Type": {form}}, tokenForm(a, BotScope).Encode())
	if e, code := aadCode(t, body); resp.StatusCode != 401 || e != "invalid_client" || code != "AADSTS7000215" {
		t.Fatalf("after RejectCredentials: %d %s", resp.StatusCode, body)
	}
}

// graphCode reads the code and message of Graph's error envelope.
func graphCode(t *testing.T, body string) (string, string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not a Graph error: %s", body)
	}
	return e.Error.Code, e.Error.Message
}

func TestIMAPIGraphAuth(t *testing.T) {
	a := NewIMAPI(t)
	a.AddUser(herald.User{Email: "alice@example.com"})
	graph, bot := getToken(t, a, GraphScope), getToken(t, a, BotScope)
	user := a.URL + "/graph/v1.0/users/alice@example.com"
	tests := []struct {
		name, url, auth, message string
	}{
		{"no token", user, "", "Access token is empty."},
		{"token in the query", user + "?access_token=" + graph, "", "Access token is empty."},
		{"not Bearer", user, "Token " + graph, "Access token is empty."},
		{"Bot Connector token", user, "Bearer " + bot, "Access token validation failure. Invalid audience."},
		{"unknown token", user, "Bearer eyJ0eXAiOiJKV1QifQ.e30.c2ln", "Access token validation failure."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := platformtest.Do(t, http.MethodGet, tt.url, http.Header{"Authorization": {tt.auth}}, "")
			code, msg := graphCode(t, body)
			if resp.StatusCode != 401 || code != "InvalidAuthenticationToken" || msg != tt.message || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("got %d %s %q", resp.StatusCode, code, msg)
			}
		})
	}
	if resp, body := platformtest.Do(t, http.MethodGet, user, http.Header{"Authorization": {"Bearer " + graph}}, ""); resp.StatusCode != 200 {
		t.Fatalf("with the Graph token: %d %s", resp.StatusCode, body)
	}
	a.ExpireTokens()
	resp, body := platformtest.Do(t, http.MethodGet, user, http.Header{"Authorization": {"Bearer " + graph}}, "")
	if code, msg := graphCode(t, body); resp.StatusCode != 401 || code != "InvalidAuthenticationToken" || msg != "Lifetime validation failed, the token is expired." {
		t.Fatalf("expired: %d %s", resp.StatusCode, body)
	}
	fresh := getToken(t, a, GraphScope)
	a.RejectCredentials()
	if resp, _ := platformtest.Do(t, http.MethodGet, user, http.Header{"Authorization": {"Bearer " + fresh}}, ""); resp.StatusCode != 401 {
		t.Fatalf("a token of revoked credentials: %d", resp.StatusCode)
	}
}

func TestIMAPIGraph(t *testing.T) {
	a := NewIMAPI(t)
	member := a.AddUser(herald.User{Name: "Alice", Email: "alice@example.com"})
	guest := a.AddGuest(herald.User{Name: "Bob", Email: "o'brien@partner.example"})
	auth := http.Header{"Authorization": {"Bearer " + getToken(t, a, GraphScope)}, "Content-Type": {"application/json"}}
	get := func(path string) (int, string) {
		resp, body := platformtest.Do(t, http.MethodGet, a.URL+"/graph/v1.0"+path, auth, "")
		return resp.StatusCode, body
	}
	idOf := func(body string) string {
		var v struct {
			ID    string `json:"id"`
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
		}
		_ = json.Unmarshal([]byte(body), &v)
		if v.ID == "" && len(v.Value) == 1 {
			return v.Value[0].ID
		}
		return v.ID
	}
	if status, body := get("/users/ALICE@example.com"); status != 200 || idOf(body) != member {
		t.Fatalf("member by UPN: %d %s", status, body)
	}
	if status, body := get("/users/" + url.PathEscape("o'brien@partner.example")); status != 404 {
		t.Fatalf("guest by email: %d %s", status, body)
	} else if code, _ := graphCode(t, body); code != "Request_ResourceNotFound" {
		t.Fatalf("guest by email: %s", body)
	}
	if status, body := get("/users?$filter=" + url.QueryEscape("mail eq 'o''brien@partner.example'")); status != 200 || idOf(body) != guest {
		t.Fatalf("guest by mail: %d %s", status, body)
	}
	if status, body := get("/users?$filter=" + url.QueryEscape("mail eq 'o'brien@partner.example'")); status != 400 {
		t.Fatalf("an unescaped quote: %d %s", status, body)
	}

	// The catalog knows the app by the client id.
	status, body := get("/appCatalogs/teamsApps?$filter=" + url.QueryEscape("externalId eq '"+a.Settings().ClientID+"'"))
	appID := idOf(body)
	if status != 200 || appID == "" {
		t.Fatalf("catalog: %d %s", status, body)
	}
	installed := "/users/" + member + "/teamwork/installedApps"
	list := installed + "?$expand=teamsApp&$filter=" + url.QueryEscape("teamsApp/id eq '"+appID+"'")
	if status, body := get(list); status != 200 || idOf(body) != "" {
		t.Fatalf("not installed yet: %d %s", status, body)
	}
	install := func(bind string) (int, string) {
		b, _ := json.Marshal(map[string]string{"teamsApp@odata.bind": bind})
		resp, body := platformtest.Do(t, http.MethodPost, a.URL+"/graph/v1.0"+installed, auth, string(b))
		return resp.StatusCode, body
	}
	if status, body := install("not a url"); status != 400 {
		t.Fatalf("a bad bind: %d %s", status, body)
	}
	if status, body := install(a.URL + "/graph/v1.0/appCatalogs/teamsApps/nope"); status != 404 {
		t.Fatalf("an unknown app: %d %s", status, body)
	}
	if status, body := install(a.URL + "/graph/v1.0/appCatalogs/teamsApps/" + appID); status != 201 || body != "" || !a.Installed(member) {
		t.Fatalf("install: %d %s", status, body)
	}
	if status, _ := install(a.URL + "/graph/v1.0/appCatalogs/teamsApps/" + appID); status != 409 {
		t.Fatalf("install twice: %d", status)
	}
	status, body = get(list)
	installation := idOf(body)
	if status != 200 || installation == "" || !strings.Contains(body, `"teamsApp"`) {
		t.Fatalf("installed: %d %s", status, body)
	}
	if status, body := get(installed + "/" + url.PathEscape(installation) + "/chat"); status != 200 || !strings.HasPrefix(idOf(body), "19:"+member+"_") {
		t.Fatalf("chat: %d %s", status, body)
	}

	// Missing permissions.
	a.SetRoles("AppCatalog.Read.All")
	if status, body := get("/users/alice@example.com"); status != 403 {
		t.Fatalf("without User.Read.All: %d %s", status, body)
	} else if code, _ := graphCode(t, body); code != "Authorization_RequestDenied" {
		t.Fatalf("without User.Read.All: %s", body)
	}
	if status, body := get(list); status != 403 || !strings.Contains(body, "TeamsAppInstallation.ReadWriteForUser.All") {
		t.Fatalf("without TeamsAppInstallation: %d %s", status, body)
	}
}

func TestIMAPIBotConnector(t *testing.T) {
	a := NewIMAPI(t)
	user := a.AddUser(herald.User{Email: "alice@example.com"})
	graph, bot := getToken(t, a, GraphScope), getToken(t, a, BotScope)
	chat := "19:" + user + "_" + a.Settings().ClientID + "@unq.gbl.spaces"
	activities := a.URL + "/bot/v3/conversations/" + url.PathEscape(chat) + "/activities"
	post := func(target, auth, body string) (int, string) {
		resp, b := platformtest.Do(t, http.MethodPost, target, http.Header{"Authorization": {auth}, "Content-Type": {"application/json"}}, body)
		return resp.StatusCode, b
	}
	denied := `{"message":"Authorization has been denied for this request."}`
	for name, auth := range map[string]string{"no token": "", "Graph token": "Bearer " + graph, "not Bearer": bot} {
		if status, body := post(activities, auth, validActivity); status != 401 || strings.TrimSpace(body) != denied {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	if status, _ := post(activities+"?access_token="+url.QueryEscape(bot), "", validActivity); status != 401 {
		t.Errorf("token in the query: %d", status)
	}
	botCode := func(body string) string {
		var e struct{ Error struct{ Code string } }
		_ = json.Unmarshal([]byte(body), &e)
		return e.Error.Code
	}
	if status, body := post(activities, "Bearer "+bot, validActivity); status != 404 || botCode(body) != "ConversationNotFound" {
		t.Fatalf("before the app is installed: %d %s", status, body)
	}
	a.InstallApp(user)
	bad := map[string]string{
		"not JSON":           `{`,
		"typing":             `{"type":"typing"}`,
		"no attachments":     `{"type":"message","text":"hi"}`,
		"hero card":          `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.hero","content":{}}]}`,
		"card 1.6":           strings.Replace(validActivity, `"version":"1.4"`, `"version":"1.6"`, 1),
		"card without body":  `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.4","body":[]}}]}`,
		"card with bad size": strings.Replace(validActivity, `"size":"Large"`, `"size":"Huge"`, 1),
	}
	for name, body := range bad {
		if status, answer := post(activities, "Bearer "+bot, body); status != 400 || botCode(answer) != "BadArgument" {
			t.Errorf("%s: %d %s", name, status, answer)
		}
	}
	if status, body := post(activities, "Bearer "+bot, strings.Replace(validActivity, `"text":"Herald"`, `"text":"`+strings.Repeat("x", MaxMessageBytes)+`"`, 1)); status != 413 {
		t.Errorf("too large: %d %s", status, body)
	}
	if n := len(a.DMs(user)); n != 0 {
		t.Fatalf("refused activities were recorded: %d", n)
	}
	if status, body := post(activities, "Bearer "+bot, validActivity); status != 201 || !strings.Contains(body, `"id"`) {
		t.Fatalf("valid: %d %s", status, body)
	}
	if dms := a.DMs(user); len(dms) != 1 || !strings.Contains(string(dms[0]), `"AdaptiveCard"`) {
		t.Fatalf("DMs: %s", dms)
	}

	a.FailNextSends(1)
	if status, body := post(activities, "Bearer "+bot, validActivity); status != 502 {
		t.Fatalf("FailNextSends: %d %s", status, body)
	}
	a.UninstallApp(user)
	if status, body := post(activities, "Bearer "+bot, validActivity); status != 403 || botCode(body) != "BotNotInConversationRoster" {
		t.Fatalf("after uninstall: %d %s", status, body)
	}
	a.InstallApp(user)
	a.ExpireTokens()
	if status, body := post(activities, "Bearer "+bot, validActivity); status != 401 || strings.TrimSpace(body) != denied {
		t.Fatalf("expired: %d %s", status, body)
	}
	if n := len(a.DMs(user)); n != 1 {
		t.Fatalf("%d DMs, want 1", n)
	}
}

func TestIMAPIHoldSends(t *testing.T) {
	a := NewIMAPI(t)
	user := a.AddUser(herald.User{Email: "alice@example.com"})
	a.InstallApp(user)
	bot := getToken(t, a, BotScope)
	activities := a.URL + "/bot/v3/conversations/" + url.PathEscape("19:"+user+"_"+a.Settings().ClientID+"@unq.gbl.spaces") + "/activities"
	header := http.Header{"Authorization": {"Bearer " + bot}, "Content-Type": {"application/json"}}
	a.HoldSendsAfter(1)
	if resp, body := platformtest.Do(t, http.MethodPost, activities, header, validActivity); resp.StatusCode != 201 {
		t.Fatalf("first: %d %s", resp.StatusCode, body)
	}
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, activities, strings.NewReader(validActivity))
		req.Header = header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	deadline := time.Now().Add(10 * time.Second)
	for a.Sends() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case status := <-done:
		t.Fatalf("the held send was answered: %d", status)
	default:
	}
	a.Release()
	if status := <-done; status != 503 {
		t.Fatalf("released: %d", status)
	}
	if n := len(a.DMs(user)); n != 1 || a.Sends() != 2 {
		t.Fatalf("%d DMs, %d sends; the held one must not be recorded", n, a.Sends())
	}
}
