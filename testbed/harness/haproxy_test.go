// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// fakeReplica stands in for a gateway on a slot's addresses: it answers every request with
// its name, and its health port with 200, until stopped. broken makes it read a request and
// close the connection without an answer, as a replica killed while it took a batch.
type fakeReplica struct {
	name     string
	servers  []*http.Server
	requests atomic.Int64
	broken   atomic.Bool
}

func startFakeReplica(t *testing.T, name string, a GatewayAddrs) *fakeReplica {
	f := &fakeReplica{name: name}
	handlers := map[string]http.Handler{
		a.HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			f.requests.Add(1)
			if f.broken.Load() {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			fmt.Fprint(w, f.name)
		}),
		a.Health: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }),
	}
	for addr, h := range handlers {
		l, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		f.servers = append(f.servers, srv)
	}
	t.Cleanup(f.stop)
	return f
}

// stop closes its listeners and connections at once, as a process killed.
func (f *fakeReplica) stop() {
	for _, s := range f.servers {
		s.Close()
	}
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
	req, err := http.NewRequest(http.MethodPost, h.URL+wire.TelemetryPath, strings.NewReader("[]"))
	require.NoError(t, err)
	if id != "" {
		req.Header.Set(wire.HeaderExtensionInstanceID, id)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "no answer"
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	return string(body)
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

	sandboxes := func(from, n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("sandbox-%d", from+i)
		}
		return ids
	}
	ids := sandboxes(0, 300)
	// Each sandbox sends as the extension does: a 502 is sent again. HAProxy answers 502
	// when a replica's connection broke under the request, which http-reuse makes possible
	// on an idle connection that a killed replica has just closed; it is not a request
	// that found no replica (those are retried by HAProxy, else answered 503).
	route := func(ids []string) map[string]string {
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
	csv := "# pxname,svname,qcur,stot,status,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,\n" +
		"lambda_telemetry,FRONTEND,,10,OPEN,0,9,0,0,1,0,\n" +
		"gateways,gateway1,0,4,UP,0,7,0,0,1,0,\n" +
		"gateways,gateway2,0,2,DOWN,,,,,,,\n" +
		"gateways,BACKEND,0,6,UP,0,7,0,0,1,0,\n"
	got, err := parseServerStats(csv)
	require.NoError(t, err)
	assert.Equal(t, []ServerStats{
		{Name: "gateway1", Status: "UP", Sessions: 4, Responses: 8},
		{Name: "gateway2", Status: "DOWN", Sessions: 2},
	}, got)
	assert.Equal(t, int64(8), got[0].Served())
	assert.Equal(t, int64(2), got[1].Served(), "mode tcp: connections")
	_, err = parseServerStats("# pxname,svname\n")
	assert.ErrorContains(t, err, `no column "status"`)
	_, err = parseServerStats("")
	assert.EqualError(t, err, "HAProxy stats: empty")
}
