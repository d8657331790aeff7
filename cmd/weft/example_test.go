package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/kernel/kerneltest"
)

// The out-of-tree example plugin (testdata/example-plugin, a module that needs only
// the SDK) end to end: built, installed at runtime, its kind served to kubectl, its
// controller rendering ConfigMaps, its admission hook refusing and warning, and the
// garbage collector cascading a delete.
func TestExamplePlugin(t *testing.T) {
	kerneltest.Kubectl(t)
	s := startServer(t, t.TempDir())
	wasm := filepath.Join(t.TempDir(), "website.wasm")
	if err := os.WriteFile(wasm, kerneltest.BuildPlugin(t, "testdata/example-plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.weft("plugin", "install", "website", wasm, "--grant-requested"); err != nil || !strings.Contains(out, "version 0.1.0 running") {
		t.Fatalf("install: %v\n%s", err, out)
	}
	site := filepath.Join("..", "..", "testdata", "example-plugin", "website.yaml")
	s.kubectl("apply", "-f", site)
	waitFor(t, "website rendered", func() (string, bool) {
		out, _ := s.kubectlErr("get", "websites")
		return out, regexpLine(out, `^hello\s+Hello from a plugin\s+2\s+\S+$`)
	})
	if out := s.kubectl("get", "configmap", "hello-site", "-o", "jsonpath={.data.index\\.html}"); !strings.Contains(out, `<a href="about.html">`) {
		t.Fatalf("index.html:\n%s", out)
	}
	if out := s.kubectl("get", "site", "hello", "-o", "wide"); !strings.Contains(out, "hello-site") {
		t.Fatalf("wide:\n%s", out)
	}

	// An update re-renders.
	s.kubectl("patch", "website", "hello", "--type=merge", "-p", `{"spec":{"pages":{"news.html":"<p>new</p>"}}}`)
	waitFor(t, "new page rendered", func() (string, bool) {
		out, _ := s.kubectlErr("get", "configmap", "hello-site", "-o", "jsonpath={.data.news\\.html}")
		return out, out == "<p>new</p>"
	})

	// The admission hook refuses, as a webhook would, and warns.
	out, err := s.kubectlErr("patch", "website", "hello", "--type=merge", "-p", `{"spec":{"pages":{"x.html":"<script>alert(1)</script>","Bad Name":"x"}}}`)
	if err == nil || !strings.Contains(out, `Website.example.dev "hello" is invalid: [spec.pages[Bad Name]: Invalid value`) || !strings.Contains(out, "scripts are not allowed") {
		t.Fatalf("invalid pages: %v\n%s", err, out)
	}
	out, err = s.kubectlErr("patch", "website", "hello", "--type=merge", "-p", `{"spec":{"title":"`+strings.Repeat("long ", 20)+`"}}`)
	if err != nil || !strings.Contains(out, "Warning: spec.title is 100 characters") {
		t.Fatalf("warning: %v\n%s", err, out)
	}
	// Schema validation of the plugin's kind.
	if out, err := s.kubectlErr("patch", "website", "hello", "--type=merge", "-p", `{"spec":{"title":""}}`); err == nil || !strings.Contains(out, "spec.title") {
		t.Fatalf("empty title: %v\n%s", err, out)
	}

	// Deleting the website deletes what its controller made.
	s.kubectl("delete", "-f", site)
	waitFor(t, "configmap collected", func() (string, bool) {
		out, err := s.kubectlErr("get", "configmap", "hello-site")
		return out, err != nil && strings.Contains(out, "NotFound")
	})
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() (string, bool)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		last, ok := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: gave up; last:\n%s", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
