//go:build !linux

package pgtest

import (
	"errors"
	"runtime"
)

// server is a running throwaway PostgreSQL server; only supported on Linux.
type server struct {
	dir, url, version string
}

func startThrowaway() (*server, error) {
	return nil, errors.New("starting a throwaway server is not supported on " + runtime.GOOS)
}

func (s *server) stop() error { return nil }
