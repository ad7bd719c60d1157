package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
)

// Error is the error body of every failed call (SPEC §8):
// {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "…"}}.
type Error struct {
	Detail ErrorDetail `json:"error"`
}

// ErrorDetail is the content of Error.
type ErrorDetail struct {
	Code    int    `json:"code" doc:"The HTTP status"`
	Status  string `json:"status" enum:"INVALID_ARGUMENT,UNAUTHENTICATED,PERMISSION_DENIED,NOT_FOUND,ALREADY_EXISTS,FAILED_PRECONDITION,RESOURCE_EXHAUSTED,INTERNAL"`
	Message string `json:"message"`
}

func (e *Error) Error() string  { return e.Detail.Message }
func (e *Error) GetStatus() int { return e.Detail.Code }

// statusName maps HTTP statuses to the error statuses of SPEC §8.
func statusName(code int) string {
	switch code {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	}
	return "INTERNAL"
}

func newError(code int, status, message string) *Error {
	if status == "" {
		status = statusName(code)
	}
	return &Error{Detail: ErrorDetail{Code: code, Status: status, Message: message}}
}

// humaError turns the errors Huma raises while reading a request (bad JSON,
// unknown fields, bad enums, schema violations, oversized bodies) into the
// SPEC's shape. Huma reports schema violations as 422; the SPEC wants 400,
// with the field named: "type: expected value to be one of …".
func humaError(status int, msg string, errs ...error) huma.StatusError {
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	var parts []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d *huma.ErrorDetail
		if errors.As(err, &d) {
			field := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(d.Location, "body."), "query."), "path."), "header.")
			if field == "" || field == "body" {
				parts = append(parts, "body: "+d.Message)
			} else {
				parts = append(parts, field+": "+d.Message)
			}
			continue
		}
		parts = append(parts, err.Error())
	}
	message := msg
	if len(parts) > 0 {
		message = strings.Join(parts, "; ")
	}
	if status == http.StatusRequestEntityTooLarge {
		message = "the request body is larger than 1 MiB"
	}
	return newError(status, "", message)
}

// fromDomain turns an error of the service into the API's error.
func fromDomain(err error) error {
	var e *herald.Error
	if !errors.As(err, &e) {
		return newError(http.StatusInternalServerError, "INTERNAL", "internal error")
	}
	switch e.Code {
	case herald.CodeInvalidArgument:
		return newError(http.StatusBadRequest, "INVALID_ARGUMENT", e.Error())
	case herald.CodeNotFound:
		return newError(http.StatusNotFound, "NOT_FOUND", e.Message)
	case herald.CodeAlreadyExists:
		return newError(http.StatusConflict, "ALREADY_EXISTS", e.Message)
	case herald.CodeFailedPrecondition:
		return newError(http.StatusConflict, "FAILED_PRECONDITION", e.Message)
	case herald.CodeUnauthenticated:
		return newError(http.StatusUnauthorized, "UNAUTHENTICATED", e.Message)
	}
	return newError(http.StatusInternalServerError, "INTERNAL", "internal error")
}

// writeError writes an error outside Huma (authentication, unknown routes).
func writeError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(newError(code, "", message))
}
