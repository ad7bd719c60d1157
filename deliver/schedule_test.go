package deliver_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/deliver"
)

func fixed(f float64) func() float64 { return func() float64 { return f } }

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		in   string
		want deliver.Schedule
	}{
		{"5s,30s,2m", deliver.Schedule{5 * time.Second, 30 * time.Second, 2 * time.Minute}},
		{" 1m , 2h ", deliver.Schedule{time.Minute, 2 * time.Hour}},
		{"200ms", deliver.Schedule{200 * time.Millisecond}},
		{"1h30m", deliver.Schedule{90 * time.Minute}},
		{"5s,,10s,", deliver.Schedule{5 * time.Second, 10 * time.Second}},
		{"", nil},
		{" , ", nil},
	}
	for _, tt := range tests {
		got, err := deliver.ParseSchedule(tt.in)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSchedule(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseScheduleInvalid(t *testing.T) {
	for _, in := range []string{"abc", "5", "0s", "-5s", "5s,nope", "5s,0", "1x"} {
		s, err := deliver.ParseSchedule(in)
		if err == nil {
			t.Errorf("ParseSchedule(%q) = %v, want an error", in, s)
			continue
		}
		if !strings.Contains(err.Error(), "HERALD_RETRY_SCHEDULE") {
			t.Errorf("ParseSchedule(%q) error %q does not name HERALD_RETRY_SCHEDULE", in, err)
		}
	}
}

func TestAttempts(t *testing.T) {
	if got := deliver.DefaultSchedule.Attempts(); got != 10 {
		t.Errorf("DefaultSchedule.Attempts() = %d, want 10 (SPEC §7)", got)
	}
	if got := (deliver.Schedule{}).Attempts(); got != 1 {
		t.Errorf("empty schedule Attempts() = %d, want 1", got)
	}
	if got := (deliver.Schedule{time.Second, time.Minute}).Attempts(); got != 3 {
		t.Errorf("Attempts() = %d, want 3", got)
	}
}

func TestDefaultSchedule(t *testing.T) {
	want, err := deliver.ParseSchedule("5s,30s,2m,10m,30m,1h,2h,4h,8h")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(deliver.DefaultSchedule, want) {
		t.Errorf("DefaultSchedule = %v, want %v", deliver.DefaultSchedule, want)
	}
}

func TestDelay(t *testing.T) {
	s := deliver.Schedule{10 * time.Second, time.Minute, 5 * time.Minute}
	tests := []struct {
		n      int
		want   time.Duration
		wantOK bool
	}{
		{-1, 0, false},
		{0, 0, false},
		{1, 10 * time.Second, true},
		{2, time.Minute, true},
		{3, 5 * time.Minute, true},
		{4, 0, false},
		{100, 0, false},
	}
	for _, tt := range tests {
		got, ok := s.Delay(tt.n, fixed(0.5))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Delay(%d) = %v, %v; want %v, %v", tt.n, got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := (deliver.Schedule{}).Delay(1, fixed(0.5)); ok {
		t.Error("an empty schedule has a delay after the first attempt")
	}
	// Jitter applies to the delay.
	if got, _ := s.Delay(1, fixed(0)); got != 8*time.Second {
		t.Errorf("Delay(1) with random 0 = %v, want 8s", got)
	}
}

func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Second, 8 * time.Hour} {
		lo, hi := d*8/10, d*12/10
		for _, r := range []float64{0, 0.25, 0.5, 0.75, 0.9999999999} {
			got := deliver.Jitter(d, fixed(r))
			if got < lo || got > hi {
				t.Errorf("Jitter(%v, %v) = %v, outside [%v, %v]", d, r, got, lo, hi)
			}
		}
		if got := deliver.Jitter(d, fixed(0)); got != lo {
			t.Errorf("Jitter(%v, 0) = %v, want %v", d, got, lo)
		}
		if got := deliver.Jitter(d, fixed(0.5)); got != d {
			t.Errorf("Jitter(%v, 0.5) = %v, want %v", d, got, d)
		}
		if got := deliver.Jitter(d, fixed(0.9999999999)); got >= hi || got <= d {
			t.Errorf("Jitter(%v, 0.999…) = %v, want just under %v", d, got, hi)
		}
	}
}

func TestNext(t *testing.T) {
	s := deliver.Schedule{10 * time.Second, time.Minute, 5 * time.Minute}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-3, 10 * time.Second},
		{0, 10 * time.Second},
		{1, 10 * time.Second},
		{2, time.Minute},
		{3, 5 * time.Minute},
		{4, 5 * time.Minute},
		{1000, 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := s.Next(tt.n, fixed(0.5)); got != tt.want {
			t.Errorf("Next(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if got := (deliver.Schedule{}).Next(1, fixed(0.5)); got != 5*time.Second {
		t.Errorf("empty schedule Next = %v, want 5s", got)
	}
	if got := s.Next(1, fixed(0)); got != 8*time.Second {
		t.Errorf("Next(1) with random 0 = %v, want 8s (jittered)", got)
	}
}
