package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"weft.dev/weft/node"
	"weft.dev/weft/node/image"
	noderuntime "weft.dev/weft/node/runtime"
)

// nodeCmd runs `weft node`: a node that joins a kernel.
func nodeCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("weft node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	join := fs.String("join", "", "the kernel's join file (DATA/join on the server); required")
	dataDir := fs.String("data-dir", defaultNodeDir(), "directory for the node's state: containerd, pods, network")
	name := fs.String("name", "", "node name (default: the host name)")
	nodeIP := fs.String("node-ip", "", "the node's address on the cluster network (default: found)")
	busybox := fs.Bool("import-busybox", true, "import a busybox image built from this machine's busybox-static as "+image.BusyboxRef)
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *join == "" {
		fmt.Fprintln(stderr, "weft node: --join FILE is required, and takes no arguments")
		fs.Usage()
		return 2
	}
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "weft node: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = node.Run(ctx, node.Config{Name: *name, DataDir: *dataDir, JoinFile: *join, NodeIP: *nodeIP, ImportBusybox: *busybox, Logger: logger})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "weft node: %v\n", err)
		return 1
	}
	return 0
}

func defaultNodeDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/weft-node"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".weft-node")
	}
	return ".weft-node"
}

const imageUsage = `Usage:
  weft image import [--data-dir DIR] [--name NODE] FILE   load an OCI or docker image tarball into a running node
`

// imageCmd runs `weft image ...`.
func imageCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprint(stderr, imageUsage)
		return 2
	}
	fs := flag.NewFlagSet("weft image import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the node's data dir (default: the one `weft up` uses for its node, else weft node's)")
	name := fs.String("name", "", "the node's name (default: the host name)")
	var file string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		if file != "" {
			fmt.Fprint(stderr, imageUsage)
			return 2
		}
		file, rest = fs.Arg(0), fs.Args()[1:]
	}
	if file == "" {
		fmt.Fprint(stderr, imageUsage)
		return 2
	}
	dir := *dataDir
	if dir == "" {
		dir = filepath.Join(defaultDataDir(), "node")
		if _, err := os.Stat(dir); err != nil {
			dir = defaultNodeDir()
		}
	}
	if *name == "" {
		h, err := os.Hostname()
		if err != nil {
			fmt.Fprintf(stderr, "weft image import: %v\n", err)
			return 1
		}
		*name = h
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(stderr, "weft image import: %v\n", err)
		return 1
	}
	defer f.Close()
	ctx := context.Background()
	socket := noderuntime.SocketPath(filepath.Join(dir, "containerd"))
	client, err := noderuntime.Connect(ctx, socket)
	if err != nil {
		fmt.Fprintf(stderr, "weft image import: the node in %s is not running (start it with weft up or weft node): %v\n", dir, err)
		return 1
	}
	defer client.Close()
	imgs, err := image.Import(ctx, client, "weft-"+*name, f)
	if err != nil {
		fmt.Fprintf(stderr, "weft image import: %s: %v\n", file, err)
		return 1
	}
	for _, img := range imgs {
		fmt.Fprintf(stdout, "imported %s\n", img.Name)
	}
	return 0
}
