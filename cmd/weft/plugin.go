package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

var pluginsGVR = schema.GroupVersionResource{Group: "weft.dev", Version: "v1alpha1", Resource: "plugins"}

const pluginUsage = `Usage:
  weft plugin install  NAME FILE [--grant-requested] [--trusted] [--grant RESOURCE:VERB,...[:NAMESPACE,...]]...
  weft plugin upgrade  NAME FILE
  weft plugin rollback NAME
  weft plugin rm       NAME
  weft plugin ls

Plugins are Plugin objects (weft.dev/v1alpha1); kubectl works on them too. The
kubeconfig is --kubeconfig, else $KUBECONFIG, else the default data dir's.
`

// pluginCmd runs `weft plugin ...`.
func pluginCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	fs := flag.NewFlagSet("weft plugin "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to use")
	grantRequested := fs.Bool("grant-requested", false, "grant every permission the plugin asks for")
	trusted := fs.Bool("trusted", false, "run the plugin without preemption (faster; a call that overruns its timeout is abandoned, not stopped)")
	var grants grantFlags
	fs.Var(&grants, "grant", "grant RESOURCE[.GROUP]:VERB,...[:NAMESPACE,...]; repeatable")
	// Flags may come after the arguments: parse, take one argument, parse the rest.
	var rest []string
	for left := args[1:]; ; {
		if err := fs.Parse(left); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		left = fs.Args()[1:]
	}
	need := map[string]int{"install": 2, "upgrade": 2, "rollback": 1, "rm": 1, "ls": 0}
	n, ok := need[args[0]]
	if !ok || len(rest) != n {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	c, err := newPluginClient(*kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "weft plugin: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch args[0] {
	case "install":
		err = c.install(ctx, stdout, rest[0], rest[1], *grantRequested, *trusted, grants)
	case "upgrade":
		err = c.upgrade(ctx, stdout, rest[0], rest[1])
	case "rollback":
		err = c.rollback(ctx, stdout, rest[0])
	case "rm":
		err = c.plugins.Delete(ctx, rest[0], metav1.DeleteOptions{})
		if err == nil {
			fmt.Fprintf(stdout, "plugin %q removed\n", rest[0])
		}
	case "ls":
		err = c.list(ctx, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "weft plugin %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// grantFlags parses --grant configmaps:get,list:default,kube-system.
type grantFlags []map[string]any

func (g *grantFlags) String() string { return fmt.Sprint(*g) }

func (g *grantFlags) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("want RESOURCE[.GROUP]:VERB,...[:NAMESPACE,...], got %q", v)
	}
	resource, group, _ := strings.Cut(parts[0], ".")
	grant := map[string]any{"resource": resource, "group": group, "verbs": toAny(strings.Split(parts[1], ","))}
	if len(parts) == 3 {
		grant["namespaces"] = toAny(strings.Split(parts[2], ","))
	}
	*g = append(*g, grant)
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

type pluginClient struct {
	plugins dynamic.ResourceInterface
	rest    *kubernetes.Clientset
}

func newPluginClient(kubeconfig string) (*pluginClient, error) {
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	if kubeconfig == "" {
		kubeconfig = defaultDataDir() + "/kubeconfig"
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return &pluginClient{
		plugins: dynamic.NewForConfigOrDie(cfg).Resource(pluginsGVR),
		rest:    kubernetes.NewForConfigOrDie(cfg),
	}, nil
}

// upload stores a module in the kernel and returns its digest.
func (c *pluginClient) upload(ctx context.Context, name, file string) (string, error) {
	wasm, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	raw, err := c.rest.Discovery().RESTClient().Put().
		AbsPath("/apis/weft.dev/v1alpha1/plugins", name, "module").
		SetHeader("Content-Type", "application/wasm").Body(wasm).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", file, err)
	}
	var out struct{ Digest string }
	if err := json.Unmarshal(raw, &out); err != nil || out.Digest == "" {
		return "", fmt.Errorf("upload %s: unexpected answer %s", file, raw)
	}
	return out.Digest, nil
}

func (c *pluginClient) install(ctx context.Context, w io.Writer, name, file string, grantRequested, trusted bool, grants grantFlags) error {
	digest, err := c.upload(ctx, name, file)
	if err != nil {
		return err
	}
	spec := map[string]any{"module": digest}
	if grantRequested {
		spec["grantRequested"] = true
	}
	if trusted {
		spec["trusted"] = true
	}
	if len(grants) > 0 {
		g := make([]any, len(grants))
		for i := range grants {
			g[i] = grants[i]
		}
		spec["grants"] = g
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "weft.dev/v1alpha1", "kind": "Plugin",
		"metadata": map[string]any{"name": name}, "spec": spec,
	}}
	if _, err := c.plugins.Create(ctx, obj, metav1.CreateOptions{FieldManager: "weft-plugin"}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("plugin %q is installed already; use weft plugin upgrade", name)
		}
		return err
	}
	return c.wait(ctx, w, name, digest)
}

func (c *pluginClient) setModule(ctx context.Context, w io.Writer, name, digest string) error {
	patch := fmt.Sprintf(`{"spec":{"module":%q}}`, digest)
	if _, err := c.plugins.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "weft-plugin"}); err != nil {
		return err
	}
	return c.wait(ctx, w, name, digest)
}

func (c *pluginClient) upgrade(ctx context.Context, w io.Writer, name, file string) error {
	digest, err := c.upload(ctx, name, file)
	if err != nil {
		return err
	}
	return c.setModule(ctx, w, name, digest)
}

func (c *pluginClient) rollback(ctx context.Context, w io.Writer, name string) error {
	obj, err := c.plugins.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	hist, _, _ := unstructured.NestedSlice(obj.Object, "status", "history")
	if len(hist) == 0 {
		return fmt.Errorf("plugin %q has no earlier version to roll back to", name)
	}
	prev, _ := hist[0].(map[string]any)
	digest, _ := prev["digest"].(string)
	return c.setModule(ctx, w, name, digest)
}

// wait waits until the kernel runs digest for the plugin, or says why not.
func (c *pluginClient) wait(ctx context.Context, w io.Writer, name, digest string) error {
	for {
		obj, err := c.plugins.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st, _ := obj.Object["status"].(map[string]any)
		msg, _ := st["message"].(string)
		switch {
		case st["digest"] == digest && st["phase"] == "Running" && msg == "":
			fmt.Fprintf(w, "plugin %q version %v running (%s)\n", name, st["version"], digest)
			return nil
		case st["phase"] == "Failed" || strings.Contains(msg, digest):
			return fmt.Errorf("%s", msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("plugin %q did not start: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *pluginClient) list(ctx context.Context, w io.Writer) error {
	list, err := c.plugins.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSTATE\tINSTANCES\tCALLS\tERRORS\tDENIED\tP99-MS\tDIGEST")
	for _, p := range list.Items {
		st, _ := p.Object["status"].(map[string]any)
		digest, _ := st["digest"].(string)
		if len(digest) > 19 {
			digest = digest[:19]
		}
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%s\n", p.GetName(), val(st["version"]), val(st["phase"]),
			val(st["instances"]), val(st["calls"]), val(st["errors"]), val(st["deniedCalls"]), val(st["p99Millis"]), digest)
	}
	return tw.Flush()
}

func val(v any) any {
	if v == nil {
		return "-"
	}
	return v
}
