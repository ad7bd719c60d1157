// Package platformtest is what the tests of every platform/<name> package
// share, so that each writes down only its own platform's rules:
//
//   - the fixture events each platform renders (Fixture, FixtureMessage)
//     and random and fuzzed ones (RandomMessage, FuzzMessage);
//   - the comparison of a payload with its golden file (Golden, and
//     GoldenRenders over every event type) and the properties every payload
//     has (CheckPayload, RandomMessages, FuzzMessages);
//   - the checks of a Platform's CheckURL (CheckURLs), Type and Limits
//     (CheckTypeAndLimits), and of a Send against a fake (Send, CheckResult,
//     CheckSent, CheckAccepted, CheckSecrets, CheckUnreachable);
//   - the core of a fake platform server (Recorder, Serve, IsJSON, and
//     Window for rate limits), which a <name>test package embeds and
//     completes with the platform's own rules, and the Fake interface the
//     end-to-end tests drive every fake through;
//   - for the fake IM APIs, the IMFake interface and SendGate, which
//     counts, fails and holds their message sends.
//
// It is for tests only: importing it registers the -update flag.
package platformtest
