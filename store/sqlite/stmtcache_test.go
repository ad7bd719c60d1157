package sqlite

import "testing"

func TestIsScript(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                                 false,
		"SELECT 1;":                                false,
		"SELECT 1; ":                               false,
		"SELECT 1; -- done; really":                false,
		"-- a; b\nSELECT 1":                        false,
		"/* a; b */ SELECT ';' FROM t":             false,
		`SELECT "a;b" FROM t WHERE x = 'c;d'`:      false,
		"SELECT 1; SELECT 2":                       true,
		"CREATE TABLE a (x);\nCREATE TABLE b (y);": true,
		"SELECT 1; /* c */ SELECT 2":               true,
		"SELECT 1;\n-- trailing comment\n":         false,
	} {
		if got := isScript(q); got != want {
			t.Errorf("isScript(%q) = %v, want %v", q, got, want)
		}
	}
}
