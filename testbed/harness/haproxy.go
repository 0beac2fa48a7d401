// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HAProxyConfigFile is the load balancer's configuration users run, relative to the
// repository root; the harness runs that very file, its ports set through the environment.
var HAProxyConfigFile = filepath.Join("deploy", "haproxy", "haproxy.cfg")

// gatewaySlot finds the environment variables that name the shipped file's server slots.
var gatewaySlot = regexp.MustCompile(`\$\{OTELCOL_LAMBDA_GATEWAY_(\d+)`)

// HAProxyConfig says how to start HAProxy in front of gateway replicas.
type HAProxyConfig struct {
	// Bin is the HAProxy binary; default "haproxy" on PATH (make deps installs Debian's).
	Bin string
	// Config is the shipped configuration (HAProxyConfigFile under the repository root).
	Config string
	// Slots are the replicas' addresses, one per server line of Config, in order. A slot
	// whose gateway is not running is down until its gateway answers the health check.
	// Every slot must have the same health port, as replicas on their own hosts have.
	Slots []GatewayAddrs
	// L4 runs, instead of Config, what an AWS Network Load Balancer does: connections
	// balanced round robin (mode tcp), no look at the requests, no retry elsewhere; the
	// same slots, the same health checks.
	L4 bool
}

// HAProxy is a running HAProxy.
type HAProxy struct {
	*Process
	// URL is where the sandboxes send, stats where HAProxy answers /stats.
	URL, stats string
	dir        string
	// cmd is how it was started, env what it was started with: Reload starts it again so.
	cmd []string
	env []string
}

// ReplicaAddrs reserves the addresses of n gateway replicas, each on a loopback address of
// its own (127.0.0.2, 127.0.0.3, ...) and all on the same ports, as replicas on their own
// hosts: one health port serves every server line of the load balancer.
func ReplicaAddrs(n int) ([]GatewayAddrs, error) {
	for range 20 {
		free, err := FreeAddrs(4)
		if err != nil {
			return nil, err
		}
		out := make([]GatewayAddrs, n)
		ok := true
		for i := range out {
			host := fmt.Sprintf("127.0.0.%d", 2+i)
			var a [4]string
			for j, addr := range free {
				_, port, _ := net.SplitHostPort(addr)
				a[j] = net.JoinHostPort(host, port)
			}
			if !portsFree(a[:]) {
				ok = false
				break
			}
			out[i] = GatewayAddrs{HTTP: a[0], GRPC: a[1], Health: a[2], Telemetry: a[3]}
		}
		if ok {
			return out, nil
		}
	}
	return nil, errors.New("no ports free on every replica's loopback address")
}

// portsFree says whether every address can be listened on now.
func portsFree(addrs []string) bool {
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// StartHAProxy starts HAProxy on free loopback ports in front of cfg.Slots, and waits
// until it answers.
func StartHAProxy(cfg HAProxyConfig) (*HAProxy, error) {
	if cfg.Bin == "" {
		cfg.Bin = "haproxy"
	}
	path, err := exec.LookPath(cfg.Bin)
	if err != nil {
		return nil, fmt.Errorf("no HAProxy binary (make deps installs the Debian package): %w", err)
	}
	text, err := os.ReadFile(cfg.Config)
	if err != nil {
		return nil, err
	}
	if slots := len(gatewaySlot.FindAllSubmatch(text, -1)); slots != len(cfg.Slots) {
		return nil, fmt.Errorf("%s has %d server slots, %d addresses given", cfg.Config, slots, len(cfg.Slots))
	}
	free, err := FreeAddrs(3)
	if err != nil {
		return nil, err
	}
	env, err := haproxyEnv(free[0], free[1], free[2], cfg.Slots)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "otelcol-lambda-haproxy-*")
	if err != nil {
		return nil, err
	}
	config := cfg.Config
	if cfg.L4 {
		config = filepath.Join(dir, "l4.cfg")
		if err := os.WriteFile(config, []byte(l4Config(len(cfg.Slots))), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// -db: in the foreground, its log on our output.
	h := &HAProxy{URL: "http://" + free[0], stats: "http://" + free[1] + "/stats", dir: dir,
		cmd: []string{path, "-db", "-f", config}, env: append(os.Environ(), env...)}
	if err := h.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return h, nil
}

// start starts h.cmd with extra arguments and waits until it answers.
func (h *HAProxy) start(extra ...string) error {
	args := append(append([]string{}, h.cmd[1:]...), extra...)
	cmd := exec.Command(h.cmd[0], args...)
	cmd.Env = h.env
	p, err := StartProcess(cmd)
	if err != nil {
		return err
	}
	if err := p.waitReady("haproxy", h.stats, 30*time.Second); err != nil {
		_ = p.Stop(syscall.SIGTERM, 10*time.Second)
		return err
	}
	h.Process = p
	return nil
}

// Reload does what `systemctl reload haproxy` does: a new process reads the file again and
// takes over the listeners, the old one (-sf) stops listening, hands its stick table to
// the new one through the local peer, finishes its connections and exits. It waits for
// the old one's exit.
func (h *HAProxy) Reload(timeout time.Duration) error {
	old := h.Process
	if err := h.start("-sf", strconv.Itoa(old.Cmd.Process.Pid)); err != nil {
		return err
	}
	select {
	case <-old.Done():
		// What answered the start may have been the old one: the new one must answer now.
		return h.Process.waitReady("haproxy", h.stats, timeout)
	case <-time.After(timeout):
		return fmt.Errorf("the old HAProxy still runs %s after the reload:\n%s", timeout, Tail(old.Output.String(), 4096))
	}
}

// haproxyEnv puts the shipped file's frontend on bind, its stats on stats, its local peer
// on peer (HAProxy instances of parallel tests must not meet there) and its server slots
// on the replicas' addresses; it logs the replicas going down and up, not every request.
func haproxyEnv(bind, stats, peer string, slots []GatewayAddrs) ([]string, error) {
	env := []string{
		"OTELCOL_LAMBDA_LB_BIND=" + bind,
		"OTELCOL_LAMBDA_LB_STATS_BIND=" + stats,
		"OTELCOL_LAMBDA_LB_PEER_BIND=" + peer,
		"OTELCOL_LAMBDA_LB_LOG_LEVEL=notice",
	}
	healthPort := ""
	for i, s := range slots {
		_, port, err := net.SplitHostPort(s.Health)
		if err != nil {
			return nil, err
		}
		if healthPort != "" && port != healthPort {
			return nil, fmt.Errorf("slot %d's health port is %s, the others' %s: one port serves every server line", i+1, port, healthPort)
		}
		healthPort = port
		env = append(env, fmt.Sprintf("OTELCOL_LAMBDA_GATEWAY_%d=%s", i+1, s.HTTP))
	}
	return append(env, "OTELCOL_LAMBDA_HEALTH_PORT="+healthPort), nil
}

// l4Config is the Network Load Balancer's stand-in: TCP connections round robin over the
// same slots, with the same environment and health checks as the shipped file.
func l4Config(slots int) string {
	var b strings.Builder
	b.WriteString(`global
    log stdout format raw local0 "${OTELCOL_LAMBDA_LB_LOG_LEVEL}"
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 95s
    timeout server 95s
    timeout check 1s
frontend lambda_telemetry
    bind "${OTELCOL_LAMBDA_LB_BIND}"
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
    default-server check port "${OTELCOL_LAMBDA_HEALTH_PORT}" inter 1s fall 2 rise 2
`)
	for i := 1; i <= slots; i++ {
		fmt.Fprintf(&b, "    server gateway%d \"${OTELCOL_LAMBDA_GATEWAY_%d}\"\n", i, i)
	}
	b.WriteString(`frontend stats
    mode http
    bind "${OTELCOL_LAMBDA_LB_STATS_BIND}"
    stats enable
    stats uri /stats
`)
	return b.String()
}

// Stop stops HAProxy and removes its temporary files.
func (h *HAProxy) Stop() error {
	err := h.Process.Stop(syscall.SIGTERM, 10*time.Second)
	os.RemoveAll(h.dir)
	return err
}

// ServerStats is what HAProxy says of one server slot.
type ServerStats struct {
	Name   string // gateway1, gateway2, ...
	Status string // UP, DOWN, MAINT, or a transition such as "UP 1/2"
	// Sessions is the connections it got (mode tcp: what it balances); Responses the HTTP
	// answers it gave (mode http: the requests it took), 0 in mode tcp.
	Sessions, Responses int64
	// Retries is how many connections to it HAProxy tried again, Redispatches how many
	// requests it then sent to another slot instead.
	Retries, Redispatches int64
}

// Served is how many units of work the slot got: its answers in mode http, its
// connections in mode tcp.
func (s ServerStats) Served() int64 {
	if s.Responses > 0 {
		return s.Responses
	}
	return s.Sessions
}

// Servers reads the backend's server slots from HAProxy's stats (CSV).
func (h *HAProxy) Servers(ctx context.Context) ([]ServerStats, error) {
	body, status, err := fetch(ctx, h.stats+";csv")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s;csv: status %d", h.stats, status)
	}
	return parseServerStats(string(body))
}

// parseServerStats reads the server rows of the gateways backend from HAProxy's CSV
// stats, whose first line names the columns ("# pxname,svname,...").
func parseServerStats(text string) ([]ServerStats, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(text, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("HAProxy stats: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("HAProxy stats: empty")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, need := range []string{"pxname", "svname", "status", "stot", "hrsp_2xx"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("HAProxy stats: no column %q", need)
		}
	}
	number := func(row []string, name string) int64 {
		i, ok := col[name]
		if !ok || i >= len(row) {
			return 0
		}
		n, _ := strconv.ParseInt(row[i], 10, 64)
		return n
	}
	var out []ServerStats
	for _, row := range rows[1:] {
		if len(row) <= col["hrsp_2xx"] || row[col["pxname"]] != "gateways" {
			continue
		}
		if name := row[col["svname"]]; name != "BACKEND" && name != "FRONTEND" {
			s := ServerStats{Name: name, Status: row[col["status"]], Sessions: number(row, "stot"),
				Retries: number(row, "wretr"), Redispatches: number(row, "wredis")}
			for _, c := range []string{"hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"} {
				s.Responses += number(row, c)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// WaitServer waits until HAProxy reports the slot name with status (UP once its health
// checks passed, DOWN once they failed), up to timeout.
func (h *HAProxy) WaitServer(ctx context.Context, name, status string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "unknown"
	for {
		servers, err := h.Servers(ctx)
		if err == nil {
			for _, s := range servers {
				if s.Name == name {
					last = s.Status
				}
			}
			if last == status {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("HAProxy's %s is %s, not %s, after %s", name, last, status, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
