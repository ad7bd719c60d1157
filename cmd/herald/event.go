package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
)

func eventCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "event", Short: "Work with events on a Herald server"}
	cmd.AddCommand(publishCmd())
	return cmd
}

// publishFlags are the event fields `herald event publish` takes as flags.
type publishFlags struct {
	server, token, project, file                         string
	eventID, typ, title, description, link, comment, env string
	issueID, issueTitle, issueURL, issueStatus           string
	rolloutID, rolloutTitle, rolloutURL, stage           string
	actorName, actorEmail                                string
	recipients                                           []string
}

func publishCmd() *cobra.Command {
	var f publishFlags
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish an event from a JSON file or from flags",
		Long: `Publish an event to a project on a Herald server.

The event comes from --file (a JSON event as in the API; - reads standard
input), from flags, or both: flags set or override the file's fields.

  herald event publish --project payments --type PIPELINE_FAILED \
      --rollout-id 42 --rollout-title "Release 1.4" --rollout-url https://ci.example.com/42 \
      --environment prod

The server and token come from --server / HERALD_SERVER (default
http://127.0.0.1:8080) and --token / HERALD_TOKEN (or HERALD_ADMIN_TOKEN).
It prints the stored event, with its deliveries, as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ev, err := f.event(cmd.InOrStdin())
			if err != nil {
				return err
			}
			token := firstNonEmpty(f.token, os.Getenv("HERALD_TOKEN"), os.Getenv("HERALD_ADMIN_TOKEN"))
			if token == "" {
				return errors.New("no API token: pass --token or set HERALD_TOKEN")
			}
			if f.project == "" {
				return errors.New("--project is required")
			}
			c := client.New(firstNonEmpty(f.server, os.Getenv("HERALD_SERVER"), "http://127.0.0.1:8080"), token)
			stored, _, err := c.Publish(cmd.Context(), f.project, ev)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(stored)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "Herald server URL (HERALD_SERVER; default http://127.0.0.1:8080)")
	fl.StringVar(&f.token, "token", "", "API token (HERALD_TOKEN)")
	fl.StringVar(&f.project, "project", "", "project id (required)")
	fl.StringVar(&f.file, "file", "", "event JSON file; - for standard input")
	fl.StringVar(&f.eventID, "event-id", "", "idempotency key")
	fl.StringVar(&f.typ, "type", "", "event type: ISSUE_CREATED, ISSUE_APPROVAL_REQUESTED, ISSUE_SENT_BACK, ISSUE_APPROVED, PIPELINE_FAILED, PIPELINE_COMPLETED")
	fl.StringVar(&f.title, "title", "", "message title override")
	fl.StringVar(&f.description, "description", "", "message description override")
	fl.StringVar(&f.link, "link", "", "target of the View button")
	fl.StringVar(&f.comment, "comment", "", "comment, e.g. why an issue was sent back")
	fl.StringVar(&f.env, "environment", "", "environment")
	fl.StringVar(&f.issueID, "issue-id", "", "issue id")
	fl.StringVar(&f.issueTitle, "issue-title", "", "issue title")
	fl.StringVar(&f.issueURL, "issue-url", "", "issue URL")
	fl.StringVar(&f.issueStatus, "issue-status", "", "issue status")
	fl.StringVar(&f.rolloutID, "rollout-id", "", "rollout id")
	fl.StringVar(&f.rolloutTitle, "rollout-title", "", "rollout title")
	fl.StringVar(&f.rolloutURL, "rollout-url", "", "rollout URL")
	fl.StringVar(&f.stage, "stage", "", "rollout stage")
	fl.StringVar(&f.actorName, "actor-name", "", "who did it")
	fl.StringVar(&f.actorEmail, "actor-email", "", "their email")
	fl.StringArrayVar(&f.recipients, "recipient", nil, "a person to message directly: an email or an E.164 phone (repeatable)")
	return cmd
}

// event builds the event from the file (if any) and the flags.
func (f *publishFlags) event(stdin io.Reader) (*herald.Event, error) {
	var ev herald.Event
	if f.file != "" {
		var data []byte
		var err error
		if f.file == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(f.file)
		}
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("%s: %w", f.file, err)
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&ev.EventID, f.eventID)
	if f.typ != "" {
		ev.Type = herald.EventType(strings.ToUpper(f.typ))
	}
	set(&ev.Title, f.title)
	set(&ev.Description, f.description)
	set(&ev.Link, f.link)
	set(&ev.Comment, f.comment)
	set(&ev.Environment, f.env)
	if f.issueID+f.issueTitle+f.issueURL+f.issueStatus != "" {
		if ev.Issue == nil {
			ev.Issue = &herald.Issue{}
		}
		set(&ev.Issue.ID, f.issueID)
		set(&ev.Issue.Title, f.issueTitle)
		set(&ev.Issue.URL, f.issueURL)
		set(&ev.Issue.Status, f.issueStatus)
	}
	if f.rolloutID+f.rolloutTitle+f.rolloutURL+f.stage != "" {
		if ev.Rollout == nil {
			ev.Rollout = &herald.Rollout{}
		}
		set(&ev.Rollout.ID, f.rolloutID)
		set(&ev.Rollout.Title, f.rolloutTitle)
		set(&ev.Rollout.URL, f.rolloutURL)
		set(&ev.Rollout.Stage, f.stage)
	}
	if f.actorName+f.actorEmail != "" {
		if ev.Actor == nil {
			ev.Actor = &herald.User{}
		}
		set(&ev.Actor.Name, f.actorName)
		set(&ev.Actor.Email, f.actorEmail)
	}
	for _, r := range f.recipients {
		if strings.HasPrefix(r, "+") {
			ev.Recipients = append(ev.Recipients, herald.User{Phone: r})
		} else {
			ev.Recipients = append(ev.Recipients, herald.User{Email: r})
		}
	}
	if ev.Type == "" {
		return nil, errors.New("the event has no type: pass --type or a --file with one")
	}
	return &ev, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
