package platform

import "testing"

func TestJSON(t *testing.T) {
	got, err := JSON(struct {
		B string `json:"b"`
		A []int  `json:"a"`
	}{"<&> \u2028", []int{1}})
	if want := `{"b":"<&> \u2028","a":[1]}`; err != nil || string(got) != want {
		t.Errorf("JSON = %s, %v; want %s", got, err, want)
	}
	if _, err := JSON(func() {}); err == nil {
		t.Error("a func was encoded")
	}
}
