package e2e

import (
	"bytes"
	"encoding/hex"
	"github.com/heraldhq/herald/platform/platformtest"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/service"
)

// After creating a webhook with a distinctive URL token and signing secret,
// neither is in the database: not in the SQLite files' raw bytes, not in
// any PostgreSQL row; nor in the API's answers or the delivery log.
func TestSecretsAtRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		const urlToken = "ZQXJ-distinctive-url-token-7741"
		hook := e.slack.NewHook(platformtest.HookOptions{}) + "?" + urlToken + "=1"
		w, err := e.c.CreateWebhook(t.Context(), "p", service.WebhookCreate{
			Type: herald.Slack, Title: "s", URL: hook, NotificationTypes: herald.EventTypes,
		})
		if err != nil {
			t.Fatal(err)
		}
		custom := e.custom.NewEndpoint("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") + "/" + urlToken
		cw, err := e.c.CreateWebhook(t.Context(), "p", service.WebhookCreate{
			Type: herald.Custom, Title: "c", URL: custom, NotificationTypes: herald.EventTypes,
			SigningSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		})
		if err != nil {
			t.Fatal(err)
		}
		// IM secrets too.
		const imToken = "xoxb-QWERTY-distinctive-im-token-5521"
		const imSecret = "distinctive-feishu-app-secret-8812"
		tok, sec, app := imToken, imSecret, "cli_herald"
		if err := e.c.PatchIMSettings(t.Context(), herald.IMSlack, service.SlackIMPatch{Token: &tok}, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.c.PatchIMSettings(t.Context(), herald.IMFeishu, service.AppIMPatch{AppID: &app, AppSecret: &sec}, nil); err != nil {
			t.Fatal(err)
		}
		ev := e.publish("p", eventOf(herald.IssueCreated))
		for _, d := range ev.Deliveries {
			e.waitDelivery("p", d.Name, 10*time.Second, final)
		}
		secrets := []string{urlToken, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", strings.TrimPrefix(hook, e.slack.URL), imToken, imSecret}
		if body := e.get("/v1/settings/im"); !strings.Contains(body, "cli_herald") {
			t.Fatalf("the app id is not shown: %s", body)
		}

		// The API never shows them.
		for _, path := range []string{
			"/v1/projects/p/webhooks", "/v1/projects/p/webhooks/" + w.ID, "/v1/projects/p/webhooks/" + cw.ID,
			"/v1/projects/p/events/" + ev.EventID, "/v1/projects/p/deliveries", "/v1/settings/im",
			"/v1/projects/p/deliveries/" + lastSegment(ev.Deliveries[0].Name), "/v1/projects/p/deliveries/" + lastSegment(ev.Deliveries[1].Name),
		} {
			body := e.get(path)
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("GET %s shows a secret: %s", path, body)
				}
			}
		}
		// Nor does the database.
		var raw []byte
		if backend == "sqlite" {
			raw = sqliteBytes(t, e.database)
		} else {
			raw = postgresBytes(t, e.database)
		}
		if len(raw) == 0 {
			t.Fatal("read nothing from the database")
		}
		if !bytes.Contains(raw, []byte("projects/p")) && !bytes.Contains(raw, []byte("ISSUE_CREATED")) {
			t.Fatal("the dump does not look like Herald's database")
		}
		for _, s := range secrets {
			// row_to_json shows bytea columns in hex: look for both forms.
			if bytes.Contains(raw, []byte(s)) || bytes.Contains(raw, []byte(hex.EncodeToString([]byte(s)))) {
				t.Errorf("the database holds %q in plaintext", s)
			}
		}
	})
}

func lastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }

func (e *env) get(path string) string {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.t.Context(), http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// sqliteBytes reads every file of the database (the file, its WAL and
// shared memory) as raw bytes.
func sqliteBytes(t *testing.T, path string) []byte {
	var all []byte
	matches, _ := filepath.Glob(path + "*")
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// postgresBytes dumps every row of every table of the database as JSON.
func postgresBytes(t *testing.T, url string) []byte {
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for _, table := range tables {
		rows, err := conn.Query(t.Context(), `SELECT row_to_json(x)::text FROM `+pgx.Identifier{table}.Sanitize()+` x`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			all.WriteString(l)
		}
	}
	return all.Bytes()
}
