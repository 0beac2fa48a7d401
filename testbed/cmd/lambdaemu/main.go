// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command lambdaemu runs one emulated Lambda sandbox: it spawns the extensions given by
// path, acts as an echo function runtime, invokes it a few times, shuts it down, and
// prints what happened (the phases' timings, the Telemetry API events, the extensions'
// output).
//
//	go run ./testbed/cmd/lambdaemu -extension path/to/extension -env KEY=value -invocations 3
package main // import "github.com/otelcol-lambda/otelcol-lambda/testbed/cmd/lambdaemu"

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var extensions, env multiFlag
	flag.Var(&extensions, "extension", "extension executable to spawn (repeatable)")
	flag.Var(&env, "env", "KEY=value for the extensions, and for the -runtime program (repeatable)")
	invocations := flag.Int("invocations", 3, "invocations to run")
	work := flag.Duration("work", 10*time.Millisecond, "time the echo function takes")
	timeout := flag.Duration("timeout", 3*time.Second, "the function's timeout")
	freeze := flag.Bool("freeze", true, "stop the extension processes between invocations (SIGSTOP)")
	runtime := flag.String("runtime", "", `a function program to run against the Runtime API instead of the echo function, e.g. "/usr/bin/python3 testbed/functions/pyfn/bootstrap.py"`)
	handler := flag.String("handler", "handler.handler", "the function's _HANDLER, for -runtime")
	function := flag.String("function", "emulated-function", "the function's name")
	payload := flag.String("payload", `{"hello":"world"}`, "the event of every invocation")
	flag.Parse()
	if err := run(extensions, env, *invocations, *work, *timeout, *freeze, *runtime, *handler, *function, *payload); err != nil {
		fmt.Fprintln(os.Stderr, "lambdaemu:", err)
		os.Exit(1)
	}
}

func run(extensions, env []string, invocations int, work, timeout time.Duration, freeze bool, runtime, handler, function, payload string) error {
	cfg := lambdaemu.Config{
		FunctionName: function, Handler: handler,
		Timeout: timeout, FreezeProcesses: freeze, ExtensionOutput: os.Stderr,
		Runtime: lambdaemu.HandlerRuntime(func(_ context.Context, inv lambdaemu.Invocation) ([]byte, error) {
			time.Sleep(work)
			return inv.Payload, nil
		}),
	}
	if runtime != "" {
		// The function gets the extensions' -env too, as a sandbox shares its settings.
		cfg.Runtime = lambdaemu.ProcessRuntime(cfg, strings.Fields(runtime), env, os.Stderr)
	}
	for _, path := range extensions {
		// The extension runs in its own directory: a relative path would not find it.
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		cfg.Extensions = append(cfg.Extensions, lambdaemu.ExtensionSpec{Path: abs, Env: env})
	}
	emu, err := lambdaemu.New(cfg)
	if err != nil {
		return err
	}
	defer emu.Close()
	fmt.Printf("AWS_LAMBDA_RUNTIME_API=%s\n", emu.RuntimeAPI())
	init, err := emu.Start(context.Background())
	if err != nil {
		return err
	}
	fmt.Printf("init: %s\n", init.Duration)
	for _, x := range init.Extensions {
		fmt.Printf("  extension %s %v: spawn -> first next %s\n", x.Name, x.Events, x.FirstNext.Sub(x.Spawned))
	}
	for range invocations {
		res, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: []byte(payload)})
		if err != nil {
			return err
		}
		fmt.Printf("invoke %s: %s, response after %s, runtime %s, post-runtime %s\n",
			res.RequestID, res.Status, res.ResponseLatency, res.RuntimeDuration, res.PostRuntime)
		if res.Reset {
			break
		}
	}
	sr, err := emu.Shutdown(context.Background(), lambdaemu.ShutdownSpindown)
	if err != nil && !strings.Contains(err.Error(), "phase") {
		return err
	}
	for _, x := range sr.Extensions {
		fmt.Printf("shutdown %s: exited=%v killed=%v after %s (code %d)\n", x.Name, x.Exited, x.Killed, x.After, x.ExitCode)
	}
	fmt.Println("events:")
	for _, ev := range emu.Events() {
		if ev.Type != "extension" {
			fmt.Printf("  %s %s %s\n", ev.Time.Format(time.RFC3339Nano), ev.Type, ev.Record)
		}
	}
	return nil
}
