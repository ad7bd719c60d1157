// Package service is Herald's application layer: the operations of the HTTP
// API (SPEC §8), with every rule about input checked here before the store
// is touched, so that bad input changes nothing.
package service

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/store"
)

// Service carries out the API's operations.
type Service struct {
	Store     store.Store
	Platforms platform.Registry
	Policy    *netguard.Policy
	// Client sends test messages; it carries the dial-time address guard.
	Client *http.Client
	// Limiter paces test messages with the deliveries; nil means none.
	Limiter *deliver.Limiter
	// Messengers validate IM credentials (and send direct messages for
	// the engine); nil means none.
	Messengers *deliver.Messengers
	Metrics    *metrics.Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// now is the clock, at the microsecond precision the store keeps.
func (s *Service) now() time.Time {
	t := time.Now()
	if s.Now != nil {
		t = s.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// newID returns a new time-ordered id (UUIDv7), so that ids sort by
// creation.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// ProjectCreate is the body of POST /v1/projects.
type ProjectCreate struct {
	ProjectID string `json:"projectId" pattern:"^[a-z][a-z0-9-]{0,62}$" doc:"Unique id of the project"`
	Title     string `json:"title" minLength:"1" maxLength:"200"`
}

// ProjectUpdate is the body of PATCH /v1/projects/{project}.
type ProjectUpdate struct {
	Title *string `json:"title,omitempty" minLength:"1" maxLength:"200"`
}

// CreateProject creates a project.
func (s *Service) CreateProject(ctx context.Context, in ProjectCreate) (*herald.Project, error) {
	if err := herald.ValidateProjectID(in.ProjectID); err != nil {
		return nil, err
	}
	if err := herald.ValidateTitle("title", in.Title); err != nil {
		return nil, err
	}
	now := s.now()
	p := &herald.Project{ProjectID: in.ProjectID, Title: in.Title, CreateTime: now, UpdateTime: now}
	if err := s.Store.CreateProject(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// GetProject returns a project.
func (s *Service) GetProject(ctx context.Context, projectID string) (*herald.Project, error) {
	return s.Store.GetProject(ctx, projectID)
}

// ListProjects returns a page of projects.
func (s *Service) ListProjects(ctx context.Context, page store.Page) ([]*herald.Project, string, error) {
	return s.Store.ListProjects(ctx, page)
}

// UpdateProject changes the fields present in in.
func (s *Service) UpdateProject(ctx context.Context, projectID string, in ProjectUpdate) (*herald.Project, error) {
	if in.Title == nil {
		return s.Store.GetProject(ctx, projectID)
	}
	if err := herald.ValidateTitle("title", *in.Title); err != nil {
		return nil, err
	}
	return s.Store.UpdateProject(ctx, projectID, *in.Title, s.now())
}

// DeleteProject deletes a project with its webhooks, events and deliveries.
func (s *Service) DeleteProject(ctx context.Context, projectID string) error {
	return s.Store.DeleteProject(ctx, projectID)
}
