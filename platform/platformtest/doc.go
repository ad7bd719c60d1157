// Package platformtest is what the tests of every platform/<name> package
// share: the fixture events each platform renders (Fixture, FixtureMessage),
// the comparison of a payload with its golden file (Golden), and the core
// of a fake platform server (Recorder), which a <name>test package embeds
// and completes with the platform's own rules.
//
// It is for tests only: importing it registers the -update flag.
package platformtest
