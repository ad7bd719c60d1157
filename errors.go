package herald

import (
	"errors"
	"fmt"
)

// Code classifies an Error; the HTTP API maps each code to a status
// (SPEC §8).
type Code string

// Error codes, named after the API's error statuses.
const (
	CodeInvalidArgument    Code = "INVALID_ARGUMENT"
	CodeNotFound           Code = "NOT_FOUND"
	CodeAlreadyExists      Code = "ALREADY_EXISTS"
	CodeFailedPrecondition Code = "FAILED_PRECONDITION"
	CodeUnauthenticated    Code = "UNAUTHENTICATED"
	CodeInternal           Code = "INTERNAL"
)

// Error is an error a caller can act on: it carries a code and, for invalid
// input, the field at fault. Its message is safe to show to API clients.
type Error struct {
	Code    Code
	Field   string // the offending field, for INVALID_ARGUMENT
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Invalidf returns an INVALID_ARGUMENT error about field.
func Invalidf(field, format string, args ...any) error {
	return &Error{Code: CodeInvalidArgument, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf returns a NOT_FOUND error.
func NotFoundf(format string, args ...any) error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// AlreadyExistsf returns an ALREADY_EXISTS error.
func AlreadyExistsf(format string, args ...any) error {
	return &Error{Code: CodeAlreadyExists, Message: fmt.Sprintf(format, args...)}
}

// FailedPreconditionf returns a FAILED_PRECONDITION error.
func FailedPreconditionf(format string, args ...any) error {
	return &Error{Code: CodeFailedPrecondition, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or CodeInternal when err is not (and
// does not wrap) an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
