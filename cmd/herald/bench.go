package main

import (
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/bench"
)

func benchCmd() *cobra.Command {
	o := bench.Options{Out: os.Stdout}
	var backends string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure delivery throughput, latency and memory against a local sink",
		Long: `Start herald serve (this binary) on SQLite and on PostgreSQL, a local
sink for a CUSTOM webhook, and measure: publish/s and delivered/s with
--concurrency publishers, publish→delivered latency (p50, p99) at --rate
events per second, and the server's peak RSS; then a plain HTTP client
posting straight to the sink with the same concurrency, as the ceiling.

PostgreSQL runs on a throwaway database created on --postgres (default
HERALD_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/postgres).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Binary = exe
			o.Backends = strings.Split(backends, ",")
			_, err = bench.Run(cmd.Context(), o)
			return err
		},
	}
	pg := os.Getenv("HERALD_TEST_POSTGRES_URL")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Events, "events", 10000, "events in the throughput run")
	fl.IntVar(&o.Concurrency, "concurrency", 50, "concurrent publishers")
	fl.IntVar(&o.Rate, "rate", 50, "events per second in the latency run")
	fl.DurationVar(&o.LatencyDuration, "latency-duration", 20*time.Second, "length of the latency run")
	fl.StringVar(&o.PostgresURL, "postgres", pg, "admin URL of a PostgreSQL server for the PostgreSQL run")
	fl.StringVar(&backends, "backends", "sqlite,postgres", "which stores to measure")
	fl.StringArrayVar(&o.Env, "env", nil, "extra environment for the server, e.g. --env HERALD_WORKERS=200")
	return cmd
}
