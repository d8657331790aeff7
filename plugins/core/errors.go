package core

import (
	"strconv"
	"strings"

	"weft.dev/weft/sdk"
)

// fieldError is k8s.io/apimachinery's field.Error, as much of it as the messages need.
type fieldError struct {
	typ    string // "Required value", "Invalid value", ...
	field  string
	value  string // rendered bad value ("" for Required and Forbidden)
	detail string
}

// Error renders the error as field.Error does.
func (e fieldError) Error() string {
	s := e.field + ": " + e.typ
	if e.value != "" {
		s += ": " + e.value
	}
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

type errorList []fieldError

func (l *errorList) required(field, detail string) {
	*l = append(*l, fieldError{typ: "Required value", field: field, detail: detail})
}

func (l *errorList) forbidden(field, detail string) {
	*l = append(*l, fieldError{typ: "Forbidden", field: field, detail: detail})
}

func (l *errorList) invalid(field, value, detail string) {
	*l = append(*l, fieldError{typ: "Invalid value", field: field, value: value, detail: detail})
}

func (l *errorList) duplicate(field, value string) {
	*l = append(*l, fieldError{typ: "Duplicate value", field: field, value: value})
}

func (l *errorList) notFound(field, value string) {
	*l = append(*l, fieldError{typ: "Not found", field: field, value: value})
}

// notSupported lists the valid values as field.NotSupported does.
func (l *errorList) notSupported(field, value string, valid ...string) {
	var d strings.Builder
	d.WriteString("supported values: ")
	for i, v := range valid {
		if i > 0 {
			d.WriteString(", ")
		}
		d.WriteString(strconv.Quote(v))
	}
	*l = append(*l, fieldError{typ: "Unsupported value", field: field, value: value, detail: d.String()})
}

// quote renders a string bad value (%q); num an integer one.
func quote(s string) string { return strconv.Quote(s) }
func num(n int64) string    { return strconv.FormatInt(n, 10) }

// invalidResponse is apierrors.NewInvalid: 422 Invalid, with the errors aggregated
// (duplicates dropped; brackets around more than one) as Kubernetes writes them.
func invalidResponse(kind, name string, errs errorList) sdk.AdmissionResponse {
	return sdk.AdmissionResponse{Status: &sdk.Status{Code: 422, Reason: "Invalid", Message: invalidMessage(kind, name, errs)}}
}

func invalidMessage(kind, name string, errs errorList) string {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		m := e.Error()
		dup := false
		for _, s := range msgs {
			if s == m {
				dup = true
				break
			}
		}
		if !dup {
			msgs = append(msgs, m)
		}
	}
	head := kind + " " + strconv.Quote(name) + " is invalid"
	switch len(msgs) {
	case 0:
		return head
	case 1:
		return head + ": " + msgs[0]
	}
	return head + ": [" + strings.Join(msgs, ", ") + "]"
}

// Paths as field.Path prints them.
func idx(p string, i int) string    { return p + "[" + strconv.Itoa(i) + "]" }
func key(p string, k string) string { return p + "[" + k + "]" }
