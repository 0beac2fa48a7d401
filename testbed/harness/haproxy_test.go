// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// fakeReplica stands in for a gateway on a slot's addresses: it answers every request with
// its name, and its health port with 200, until stopped. broken makes it read a request and
// close the connection without an answer, as a replica killed while it took a batch;
// unhealthy makes its health port answer 503 while it keeps answering requests. A sandbox
// id starting with "refused-" is answered 401, as the gateway answers a wrong token.
type fakeReplica struct {
	name              string
	servers           []*http.Server
	requests          atomic.Int64
	broken, unhealthy atomic.Bool
	// accepting is held by stallAccept: no connection is accepted while it is.
	accepting sync.RWMutex
	listeners []net.Listener
}

func startFakeReplica(t *testing.T, name string, a GatewayAddrs) *fakeReplica {
	return startFakeReplicaOn(t, name, a, func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) })
}

// startStallableReplica starts a fakeReplica whose request port has an accept queue of
// one connection and closes each connection after its answer, so that every request needs
// a new connection, which stallAccept can make time out.
func startStallableReplica(t *testing.T, name string, a GatewayAddrs) *fakeReplica {
	f := startFakeReplicaOn(t, name, a, listenWithShortQueue)
	f.servers[0].SetKeepAlivesEnabled(false)
	return f
}

func startFakeReplicaOn(t *testing.T, name string, a GatewayAddrs, listen func(string) (net.Listener, error)) *fakeReplica {
	f := &fakeReplica{name: name}
	requests := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.requests.Add(1)
		if f.broken.Load() {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if strings.HasPrefix(r.Header.Get(wire.HeaderExtensionInstanceID), "refused-") {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, f.name)
	})
	health := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if f.unhealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	l, err := listen(a.HTTP)
	require.NoError(t, err)
	f.serve(&gatedListener{Listener: l, gate: &f.accepting}, requests)
	l, err = net.Listen("tcp", a.Health)
	require.NoError(t, err)
	f.serve(l, health)
	t.Cleanup(f.stop)
	return f
}

func (f *fakeReplica) serve(l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	f.servers = append(f.servers, srv)
	f.listeners = append(f.listeners, l)
}

// stop closes its listeners and connections at once, as a process killed.
func (f *fakeReplica) stop() {
	for _, s := range f.servers {
		s.Close()
	}
}

// stallAccept stops accepting connections on the request port, and fills its accept queue
// with connections of its own, so that the kernel drops new connections' SYNs: what a
// replica looks like whose accept queue is full, or whose host stalls. It returns the
// function that accepts again.
func (f *fakeReplica) stallAccept(t *testing.T) (resume func()) {
	f.accepting.Lock()
	var fillers []net.Conn
	// Once, and at the latest before stop, which waits for the stalled Accept.
	resume = sync.OnceFunc(func() {
		f.accepting.Unlock()
		for _, c := range fillers {
			c.Close()
		}
	})
	t.Cleanup(resume)
	gate := f.listeners[0].(*gatedListener)
	for len(fillers) < 16 {
		c, err := net.DialTimeout("tcp", gate.Addr().String(), 300*time.Millisecond)
		if err != nil {
			break // the queue is full
		}
		fillers = append(fillers, c)
		if len(fillers) == 1 {
			// The server was waiting in accept: it takes this one, and no other.
			require.Eventually(t, func() bool { return gate.held.Load() == 1 }, 10*time.Second, time.Millisecond)
		}
	}
	require.Less(t, len(fillers), 16, "the accept queue never filled")
	return resume
}

// gatedListener hands out the connections it accepts only while its gate is not held for
// writing; held says how many it keeps meanwhile.
type gatedListener struct {
	net.Listener
	gate *sync.RWMutex
	held atomic.Int32
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if !l.gate.TryRLock() {
		l.held.Add(1)
		l.gate.RLock()
		l.held.Add(-1)
	}
	l.gate.RUnlock()
	return c, err
}

// listenWithShortQueue listens on addr with the shortest accept queue Linux has (backlog
// 0: one connection).
func listenWithShortQueue(addr string) (net.Listener, error) {
	tcp, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	sa := &syscall.SockaddrInet4{Port: tcp.Port}
	copy(sa.Addr[:], tcp.IP.To4())
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	file := os.NewFile(uintptr(fd), addr)
	defer file.Close()
	return net.FileListener(file)
}

func startHAProxyForTest(t *testing.T, slots []GatewayAddrs, l4 bool) *HAProxy {
	if _, err := exec.LookPath("haproxy"); err != nil {
		// CI installs it (make unit needs scale-deps): a missing haproxy there is a failure.
		if os.Getenv("CI") == "true" {
			t.Fatal("no haproxy on PATH (make scale-deps installs Debian's):", err)
		}
		t.Skip("no haproxy on PATH (make scale-deps installs Debian's):", err)
	}
	h, err := StartHAProxy(HAProxyConfig{Config: filepath.Join("..", "..", HAProxyConfigFile), Slots: slots, L4: l4})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, h.Stop()) })
	return h
}

// postThrough sends one batch of sandbox id (no header when empty) and returns the name of
// the replica that answered, or what the sender got instead: a status, or no answer.
func postThrough(t *testing.T, c *http.Client, h *HAProxy, id string) string {
	var ids []string
	if id != "" {
		ids = []string{id}
	}
	status, body, err := post(t, c, h, ids...)
	if err != nil {
		return "no answer"
	}
	if status != http.StatusOK {
		return fmt.Sprintf("status %d", status)
	}
	return body
}

// post sends one batch with a Lambda-Extension-Instance-Id header line per id and returns
// the answer.
func post(t *testing.T, c *http.Client, h *HAProxy, ids ...string) (status int, body string, err error) {
	req, err := http.NewRequest(http.MethodPost, h.URL+wire.TelemetryPath, strings.NewReader("[]"))
	require.NoError(t, err)
	if len(ids) > 0 {
		req.Header[wire.HeaderExtensionInstanceID] = ids
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// stickTableUsed reads how many sandboxes HAProxy's stick table holds from its Prometheus
// metrics, the figure to alert on.
func stickTableUsed(t *testing.T, h *HAProxy) int {
	body, status, err := fetch(context.Background(), strings.TrimSuffix(h.stats, "/stats")+"/metrics")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, `haproxy_sticktable_used{name="gateways"`) {
			fields := strings.Fields(line)
			n, err := strconv.Atoi(fields[len(fields)-1])
			require.NoError(t, err, line)
			return n
		}
	}
	require.Fail(t, "no haproxy_sticktable_used for the gateways table in /metrics")
	return 0
}

// startReplicasBehindHAProxy starts HAProxy with the shipped file and a fake replica on
// each of its first n slots, and waits until HAProxy has them up.
func startReplicasBehindHAProxy(t *testing.T, n int) (*HAProxy, []GatewayAddrs, []*fakeReplica) {
	slots, err := ReplicaAddrs(4)
	require.NoError(t, err)
	h := startHAProxyForTest(t, slots, false)
	replicas := make([]*fakeReplica, n)
	for i := range replicas {
		replicas[i] = startFakeReplica(t, fmt.Sprintf("gateway%d", i+1), slots[i])
		require.NoError(t, h.WaitServer(context.Background(), replicas[i].name, "UP", 10*time.Second))
	}
	return h, slots, replicas
}

// sandboxIDs returns n sandbox ids, prefix-from to prefix-(from+n-1).
func sandboxIDs(prefix string, from, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, from+i)
	}
	return ids
}

// route sends one batch of each sandbox and returns where each went (postThrough). Each
// sandbox sends as the extension does: a 502 is sent again. HAProxy answers 502 when a
// replica's connection broke under the request, which http-reuse makes possible on an idle
// connection that a killed replica has just closed; it is not a request that found no
// replica (those are retried by HAProxy, else answered 503).
func route(t *testing.T, c *http.Client, h *HAProxy, ids []string) map[string]string {
	at := map[string]string{}
	for _, id := range ids {
		got := postThrough(t, c, h, id)
		for resends := 0; got == "status 502" && resends < 3; resends++ {
			got = postThrough(t, c, h, id)
		}
		at[id] = got
	}
	return at
}

// The shipped configuration keeps each sandbox on one replica: a replica that joins takes
// new sandboxes only, one that leaves moves only its own, one that comes back takes none
// back; a request that found no replica is taken elsewhere, and a request that a replica
// may have taken is never sent elsewhere.
func TestShippedHAProxyConfigKeepsASandboxOnOneReplica(t *testing.T) {
	slots, err := ReplicaAddrs(4)
	require.NoError(t, err)
	h := startHAProxyForTest(t, slots, false)
	ctx := context.Background()
	replicas := []*fakeReplica{startFakeReplica(t, "gateway1", slots[0]), startFakeReplica(t, "gateway2", slots[1]),
		startFakeReplica(t, "gateway3", slots[2])}
	for _, name := range []string{"gateway1", "gateway2", "gateway3"} {
		require.NoError(t, h.WaitServer(ctx, name, "UP", 10*time.Second))
	}
	require.NoError(t, h.WaitServer(ctx, "gateway4", "DOWN", 10*time.Second), "a slot without its gateway is down")
	c := &http.Client{Timeout: 10 * time.Second}

	sandboxes := func(from, n int) []string { return sandboxIDs("sandbox", from, n) }
	ids := sandboxes(0, 300)
	route := func(ids []string) map[string]string { return route(t, c, h, ids) }
	before := route(ids)
	assert.Equal(t, before, route(ids), "every sandbox on the same replica again")
	perReplica := map[string]int{}
	for _, r := range before {
		perReplica[r]++
	}
	t.Logf("sandboxes per replica: %v", perReplica)
	for _, name := range []string{"gateway1", "gateway2", "gateway3"} {
		assert.Greater(t, perReplica[name], len(ids)/10, "%s has its share", name)
	}

	noHeader := map[string]int{}
	for range 30 {
		noHeader[postThrough(t, c, h, "")]++
	}
	assert.Len(t, noHeader, 3, "requests without the header go round robin: %v", noHeader)

	// Scale out: the fourth slot's gateway starts; it takes new sandboxes, and no sandbox
	// moves.
	startFakeReplica(t, "gateway4", slots[3])
	require.NoError(t, h.WaitServer(ctx, "gateway4", "UP", 10*time.Second))
	after := route(ids)
	assert.Equal(t, before, after, "no sandbox moved")
	newcomers := 0
	for _, r := range route(sandboxes(1000, 300)) {
		if r == "gateway4" {
			newcomers++
		}
	}
	t.Logf("%d of 300 new sandboxes went to the new replica", newcomers)
	assert.Greater(t, newcomers, 30)

	// A replica killed: before the health check notices, its sandboxes' requests find no
	// connection and are retried on the next replica of the ring; the others stay.
	replicas[0].stop()
	failover := route(ids)
	for id, r := range failover {
		if after[id] == "gateway1" {
			assert.NotEqual(t, "gateway1", r, id)
			assert.NotContains(t, r, "status", "%s: a refused connection is retried elsewhere", id)
		} else {
			assert.Equal(t, after[id], r, "%s stays on its replica", id)
		}
	}
	// It comes back: the sandboxes that moved off it stay where they are now.
	require.NoError(t, h.WaitServer(ctx, "gateway1", "DOWN", 10*time.Second))
	replicas[0] = startFakeReplica(t, "gateway1", slots[0])
	require.NoError(t, h.WaitServer(ctx, "gateway1", "UP", 10*time.Second))
	assert.Equal(t, failover, route(ids), "no sandbox moved back")

	// A reload (as for a fifth server line) keeps the table: the old process hands it to
	// the new one through the local peer, and no sandbox moves back to its hash home.
	c.CloseIdleConnections() // the old process exits once its connections are closed
	require.NoError(t, h.Reload(10*time.Second))
	require.NoError(t, h.WaitServer(ctx, "gateway1", "UP", 10*time.Second))
	assert.Equal(t, failover, route(ids), "no sandbox moved back after the reload")

	// A replica that took the request and then failed to answer: not retried anywhere.
	broken := replicas[1]
	broken.broken.Store(true)
	var id string
	for i, r := range failover {
		if r == "gateway2" {
			id = i
			break
		}
	}
	require.NotEmpty(t, id)
	sent := broken.requests.Load()
	otherRequests := replicas[2].requests.Load()
	// HAProxy answers 502, or (on a reused connection) closes the sender's connection, so
	// that the sender resends.
	assert.Contains(t, []string{"status 502", "no answer"}, postThrough(t, c, h, id), "the failure reaches the sender")
	assert.Equal(t, sent+1, broken.requests.Load(), "the replica got the request once")
	assert.Equal(t, otherRequests, replicas[2].requests.Load(), "and no other replica got it")
}

// HAProxy remembers a sandbox once a replica accepted one of its requests. Requests the
// gateway refuses leave no entry, and ids the gateway would refuse HAProxy refuses itself:
// nobody who reaches HAProxy can fill the table and evict the sandboxes a failover moved.
func TestShippedHAProxyConfigRemembersOnlyAcceptedSandboxes(t *testing.T) {
	h, _, replicas := startReplicasBehindHAProxy(t, 2)
	c := &http.Client{Timeout: 10 * time.Second}

	for id, at := range route(t, c, h, sandboxIDs("sandbox", 0, 50)) {
		assert.Contains(t, []string{"gateway1", "gateway2"}, at, id)
	}
	for id, at := range route(t, c, h, sandboxIDs("refused", 0, 200)) {
		assert.Equal(t, "status 401", at, "%s: the replica refused it", id)
	}
	reached := replicas[0].requests.Load() + replicas[1].requests.Load()
	for _, ids := range [][]string{{"with space"}, {strings.Repeat("a", 129)}, {"sandbox-1,sandbox-2"},
		{"sandbox-1", "sandbox-2"}, {"sandbox-1", "sandbox-1"}, {""}, {"sändbox"}} {
		status, body, err := post(t, c, h, ids...)
		require.NoError(t, err)
		assert.Equal(t, http.StatusBadRequest, status, "%q", ids)
		var answer struct{ Error string }
		assert.NoError(t, json.Unmarshal([]byte(body), &answer), "%q: %s", ids, body)
		assert.Contains(t, answer.Error, "Lambda-Extension-Instance-Id", "%q", ids)
	}
	assert.Equal(t, reached, replicas[0].requests.Load()+replicas[1].requests.Load(),
		"HAProxy refused the invalid ids itself")
	assert.Equal(t, 50, stickTableUsed(t, h), "only the accepted sandboxes are remembered")
}

// HAProxy's own answers are JSON, as the gateway's are, except those of 2.6's HTTP/1
// parser (a malformed request, headers too slow), which ignores http-error.
func TestShippedHAProxyConfigAnswersInJSON(t *testing.T) {
	slots, err := ReplicaAddrs(4)
	require.NoError(t, err)
	h := startHAProxyForTest(t, slots, false)
	for i := range slots {
		require.NoError(t, h.WaitServer(context.Background(), fmt.Sprintf("gateway%d", i+1), "DOWN", 10*time.Second))
	}
	// Written on the connection as they are: Go's client refuses a Content-Length its body
	// does not have.
	head := "POST " + wire.TelemetryPath + " HTTP/1.1\r\nHost: gateway\r\n"
	for name, request := range map[string]string{
		"no replica up":  head + "Content-Length: 2\r\n\r\n[]",
		"body too large": head + "Content-Length: 1073741824\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
		require.NoError(t, err)
		_, err = io.WriteString(conn, request)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, name)
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		assert.GreaterOrEqual(t, resp.StatusCode, 400, name)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s: %d %s", name, resp.StatusCode, body)
		var answer struct{ Error string }
		assert.NoError(t, json.Unmarshal(body, &answer), "%s: %s", name, body)
		assert.NotEmpty(t, answer.Error, name)
		t.Logf("%s: %d %s", name, resp.StatusCode, body)
	}
}

// A replica whose health check fails while it still answers keeps its sandboxes (a check
// that flaps moves none) and takes no new ones; killed, it is left.
func TestShippedHAProxyConfigKeepsSandboxesOfAReplicaWhoseCheckFails(t *testing.T) {
	h, _, replicas := startReplicasBehindHAProxy(t, 3)
	ctx := context.Background()
	c := &http.Client{Timeout: 10 * time.Second}
	ids := sandboxIDs("sandbox", 0, 150)
	before := route(t, c, h, ids)
	flapping := replicas[1]
	for range 2 {
		flapping.unhealthy.Store(true)
		require.NoError(t, h.WaitServer(ctx, flapping.name, "DOWN", 10*time.Second))
		assert.Equal(t, before, route(t, c, h, ids), "no sandbox moved off the replica whose check failed")
		for id, at := range route(t, c, h, sandboxIDs("new", 0, 100)) {
			assert.NotEqual(t, flapping.name, at, "%s: a new sandbox went to a replica that is down", id)
		}
		flapping.unhealthy.Store(false)
		require.NoError(t, h.WaitServer(ctx, flapping.name, "UP", 10*time.Second))
		assert.Equal(t, before, route(t, c, h, ids), "no sandbox moved when it came back")
	}

	flapping.stop()
	require.NoError(t, h.WaitServer(ctx, flapping.name, "DOWN", 10*time.Second))
	start := time.Now()
	moved := 0
	for id, at := range route(t, c, h, ids) {
		if before[id] == flapping.name {
			moved++
			assert.Contains(t, []string{"gateway1", "gateway3"}, at, "%s: its replica was killed", id)
		} else {
			assert.Equal(t, before[id], at, "%s stays on its replica", id)
		}
	}
	t.Logf("%d sandboxes left the killed replica in %s", moved, time.Since(start))
	assert.Positive(t, moved)
}

// A live replica that accepts no connection for a moment (its accept queue full, its host
// stalled) keeps its sandboxes: HAProxy's connection waits for the SYN sent again.
func TestShippedHAProxyConfigWaitsForAStalledReplica(t *testing.T) {
	slots, err := ReplicaAddrs(4)
	require.NoError(t, err)
	h := startHAProxyForTest(t, slots, false)
	ctx := context.Background()
	stalled := startStallableReplica(t, "gateway1", slots[0])
	for i := range 3 {
		if i > 0 {
			startFakeReplica(t, fmt.Sprintf("gateway%d", i+1), slots[i])
		}
		require.NoError(t, h.WaitServer(ctx, fmt.Sprintf("gateway%d", i+1), "UP", 10*time.Second))
	}
	c := &http.Client{Timeout: 20 * time.Second}
	var id string
	for i, at := range route(t, c, h, sandboxIDs("sandbox", 0, 60)) {
		if at == stalled.name {
			id = i
		}
	}
	require.NotEmpty(t, id)

	resume := stalled.stallAccept(t)
	answer := make(chan string, 1)
	go func() { answer <- postThrough(t, c, h, id) }()
	// The attacker's stall: 1.3 s, past the kernel's first SYN retransmission.
	time.Sleep(1300 * time.Millisecond)
	resume()
	assert.Equal(t, stalled.name, <-answer, "answered by its own replica")
	servers, err := h.Servers(ctx)
	require.NoError(t, err)
	for _, s := range servers {
		assert.Zero(t, s.Redispatches, "%s: nothing sent elsewhere", s.Name)
	}
	assert.Equal(t, stalled.name, postThrough(t, c, h, id), "the sandbox stays")
}

// The NLB stand-in balances connections: one sandbox's requests, each on a new connection,
// spread over the replicas.
func TestL4StandInSpreadsOneSandboxOverReplicas(t *testing.T) {
	slots, err := ReplicaAddrs(4)
	require.NoError(t, err)
	h := startHAProxyForTest(t, slots, true)
	for i := range 3 {
		startFakeReplica(t, fmt.Sprintf("gateway%d", i+1), slots[i])
		require.NoError(t, h.WaitServer(context.Background(), fmt.Sprintf("gateway%d", i+1), "UP", 10*time.Second))
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[string]int{}
	for range 30 {
		seen[postThrough(t, c, h, "sandbox-1")]++
	}
	assert.Len(t, seen, 3, "one sandbox on every replica: %v", seen)
	servers, err := h.Servers(context.Background())
	require.NoError(t, err)
	var sessions int64
	for _, s := range servers {
		sessions += s.Served()
	}
	assert.Equal(t, int64(30), sessions, "the stats count every connection: %+v", servers)
}

func TestHAProxyEnvNeedsOneHealthPort(t *testing.T) {
	_, err := haproxyEnv("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", []GatewayAddrs{
		{HTTP: "127.0.0.2:10", Health: "127.0.0.2:11"}, {HTTP: "127.0.0.3:10", Health: "127.0.0.3:12"}})
	assert.ErrorContains(t, err, "slot 2's health port is 12, the others' 11")
	env, err := haproxyEnv("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", []GatewayAddrs{
		{HTTP: "127.0.0.2:10", Health: "127.0.0.2:11"}, {HTTP: "127.0.0.3:10", Health: "127.0.0.3:11"}})
	require.NoError(t, err)
	assert.Contains(t, env, "OTELCOL_LAMBDA_GATEWAY_2=127.0.0.3:10")
	assert.Contains(t, env, "OTELCOL_LAMBDA_HEALTH_PORT=11")
	assert.Contains(t, env, "OTELCOL_LAMBDA_LB_PEER_BIND=127.0.0.1:3", "the local peer on a port of its own")
}

func TestParseServerStats(t *testing.T) {
	csv := "# pxname,svname,qcur,stot,wretr,wredis,status,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,\n" +
		"lambda_telemetry,FRONTEND,,10,,,OPEN,0,9,0,0,1,0,\n" +
		"gateways,gateway1,0,4,3,1,UP,0,7,0,0,1,0,\n" +
		"gateways,gateway2,0,2,,,DOWN,,,,,,,\n" +
		"gateways,BACKEND,0,6,3,1,UP,0,7,0,0,1,0,\n"
	got, err := parseServerStats(csv)
	require.NoError(t, err)
	assert.Equal(t, []ServerStats{
		{Name: "gateway1", Status: "UP", Sessions: 4, Responses: 8, Retries: 3, Redispatches: 1},
		{Name: "gateway2", Status: "DOWN", Sessions: 2},
	}, got)
	assert.Equal(t, int64(8), got[0].Served())
	assert.Equal(t, int64(2), got[1].Served(), "mode tcp: connections")
	_, err = parseServerStats("# pxname,svname\n")
	assert.ErrorContains(t, err, `no column "status"`)
	_, err = parseServerStats("")
	assert.EqualError(t, err, "HAProxy stats: empty")
}
