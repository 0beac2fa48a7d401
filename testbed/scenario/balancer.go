// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// Balancer puts a real HAProxy in front of the replicas, started from the shipped
// deploy/haproxy/haproxy.cfg (hash on Lambda-Extension-Instance-Id, consistent hashing,
// a sandbox kept where it went), and sends the whole load to it: which replica gets a
// sandbox is HAProxy's choice, not the sender's. Scenario.Workers is then the sender's
// workers in all.
type Balancer struct {
	// L4 balances TCP connections round robin instead (what an AWS Network Load Balancer
	// does; see harness.HAProxyConfig.L4), to measure what users lose with it.
	L4 bool
	// AddAt starts one more replica at this time after the load starts, in a server slot
	// that HAProxy has had down since its start; its health check brings it in. Zero: none.
	AddAt time.Duration
}

// balancerSlots is how many server lines deploy/haproxy/haproxy.cfg has.
const balancerSlots = 4

// BalanceFigures is what a scenario behind HAProxy measured.
type BalanceFigures struct {
	// Servers is what HAProxy's stats said of each slot after the load.
	Servers []harness.ServerStats
	// KilledShare is the killed replica's share of the requests HAProxy had forwarded when
	// it was killed (the loss bound's share).
	KilledShare float64
	// Spans is how many invocations had the function's own span, Unpaired how many more
	// invocations Prometheus counted without event-source labels than the truth has: their
	// function span and invocation span met on different replicas, or not in time.
	Spans    int
	Unpaired float64
	// Series is how many series of the fleet's functions Prometheus holds: each replica
	// writes its own for every function whose sandboxes it got.
	Series int
	// GatewayCPU and BalancerCPU are the replicas' and HAProxy's CPU time over the load, and
	// OtherCores what other processes used meanwhile (other jobs, Prometheus; not the
	// sender's), in cores; measured only when no replica was stopped, started or added.
	GatewayCPU, BalancerCPU time.Duration
	OtherCores              float64
	Invocations             int64
	// Idle is the replicas' CPU per second after the load, their state held: the flushes
	// that write every series again each interval, whatever the traffic.
	Idle time.Duration
}

// idleWindow is how long the replicas' idle CPU is read after the load.
const idleWindow = 5 * time.Second

// CPUPerInvocationNet is the replicas' CPU per acknowledged invocation, less their idle CPU
// over the load's duration: the work that grows with the invocations (0 when not measured).
func (f *BalanceFigures) CPUPerInvocationNet(load time.Duration) time.Duration {
	if f.Invocations == 0 || f.GatewayCPU == 0 {
		return 0
	}
	return f.CPUNet(load) / time.Duration(f.Invocations)
}

// CPUNet is the replicas' CPU over the load less their idle CPU over the load's duration.
func (f *BalanceFigures) CPUNet(load time.Duration) time.Duration {
	return f.GatewayCPU - time.Duration(float64(f.Idle)*load.Seconds())
}

// reserveSlots reserves the addresses of the balancer's server slots, before the replicas
// start on them.
func (rn *run) reserveSlots() error {
	if rn.s.Balancer == nil {
		return nil
	}
	if rn.s.Replicas+addedReplicas(rn.s) > balancerSlots {
		return fmt.Errorf("%d replicas and %d added: the balancer has %d slots", rn.s.Replicas, addedReplicas(rn.s), balancerSlots)
	}
	var err error
	rn.slots, err = harness.ReplicaAddrs(balancerSlots)
	rn.r.Balance = &BalanceFigures{}
	return err
}

func addedReplicas(s Scenario) int {
	if s.Balancer != nil && s.Balancer.AddAt > 0 {
		return 1
	}
	return 0
}

// startBalancer starts HAProxy in front of the slots, once the replicas run, and waits
// until it has checked them up; the load then goes to it only.
func (rn *run) startBalancer(ctx context.Context) error {
	lb, err := harness.StartHAProxy(harness.HAProxyConfig{
		Config: filepath.Join(rn.o.Root, harness.HAProxyConfigFile), Slots: rn.slots, L4: rn.s.Balancer.L4})
	if err != nil {
		return err
	}
	rn.lb = lb
	for i := range balancerSlots {
		status := "UP"
		if i >= rn.s.Replicas {
			status = "DOWN" // HAProxy starts a slot up until its checks fail
		}
		if err := lb.WaitServer(ctx, slotName(i), status, 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// slotName is HAProxy's name of server slot i.
func slotName(i int) string { return fmt.Sprintf("gateway%d", i+1) }

// scaleOut starts the added replica at Balancer.AddAt, in the first slot without one, and
// notes when HAProxy took it in.
func (rn *run) scaleOut(ctx context.Context, loadDone <-chan struct{}) {
	if addedReplicas(rn.s) == 0 {
		return
	}
	rn.at(rn.s.Balancer.AddAt, loadDone, func() error {
		i := rn.s.Replicas
		addrs := rn.slots[i]
		g, err := Ours.Start(rn.o.Root, harness.GatewayConfig{Bin: rn.o.Bin, RemoteWrite: rn.remoteWrite,
			InstanceID: replicaID(rn.s, i), Flush: rn.gatewayFlush, Addrs: &addrs}, rn.overlays()...)
		if err != nil {
			return fmt.Errorf("adding %s: %w", replicaID(rn.s, i), err)
		}
		rn.gwMu.Lock()
		rn.gateways = append(rn.gateways, g)
		rn.gwMu.Unlock()
		rn.event("%s started in HAProxy's slot %s", g.Config.InstanceID, slotName(i))
		if err := rn.lb.WaitServer(ctx, slotName(i), "UP", 30*time.Second); err != nil {
			return err
		}
		rn.event("HAProxy checked %s up: sandboxes new to HAProxy may go to it", slotName(i))
		return nil
	})
}

// killedShare is replica's share of the requests HAProxy forwarded so far.
func (rn *run) killedShare(ctx context.Context, replica int) (float64, error) {
	servers, err := rn.lb.Servers(ctx)
	if err != nil {
		return 0, err
	}
	var all, its int64
	for _, s := range servers {
		all += s.Served()
		if s.Name == slotName(replica) {
			its = s.Served()
		}
	}
	if all == 0 {
		return 0, nil
	}
	return float64(its) / float64(all), nil
}

// processCPU sums the CPU time of the replicas and HAProxy now.
func (rn *run) processCPU() (gateways, balancer time.Duration) {
	rn.gwMu.Lock()
	defer rn.gwMu.Unlock()
	for _, g := range rn.gateways {
		c, _ := g.CPU()
		gateways += c
	}
	balancer, _ = rn.lb.CPU()
	return gateways, balancer
}

func gatewayProcesses(gateways []*harness.Gateway) []*harness.Process {
	out := make([]*harness.Process, len(gateways))
	for i, g := range gateways {
		out[i] = g.Process
	}
	return out
}

// measureBalance reads, after the settling, HAProxy's server stats and how many
// invocations Prometheus counted without their event source beyond the truth's.
func (rn *run) measureBalance(ctx context.Context, fleet *loadgen.Fleet, promTotals func() (Totals, error)) error {
	f := rn.r.Balance
	var err error
	if f.Servers, err = rn.lb.Servers(ctx); err != nil {
		return err
	}
	count, err := rn.prom.Query(ctx, fmt.Sprintf(`count({faas_name=~"%s-.*"})`, rn.s.Fleet.Prefix), time.Time{})
	if err != nil {
		return err
	}
	if len(count) == 1 {
		f.Series = int(count[0].Value)
	}
	if f.GatewayCPU > 0 {
		before, _ := rn.processCPU()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(idleWindow):
		}
		after, _ := rn.processCPU()
		f.Idle = time.Duration(float64(after-before) / idleWindow.Seconds())
	}
	if !rn.s.Fleet.FunctionSpans {
		return nil
	}
	got, err := promTotals()
	if err != nil {
		return err
	}
	for fn, t := range fleet.Truth {
		f.Spans += t.Spans
		unlabeled := got("faas_invocations_total", map[string]string{"faas_name": fn, "faas_trigger": ""})
		f.Unpaired += max(0, unlabeled-float64(t.Invocations-t.Spans))
	}
	return nil
}

// withResends puts after a share of the Telemetry API batches a copy of it, which the
// sender sends once the batch was acknowledged: a resend whose answer was lost. The copy
// counts no invocation in the sender's figures; the gateway must not count it either. It
// returns the batches and how many copies it put.
func withResends(batches []loadgen.Batch, share float64, seed uint64) ([]loadgen.Batch, int) {
	if share <= 0 {
		return batches, 0
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]loadgen.Batch, 0, len(batches)+int(share*float64(len(batches)))+1)
	for _, b := range batches {
		out = append(out, b)
		if !b.IsTraces() && rng.Float64() < share {
			resend := b
			resend.Invocations = 0
			out = append(out, resend)
		}
	}
	return out, len(out) - len(batches)
}
