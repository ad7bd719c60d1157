package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/service"
)

type body[T any] struct {
	Body T
}

// ProjectPath names a project in the path.
type ProjectPath struct {
	Project string `path:"project" doc:"The project id"`
}

// WebhookPath names a webhook in the path.
type WebhookPath struct {
	Project string `path:"project" doc:"The project id"`
	Webhook string `path:"webhook" doc:"The webhook id"`
}

// DeliveryPath names a delivery in the path.
type DeliveryPath struct {
	Project  string `path:"project" doc:"The project id"`
	Delivery string `path:"delivery" doc:"The delivery id"`
}

// ProjectList is a page of projects.
type ProjectList struct {
	Projects      []*herald.Project `json:"projects"`
	NextPageToken string            `json:"nextPageToken,omitempty"`
}

// WebhookList is a page of webhooks.
type WebhookList struct {
	Webhooks      []*herald.Webhook `json:"webhooks"`
	NextPageToken string            `json:"nextPageToken,omitempty"`
}

// DeliveryList is a page of deliveries.
type DeliveryList struct {
	Deliveries    []*herald.Delivery `json:"deliveries"`
	NextPageToken string             `json:"nextPageToken,omitempty"`
}

func register(api huma.API, s *server) {
	registerIM(api, s)
	errs := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound}
	op := func(id, method, path, summary string, status int, tag string, extra ...int) huma.Operation {
		return huma.Operation{
			OperationID: id, Method: method, Path: path, Summary: summary, DefaultStatus: status,
			Tags: []string{tag}, Errors: append(append([]int{}, errs...), extra...), MaxBodyBytes: MaxBody,
		}
	}

	// Projects.
	huma.Register(api, op("createProject", http.MethodPost, "/v1/projects", "Create a project", http.StatusCreated, "Projects", http.StatusConflict),
		func(ctx context.Context, in *body[service.ProjectCreate]) (*body[*herald.Project], error) {
			p, err := s.svc.CreateProject(ctx, in.Body)
			if err != nil {
				return nil, s.fail(ctx, "createProject", err)
			}
			return &body[*herald.Project]{p}, nil
		})
	huma.Register(api, op("listProjects", http.MethodGet, "/v1/projects", "List projects", http.StatusOK, "Projects"),
		func(ctx context.Context, in *struct{ Pagination }) (*body[ProjectList], error) {
			ps, next, err := s.svc.ListProjects(ctx, in.page())
			if err != nil {
				return nil, s.fail(ctx, "listProjects", err)
			}
			return &body[ProjectList]{ProjectList{Projects: nonNil(ps), NextPageToken: next}}, nil
		})
	huma.Register(api, op("getProject", http.MethodGet, "/v1/projects/{project}", "Get a project", http.StatusOK, "Projects"),
		func(ctx context.Context, in *ProjectPath) (*body[*herald.Project], error) {
			p, err := s.svc.GetProject(ctx, in.Project)
			if err != nil {
				return nil, s.fail(ctx, "getProject", err)
			}
			return &body[*herald.Project]{p}, nil
		})
	huma.Register(api, op("updateProject", http.MethodPatch, "/v1/projects/{project}", "Update a project's title", http.StatusOK, "Projects"),
		func(ctx context.Context, in *struct {
			ProjectPath
			Body service.ProjectUpdate
		}) (*body[*herald.Project], error) {
			p, err := s.svc.UpdateProject(ctx, in.Project, in.Body)
			if err != nil {
				return nil, s.fail(ctx, "updateProject", err)
			}
			return &body[*herald.Project]{p}, nil
		})
	huma.Register(api, op("deleteProject", http.MethodDelete, "/v1/projects/{project}", "Delete a project with its webhooks, events and deliveries", http.StatusNoContent, "Projects"),
		func(ctx context.Context, in *ProjectPath) (*struct{}, error) {
			if err := s.svc.DeleteProject(ctx, in.Project); err != nil {
				return nil, s.fail(ctx, "deleteProject", err)
			}
			return &struct{}{}, nil
		})

	// Webhooks.
	huma.Register(api, op("createWebhook", http.MethodPost, "/v1/projects/{project}/webhooks", "Create a webhook", http.StatusCreated, "Webhooks"),
		func(ctx context.Context, in *struct {
			ProjectPath
			Body service.WebhookCreate
		}) (*body[*service.CreatedWebhook], error) {
			w, err := s.svc.CreateWebhook(ctx, in.Project, in.Body)
			if err != nil {
				return nil, s.fail(ctx, "createWebhook", err)
			}
			return &body[*service.CreatedWebhook]{w}, nil
		})
	huma.Register(api, op("listWebhooks", http.MethodGet, "/v1/projects/{project}/webhooks", "List a project's webhooks", http.StatusOK, "Webhooks"),
		func(ctx context.Context, in *struct {
			ProjectPath
			Pagination
		}) (*body[WebhookList], error) {
			ws, next, err := s.svc.ListWebhooks(ctx, in.Project, in.page())
			if err != nil {
				return nil, s.fail(ctx, "listWebhooks", err)
			}
			return &body[WebhookList]{WebhookList{Webhooks: nonNil(ws), NextPageToken: next}}, nil
		})
	huma.Register(api, op("getWebhook", http.MethodGet, "/v1/projects/{project}/webhooks/{webhook}", "Get a webhook", http.StatusOK, "Webhooks"),
		func(ctx context.Context, in *WebhookPath) (*body[*herald.Webhook], error) {
			w, err := s.svc.GetWebhook(ctx, in.Project, in.Webhook)
			if err != nil {
				return nil, s.fail(ctx, "getWebhook", err)
			}
			return &body[*herald.Webhook]{w}, nil
		})
	huma.Register(api, op("updateWebhook", http.MethodPatch, "/v1/projects/{project}/webhooks/{webhook}", "Update a webhook (fields present change; type cannot)", http.StatusOK, "Webhooks"),
		func(ctx context.Context, in *struct {
			WebhookPath
			Body service.WebhookUpdate
		}) (*body[*herald.Webhook], error) {
			w, err := s.svc.UpdateWebhook(ctx, in.Project, in.Webhook, in.Body)
			if err != nil {
				return nil, s.fail(ctx, "updateWebhook", err)
			}
			return &body[*herald.Webhook]{w}, nil
		})
	huma.Register(api, op("deleteWebhook", http.MethodDelete, "/v1/projects/{project}/webhooks/{webhook}", "Delete a webhook", http.StatusNoContent, "Webhooks"),
		func(ctx context.Context, in *WebhookPath) (*struct{}, error) {
			if err := s.svc.DeleteWebhook(ctx, in.Project, in.Webhook); err != nil {
				return nil, s.fail(ctx, "deleteWebhook", err)
			}
			return &struct{}{}, nil
		})
	huma.Register(api, op("testWebhook", http.MethodPost, "/v1/projects/{project}/webhooks/{webhook}:test", "Send a sample ISSUE_CREATED message now and return the platform's answer", http.StatusOK, "Webhooks"),
		func(ctx context.Context, in *WebhookPath) (*body[*service.TestResult], error) {
			res, err := s.svc.TestWebhook(ctx, in.Project, in.Webhook)
			if err != nil {
				return nil, s.fail(ctx, "testWebhook", err)
			}
			return &body[*service.TestResult]{res}, nil
		})

	// Events.
	huma.Register(api, op("publishEvent", http.MethodPost, "/v1/projects/{project}/events", "Publish an event (202; 200 for a repeated eventId)", http.StatusAccepted, "Events"),
		func(ctx context.Context, in *struct {
			ProjectPath
			Body herald.Event
		}) (*struct {
			Status int
			Body   *herald.Event
		}, error) {
			e, created, err := s.svc.Publish(ctx, in.Project, &in.Body)
			if err != nil {
				return nil, s.fail(ctx, "publishEvent", err)
			}
			status := http.StatusAccepted
			if !created {
				status = http.StatusOK
			}
			return &struct {
				Status int
				Body   *herald.Event
			}{status, e}, nil
		})
	huma.Register(api, op("getEvent", http.MethodGet, "/v1/projects/{project}/events/{event}", "Get an event with its deliveries", http.StatusOK, "Events"),
		func(ctx context.Context, in *struct {
			ProjectPath
			Event string `path:"event"`
		}) (*body[*herald.Event], error) {
			e, err := s.svc.GetEvent(ctx, in.Project, in.Event)
			if err != nil {
				return nil, s.fail(ctx, "getEvent", err)
			}
			return &body[*herald.Event]{e}, nil
		})

	// Deliveries.
	huma.Register(api, op("listDeliveries", http.MethodGet, "/v1/projects/{project}/deliveries", "List a project's deliveries, newest first", http.StatusOK, "Deliveries"),
		func(ctx context.Context, in *struct {
			ProjectPath
			Pagination
			Webhook string `query:"webhook" doc:"Only deliveries to this webhook (id or name)"`
			State   string `query:"state" enum:"PENDING,RETRYING,SUCCEEDED,FAILED" doc:"Only deliveries in this state"`
		}) (*body[DeliveryList], error) {
			ds, next, err := s.svc.ListDeliveries(ctx, in.Project, in.Webhook, herald.DeliveryState(in.State), in.page())
			if err != nil {
				return nil, s.fail(ctx, "listDeliveries", err)
			}
			return &body[DeliveryList]{DeliveryList{Deliveries: nonNil(ds), NextPageToken: next}}, nil
		})
	huma.Register(api, op("getDelivery", http.MethodGet, "/v1/projects/{project}/deliveries/{delivery}", "Get a delivery with its attempts", http.StatusOK, "Deliveries"),
		func(ctx context.Context, in *DeliveryPath) (*body[*herald.Delivery], error) {
			d, err := s.svc.GetDelivery(ctx, in.Project, in.Delivery)
			if err != nil {
				return nil, s.fail(ctx, "getDelivery", err)
			}
			return &body[*herald.Delivery]{d}, nil
		})
	huma.Register(api, op("retryDelivery", http.MethodPost, "/v1/projects/{project}/deliveries/{delivery}:retry", "Deliver a FAILED or SUCCEEDED delivery again", http.StatusAccepted, "Deliveries", http.StatusConflict),
		func(ctx context.Context, in *DeliveryPath) (*body[*herald.Delivery], error) {
			d, err := s.svc.RetryDelivery(ctx, in.Project, in.Delivery)
			if err != nil {
				return nil, s.fail(ctx, "retryDelivery", err)
			}
			return &body[*herald.Delivery]{d}, nil
		})
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
