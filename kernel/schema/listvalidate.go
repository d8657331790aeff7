package schema

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// smallList is the length up to which duplicates are found by comparing
// pairs, which allocates nothing; longer lists use canonical keys.
const smallList = 16

// duplicates returns, for each value that occurs more than once among n
// elements, the index of its second occurrence: the one
// apiextensions-apiserver reports. eq compares two elements, key renders
// one so that equal elements get equal keys.
func duplicates(n int, eq func(i, j int) bool, key func(i int) string) []int {
	if n < 2 {
		return nil
	}
	var dups []int
	if n <= smallList {
		for i := 1; i < n; i++ {
			earlier := 0
			for j := 0; j < i && earlier < 2; j++ {
				if eq(j, i) {
					earlier++
				}
			}
			if earlier == 1 {
				dups = append(dups, i)
			}
		}
		return dups
	}
	seen := make(map[string]int, n)
	for i := range n {
		k := key(i)
		seen[k]++
		if seen[k] == 2 {
			dups = append(dups, i)
		}
	}
	return dups
}

func duplicateElements(a []any) []int {
	return duplicates(len(a),
		func(i, j int) bool { return JSONEqual(a[i], a[j]) },
		func(i int) string { return canonicalKey(a[i]) })
}

// listSet reports duplicate elements of an x-kubernetes-list-type=set list
// as field.Duplicate, as Kubernetes does.
func (v *validator) listSet(a []any) {
	for _, i := range duplicateElements(a) {
		v.push(seg{index: i, kind: segIndex})
		v.errs = append(v.errs, field.Duplicate(v.path(), a[i]))
		v.pop()
	}
}

// listMap reports elements of an x-kubernetes-list-type=map list whose key
// fields repeat an earlier element's. An absent key field is a value of its
// own (two elements without a name collide), as in Kubernetes. The
// reported value is the key, e.g. {"name":"nginx"}, as in Kubernetes'
// messages.
func (v *validator) listMap(a []any, n *node) {
	for i, x := range a {
		if _, ok := x.(map[string]any); x != nil && !ok {
			v.push(seg{index: i, kind: segIndex})
			v.errs = append(v.errs, field.Invalid(v.path(), x, "must be an object for an array of list-type map"))
			v.pop()
			return
		}
	}
	keys := n.listMapKeys
	elem := func(i int) map[string]any {
		m, _ := a[i].(map[string]any) // nil (an unspecified element) has no keys
		return m
	}
	eq := func(i, j int) bool {
		mi, mj := elem(i), elem(j)
		for _, k := range keys {
			x, okx := mi[k]
			y, oky := mj[k]
			if okx != oky || okx && !JSONEqual(x, y) {
				return false
			}
		}
		return true
	}
	key := func(i int) string {
		var b strings.Builder
		m := elem(i)
		for _, k := range keys {
			if x, ok := m[k]; ok {
				b.WriteString(canonicalKey(x))
			}
			b.WriteByte(0)
		}
		return b.String()
	}
	for _, i := range duplicates(len(a), eq, key) {
		reported := map[string]any{}
		for _, k := range keys {
			if x, ok := elem(i)[k]; ok {
				reported[k] = x
			}
		}
		v.push(seg{index: i, kind: segIndex})
		v.errs = append(v.errs, field.Duplicate(v.path(), reported))
		v.pop()
	}
}
