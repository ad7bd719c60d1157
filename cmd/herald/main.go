// Command herald runs the Herald server and talks to one.
//
//	herald serve            run the API, the console and the delivery workers
//	herald migrate          bring the database schema up to date
//	herald version          print the version
//	herald event publish    publish an event to a Herald server (for CI pipelines)
//	herald bench            measure delivery throughput and latency
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Herald delivers project events to chat webhooks and direct messages",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), migrateCmd(), versionCmd(), eventCmd(), benchCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}
