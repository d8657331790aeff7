package main

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// pkgDocs is what the generator needs from one package's source: comments,
// which reflection cannot see, and string constants, which hold enum values
// and the targets of +default=ref(...).
type pkgDocs struct {
	types  map[string]*typeDoc
	consts map[string]string      // constant name -> string value
	enums  map[string][]enumValue // type name -> its typed string constants
}

// typeDoc holds the comment lines of a type and of its struct fields.
type typeDoc struct {
	lines  []string
	fields map[string][]string // Go field name -> comment lines
}

type enumValue struct {
	name, value, comment string
}

// docIndex maps an import path to its parsed docs.
type docIndex map[string]*pkgDocs

func (d docIndex) typeDoc(pkg, name string) *typeDoc {
	if p := d[pkg]; p != nil {
		if t := p.types[name]; t != nil {
			return t
		}
	}
	return &typeDoc{}
}

// loadDocs locates the packages with `go list`, which honours go.mod and the
// module cache exactly as the build does, and parses their non-test sources.
func loadDocs(pkgPaths []string) (docIndex, error) {
	sort.Strings(pkgPaths)
	args := append([]string{"list", "-f", "{{.ImportPath}} {{.Dir}}"}, pkgPaths...)
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	idx := docIndex{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		path, dir, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		docs, err := parsePackage(dir)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		idx[path] = docs
	}
	for _, p := range pkgPaths {
		if idx[p] == nil {
			return nil, fmt.Errorf("go list did not report package %s", p)
		}
	}
	return idx, nil
}

func parsePackage(dir string) (*pkgDocs, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read dir: %w", err)
	}
	docs := &pkgDocs{
		types:  map[string]*typeDoc{},
		consts: map[string]string{},
		enums:  map[string][]enumValue{},
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			switch gd.Tok {
			case token.TYPE:
				collectTypes(docs, gd)
			case token.CONST:
				collectConsts(docs, gd)
			}
		}
	}
	return docs, nil
}

func collectTypes(docs *pkgDocs, gd *ast.GenDecl) {
	for _, spec := range gd.Specs {
		ts := spec.(*ast.TypeSpec)
		doc := ts.Doc
		if doc == nil && len(gd.Specs) == 1 {
			doc = gd.Doc
		}
		td := &typeDoc{lines: commentLines(doc), fields: map[string][]string{}}
		if st, ok := ts.Type.(*ast.StructType); ok {
			for _, f := range st.Fields.List {
				lines := commentLines(f.Doc)
				for _, n := range f.Names {
					td.fields[n.Name] = lines
				}
				if len(f.Names) == 0 { // embedded: keyed by the type's name, as reflect reports it
					td.fields[embeddedName(f.Type)] = lines
				}
			}
		}
		docs.types[ts.Name.Name] = td
	}
}

func embeddedName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return embeddedName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.Ident:
		return t.Name
	}
	return ""
}

// collectConsts records string constants. Enum values are typed constants,
// `Foo Type = "x"` or `Foo = Type("x")`, like openapi-gen recognises them.
func collectConsts(docs *pkgDocs, gd *ast.GenDecl) {
	for _, spec := range gd.Specs {
		vs := spec.(*ast.ValueSpec)
		doc := vs.Doc
		if doc == nil && len(gd.Specs) == 1 {
			doc = gd.Doc
		}
		for i, n := range vs.Names {
			if i >= len(vs.Values) {
				continue
			}
			typeName := ""
			if id, ok := vs.Type.(*ast.Ident); ok {
				typeName = id.Name
			}
			val := vs.Values[i]
			if call, ok := val.(*ast.CallExpr); ok && len(call.Args) == 1 {
				if id, ok := call.Fun.(*ast.Ident); ok && typeName == "" {
					typeName = id.Name
				}
				val = call.Args[0]
			}
			lit, ok := val.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				continue
			}
			docs.consts[n.Name] = s
			if typeName != "" {
				docs.enums[typeName] = append(docs.enums[typeName], enumValue{
					name:    n.Name,
					value:   s,
					comment: strings.Join(commentLines(doc), " "),
				})
			}
		}
	}
}

// commentLines splits a comment group the way gengo does for openapi-gen:
// markers stripped, the first space after // removed, indentation kept.
func commentLines(cg *ast.CommentGroup) []string {
	if cg == nil {
		return nil
	}
	text := strings.TrimSuffix(cg.Text(), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}
