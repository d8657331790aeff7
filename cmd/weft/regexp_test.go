package main

import (
	"regexp"
	"strings"
)

// regexpLine reports whether some line of text matches pattern in full.
func regexpLine(text, pattern string) bool {
	re := regexp.MustCompile(`^` + pattern + `$`)
	for _, l := range strings.Split(text, "\n") {
		if re.MatchString(strings.TrimSpace(l)) {
			return true
		}
	}
	return false
}
