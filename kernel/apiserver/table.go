package apiserver

import (
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"weft.dev/weft/kernel/registry"
)

// columns are NAME, the kind's own columns and AGE. AGE comes before the first
// wide-only column, where kubectl shows it for the built-in kinds (pods: ... RESTARTS
// AGE IP NODE ...).
func columns(e *registry.Entry) []metav1.TableColumnDefinition {
	cols := []metav1.TableColumnDefinition{{
		Name: "Name", Type: "string", Format: "name",
		Description: "Name must be unique within a namespace.",
	}}
	for _, c := range e.Columns() {
		cols = append(cols, metav1.TableColumnDefinition{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority})
	}
	age := metav1.TableColumnDefinition{
		Name: "Age", Type: "date",
		Description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
	}
	at := ageIndex(e)
	return append(cols[:at:at], append([]metav1.TableColumnDefinition{age}, cols[at:]...)...)
}

// ageIndex is where AGE goes among the row's cells: after NAME and the kind's
// columns up to its first wide-only one.
func ageIndex(e *registry.Entry) int {
	for i, c := range e.Columns() {
		if c.Priority > 0 {
			return i + 1
		}
	}
	return len(e.Columns()) + 1
}

// toTable renders objects as a meta.k8s.io Table for kubectl get.
func toTable(e *registry.Entry, items []unstructured.Unstructured, version, includeObject, rv, cont string) (*metav1.Table, error) {
	switch includeObject {
	case "", string(metav1.IncludeMetadata), string(metav1.IncludeNone), string(metav1.IncludeObject):
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("includeObject must be one of None, Metadata, Object, not %q", includeObject))
	}
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/" + version, Kind: "Table"},
		ListMeta:          metav1.ListMeta{ResourceVersion: rv, Continue: cont},
		ColumnDefinitions: columns(e),
		Rows:              make([]metav1.TableRow, 0, len(items)),
	}
	now := time.Now()
	for i := range items {
		row, err := tableRow(e, &items[i], version, includeObject, now)
		if err != nil {
			return nil, err
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

func tableRow(e *registry.Entry, obj *unstructured.Unstructured, version, includeObject string, now time.Time) (metav1.TableRow, error) {
	cells := make([]any, 0, len(e.Columns())+2)
	cells = append(cells, obj.GetName())
	cells = append(cells, e.Cells(obj.Object, now)...)
	age := "<unknown>"
	if ts := obj.GetCreationTimestamp(); !ts.IsZero() {
		age = duration.HumanDuration(now.Sub(ts.Time))
	}
	at := ageIndex(e)
	cells = append(cells[:at:at], append([]any{age}, cells[at:]...)...)
	row := metav1.TableRow{Cells: cells}
	var embedded any
	switch includeObject {
	case string(metav1.IncludeNone):
		return row, nil
	case string(metav1.IncludeObject):
		embedded = obj.Object
	default:
		embedded = partialMetadata(obj, version)
	}
	raw, err := json.Marshal(embedded)
	if err != nil {
		return row, apierrors.NewInternalError(err)
	}
	row.Object = runtime.RawExtension{Raw: raw}
	return row, nil
}
