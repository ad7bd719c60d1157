package message

import "github.com/heraldhq/herald"

// emoji show each level (SPEC §2) in every platform's title line, whatever
// colours the platform has besides.
var emoji = map[herald.Level]string{
	herald.LevelInfo:    "ℹ️",
	herald.LevelWarn:    "⚠️",
	herald.LevelError:   "❌",
	herald.LevelSuccess: "✅",
}

// LevelEmoji returns the emoji that shows level l, or "" for a level
// Herald does not know.
func LevelEmoji(l herald.Level) string { return emoji[l] }
