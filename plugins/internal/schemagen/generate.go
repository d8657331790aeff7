package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names of the files kernel/schema embeds.
const (
	objectMetaFile  = "objectmeta.json"
	typeMetaFile    = "typemeta.json"
	definitionsFile = "meta_definitions.json"
)

// output maps file names to contents for the output directories.
type output struct {
	kinds map[string][]byte
	meta  map[string][]byte
	// apps holds the kinds of appsKinds, for plugins/apps/schemas.
	apps map[string][]byte
}

// generate builds every output file in memory; run writes them and the
// drift test compares them, so both see exactly the same bytes.
func generate() (*output, error) {
	objectMeta := reflect.TypeFor[metav1.ObjectMeta]()
	typeMeta := reflect.TypeFor[metav1.TypeMeta]()
	roots := []reflect.Type{objectMeta, typeMeta}
	for _, k := range append(builtinKinds(), appsKinds()...) {
		roots = append(roots, k.goType)
	}
	roots = append(roots, metaRoots()...)
	docs, err := loadDocs(packagesOf(roots))
	if err != nil {
		return nil, err
	}

	out := &output{kinds: map[string][]byte{}, meta: map[string][]byte{}, apps: map[string][]byte{}}
	for _, k := range builtinKinds() {
		s, err := newBuilder(docs, false).structSchema(k.goType, true)
		if err != nil {
			return nil, fmt.Errorf("%s/%s %s: %w", k.group, k.version, k.kind, err)
		}
		if out.kinds[fileName(k.group, k.version, k.kind)], err = encode(s); err != nil {
			return nil, err
		}
	}
	for _, k := range appsKinds() {
		s, err := newBuilder(docs, false).structSchema(k.goType, true)
		if err != nil {
			return nil, fmt.Errorf("%s/%s %s: %w", k.group, k.version, k.kind, err)
		}
		if out.apps[fileName(k.group, k.version, k.kind)], err = encode(s); err != nil {
			return nil, err
		}
	}

	om, err := newBuilder(docs, false).structSchema(objectMeta, false)
	if err != nil {
		return nil, fmt.Errorf("ObjectMeta: %w", err)
	}
	if out.meta[objectMetaFile], err = encode(om); err != nil {
		return nil, err
	}

	tm, err := newBuilder(docs, false).structSchema(typeMeta, false)
	if err != nil {
		return nil, fmt.Errorf("TypeMeta: %w", err)
	}
	if out.meta[typeMetaFile], err = encode(tm); err != nil {
		return nil, err
	}

	rb := newBuilder(docs, true)
	for _, t := range metaRoots() {
		if _, err := rb.typeSchema(t); err != nil {
			return nil, fmt.Errorf("definition of %s: %w", t, err)
		}
	}
	if out.meta[definitionsFile], err = encode(rb.defs); err != nil {
		return nil, err
	}
	return out, nil
}

// packagesOf lists the packages whose sources document the types reachable
// from roots.
func packagesOf(roots []reflect.Type) []string {
	seen := map[reflect.Type]bool{}
	pkgs := map[string]bool{}
	var visit func(t reflect.Type)
	visit = func(t reflect.Type) {
		t = deref(t)
		if seen[t] {
			return
		}
		seen[t] = true
		if t.PkgPath() != "" {
			pkgs[t.PkgPath()] = true
		}
		if specialSchema(t) != nil {
			return // only its doc comment matters, not its Go fields
		}
		switch t.Kind() {
		case reflect.Struct:
			for i := range t.NumField() {
				visit(t.Field(i).Type)
			}
		case reflect.Slice, reflect.Array:
			visit(t.Elem())
		case reflect.Map:
			visit(t.Key())
			visit(t.Elem())
		}
	}
	for _, r := range roots {
		visit(r)
	}
	return sortedKeys(pkgs)
}

// encode renders indented JSON with a final newline. Map keys are sorted by
// encoding/json and spec.Schema marshals deterministically, so equal input
// gives equal bytes.
func encode(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
