package deliver

import (
	"fmt"

	"strings"
	"time"
)

// DefaultSchedule is the retry schedule of SPEC §7: ten attempts over about
// fifteen hours.
var DefaultSchedule = Schedule{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
}

// Schedule is the delay before each retry; a delivery gets len+1 attempts
// that count toward it.
type Schedule []time.Duration

// ParseSchedule reads HERALD_RETRY_SCHEDULE: comma-separated Go durations.
// An empty string means no retries.
func ParseSchedule(s string) (Schedule, error) {
	var out Schedule
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("HERALD_RETRY_SCHEDULE: %q is not a positive Go duration such as 30s or 2m", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// Attempts is how many attempts count toward the schedule.
func (s Schedule) Attempts() int { return len(s) + 1 }

// Delay returns the wait after the n-th counted attempt failed (n from 1),
// with ±20% jitter, and false when the schedule is exhausted.
func (s Schedule) Delay(n int, random func() float64) (time.Duration, bool) {
	if n < 1 || n > len(s) {
		return 0, false
	}
	return Jitter(s[n-1], random), true
}

// Next returns the delay the schedule would use after the n-th counted
// attempt, clamped to the schedule (used for rate limits that name no
// delay), with jitter.
func (s Schedule) Next(n int, random func() float64) time.Duration {
	if len(s) == 0 {
		return Jitter(5*time.Second, random)
	}
	return Jitter(s[min(max(n, 1), len(s))-1], random)
}

// Jitter spreads d uniformly over [0.8d, 1.2d]; random returns a number in [0, 1).
func Jitter(d time.Duration, random func() float64) time.Duration {
	f := 0.8 + 0.4*random()
	return time.Duration(float64(d) * f)
}
