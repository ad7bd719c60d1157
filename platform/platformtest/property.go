package platformtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// CheckPayload fails t unless payload is what every platform's payload
// must be: valid UTF-8 and JSON, accepted by check (the platform's rules
// as its fake enforces them, such as slacktest.Check), and naming Herald
// (message.Brand). It reports whether all held, so that the caller can stop
// before reading a payload that is not what it expects.
func CheckPayload[R comparable](t testing.TB, name string, payload []byte, check func([]byte) R) bool {
	t.Helper()
	if !utf8.Valid(payload) || !json.Valid(payload) {
		t.Errorf("%s: payload is not valid UTF-8 JSON", name)
		return false
	}
	if r := check(payload); r != zero[R]() {
		t.Errorf("%s: the platform would refuse the payload: %v", name, r)
		return false
	}
	if !strings.Contains(string(payload), message.Brand) {
		t.Errorf("%s: the payload does not name %s", name, message.Brand)
		return false
	}
	return true
}

// Check is a property test's check of one message m: it renders m and
// fails t when the payload breaks a rule. name says which message it is.
type Check func(t *testing.T, name string, m *message.Message)

// RenderAndCheck returns the Check that renders m with render (failing t at
// once when render fails) and checks the payload with check.
func RenderAndCheck(render func(*message.Message) ([]byte, error), check func(t *testing.T, name string, m *message.Message, payload []byte)) Check {
	return func(t *testing.T, name string, m *message.Message) {
		t.Helper()
		payload, err := render(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		check(t, name, m, payload)
	}
}

// RandomMessages checks a RandomMessage for each seed below seeds (50 at
// most with -short), named "seed N", and stops at the first that fails t.
func RandomMessages(t *testing.T, seeds int, check Check) {
	t.Helper()
	RandomMessagesOf(t, seeds, RandomMessage, check)
}

// RandomMessagesOf is RandomMessages with the messages random makes, from
// rand.New(rand.NewPCG(seed, 1)).
func RandomMessagesOf(t *testing.T, seeds int, random func(*rand.Rand) *message.Message, check Check) {
	t.Helper()
	if testing.Short() {
		seeds = min(seeds, 50)
	}
	for seed := range uint64(seeds) {
		check(t, fmt.Sprintf("seed %d", seed), random(rand.New(rand.NewPCG(seed, 1))))
		if t.Failed() {
			return
		}
	}
}

// FuzzMessage is the message of a fuzz target's texts: an ERROR rollout
// (PIPELINE_FAILED) whose every field is one of them, with up to
// message.MaxFailedTasks failed tasks and "and N more" for the rest of
// tasks, and task as its keyword.
func FuzzMessage(title, desc, subject, link, details, task string, tasks int) *message.Message {
	m := &message.Message{
		Type: herald.PipelineFailed, Level: herald.LevelError, Title: title, Description: desc, Subject: subject, SubjectKind: "Rollout",
		Link: link, Project: subject, Actor: title, Environment: task, Stage: desc, Details: details, Keyword: task,
	}
	for range min(max(tasks, 0), message.MaxFailedTasks) {
		m.FailedTasks = append(m.FailedTasks, herald.FailedTask{Name: task, Database: subject, Error: desc})
	}
	m.MoreTasks = max(tasks-message.MaxFailedTasks, 0)
	return m
}

// FuzzMessages fuzzes check, named "fuzz", with the FuzzMessage of the
// fuzzer's texts. The caller adds its seeds first, with
// f.Add(title, desc, subject, link, details, task string, tasks int);
// FuzzMessages adds the empty one.
func FuzzMessages(f *testing.F, check Check) {
	f.Add("", "", "", "", "", "", 0)
	f.Fuzz(func(t *testing.T, title, desc, subject, link, details, task string, tasks int) {
		check(t, "fuzz", FuzzMessage(title, desc, subject, link, details, task, tasks))
	})
}

// Parse decodes payload into a new T, the part of a payload a test reads,
// and fails t at once when payload is not JSON of that shape.
func Parse[T any](t testing.TB, payload []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, payload)
	}
	return v
}
