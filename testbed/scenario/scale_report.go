// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// Gates says whether the scenario's figures can fail the run: an L4 balancer's runs only
// measure what users lose with it.
func (r Result) Gates() bool { return r.Scenario.Balancer == nil || !r.Scenario.Balancer.L4 }

// Fails says whether the result fails the run: a scenario that could not run (HAProxy did
// not start, a replica did not), whether it gates or only measures, or a gating one that
// did not pass.
func (r Result) Fails() bool { return r.Err != nil || (r.Gates() && !r.Passed()) }

// Verdict is the result in one word, the same in the log and the report: ERROR for a
// scenario that could not run, measured for one that only measures, else PASS or FAIL.
func (r Result) Verdict() string {
	switch {
	case r.Err != nil:
		return "ERROR"
	case !r.Gates():
		return "measured"
	}
	return passFail(r)
}

// RenderScale writes the results of scenarios behind HAProxy as testbed/results/scale.md:
// failover and scale-out behind the shipped configuration and behind an L4 balancer, then
// throughput and CPU per invocation by number of replicas (the runs without disruption).
func RenderScale(command, build string, results []Result) string {
	var b strings.Builder
	b.WriteString("# Scaling out: N gateway replicas behind HAProxy\n\n")
	fmt.Fprintf(&b, "Command: `%s`, %s.\n\n", command, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s %s/%s (shared: other jobs ran meanwhile; CPU figures compare within this run). "+
		"Gateway: %s. HAProxy: Debian's `haproxy` package.\n\n", harness.CPUModel(), runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, build)
	b.WriteString("The sandboxes (`testbed/loadgen`: per sandbox, the Telemetry API batches the extension forwards, numbered " +
		"with `Lambda-Batch-Sequence`, and the function's own OTLP spans after each, both with the sandbox's " +
		"`Lambda-Extension-Instance-Id`) send to one HAProxy only. It runs `deploy/haproxy/haproxy.cfg` itself, its " +
		"addresses set through the environment: hash on `Lambda-Extension-Instance-Id`, consistent hashing, each sandbox " +
		"kept on the replica that accepted it (a stick table written on a 200: a replica whose health check fails while it answers keeps its sandboxes, one that comes back or is added takes new sandboxes only), " +
		"health checks on each replica's `health_check` port, retries on connection failure only. Each replica is the built distribution " +
		"(`distribution/config.yaml`, 1 s flush and correlation window) on a loopback address of its own with the same " +
		"ports, as on separate hosts; all write to one real Prometheus and, through a tee, to the validating sink. The " +
		"sender resends what was not acknowledged with the same bytes and sequence number, as the extension does; where " +
		"a scenario says so it also gives up on an answer after the extension's flush timeout (200 ms) and resends.\n\n" +
		"The L4 rows run the same load through HAProxy in `mode tcp` with `balance roundrobin` and no retry (what an AWS " +
		"Network Load Balancer does: a connection goes to a target, requests are not looked at). The sender's workers " +
		"share kept-alive connections among sandboxes, so under L4 a sandbox's consecutive requests land on whichever " +
		"replica their connection goes to: what an extension gets each time its connection is opened again (a sandbox " +
		"thawed after the idle timeout, a replica restarted). An extension that keeps one connection for its whole life " +
		"stays on one replica until that connection breaks. The L4 rows are measurements, not pass or fail.\n\n" +
		"Figures: *lost* is invocations missing in Prometheus after a kill -9, with the bound (what the killed replica " +
		"may have received and not yet written: its share of the requests when it was killed, times the rate, over two " +
		"flush intervals and a second); *counted twice* is series over the truth (a resend taken by a second replica); " +
		"*unpaired* is invocations counted without their event source beyond those that had no function span (the " +
		"invocation span and the function span reached different replicas); *retried* is requests the sender made again " +
		"after an error or no answer, *resent after the answer* is batches sent a second time after their " +
		"acknowledgement (a share of them, as the extension resends a batch whose answer it lost), *recognised* is " +
		"resends a replica answered as already taken.\n\n")

	var failover, throughput []Result
	for _, r := range results {
		if r.Scenario.Disruption == nil && addedReplicas(r.Scenario) == 0 {
			throughput = append(throughput, r)
		} else {
			failover = append(failover, r)
		}
	}
	if len(failover) > 0 {
		b.WriteString("## Failover and scale-out\n\n")
		b.WriteString("| scenario | balancing | result | invocations | lost (bound) | counted twice | unpaired / with a function span | " +
			"retried / resent after the answer / recognised as resends | requests per replica (L4: connections) | series |\n" +
			"|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range failover {
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %d | %s | %d / %d / %d | %s | %d |\n", r.Scenario.Name, balancing(r),
				r.Verdict(), r.Truth.Invocations, lostFigure(r), len(r.Overcounted), unpairedFigure(r),
				r.Stats.Retried, r.Resent, r.Stats.Replayed, perReplica(r), series(r))
		}
		b.WriteString("\n")
	}
	if len(throughput) > 0 {
		b.WriteString("## Throughput and CPU by number of replicas\n\n" +
			"The same load on 1, 2 and 3 replicas, and a third of it (the *-60k* rows) on 1 and 3, which tells a cost per " +
			"replica from a cost per invocation; in max mode (each worker sends its next batch once the last was " +
			"acknowledged), no disruption; " +
			"every count exact in Prometheus and the sink, event-source labels included. CPU is user+system from /proc over " +
			"the load, summed over the replicas; *other* is the CPU other processes used meanwhile (other jobs on this shared " +
			"machine, Prometheus; not the sender), in cores; *series* is the series of the fleet's functions in Prometheus. " +
			"*Idle* is the replicas' CPU per second over 5 s after the load, their state held: each replica writes all the " +
			"series it holds at every flush (1 s here, 10 s by default), whatever the traffic, and with the hash on the " +
			"instance id every replica holds series of every function. *Less idle* takes that idle rate over the load's " +
			"duration off: the work that grows with the invocations.\n\n")
		b.WriteString("| scenario | replicas | result | invocations | load duration | invocations/s | replicas' CPU | " +
			"CPU per invocation | replicas' idle CPU | CPU per invocation less idle | HAProxy CPU per invocation | other | requests per replica | series |\n" +
			"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range throughput {
			f := r.Balance
			if f == nil {
				// It stopped before its replicas had slots: nothing measured, its error below.
				fmt.Fprintf(&b, "| %s | %d | %s |%s\n", r.Scenario.Name, r.Scenario.Replicas, r.Verdict(),
					strings.Repeat(" n/a |", 11))
				continue
			}
			perInv := func(d time.Duration) string {
				if f.Invocations == 0 {
					return "n/a"
				}
				return micros(d / time.Duration(f.Invocations))
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %s | %.0f | %s | %s | %.2f cores | %s | %s | %.2f | %s | %d |\n", r.Scenario.Name,
				r.Scenario.Replicas, r.Verdict(), r.Truth.Invocations, r.Stats.Duration.Round(10*time.Millisecond),
				float64(r.Stats.AcknowledgedInvocations)/max(r.Stats.Duration.Seconds(), 1e-9), f.GatewayCPU.Round(10*time.Millisecond),
				perInv(f.GatewayCPU), f.Idle.Seconds(), micros(f.CPUPerInvocationNet(r.Stats.Duration)), perInv(f.BalancerCPU),
				f.OtherCores, perReplica(r), f.Series)
		}
		b.WriteString("\n")
		if growth := cpuGrowth(throughput); growth != "" {
			b.WriteString(growth + "\n\n")
		}
	}
	for _, r := range results {
		fmt.Fprintf(&b, "### %s: %s\n\n%s.\n\n", r.Scenario.Name, r.Verdict(), r.Scenario.About)
		renderEnd(&b, r)
	}
	return b.String()
}

func balancing(r Result) string {
	if r.Scenario.Balancer.L4 {
		return "L4 round robin"
	}
	return "hash on instance id"
}

func lostFigure(r Result) string {
	if d := r.Scenario.Disruption; d != nil && d.Kill && !r.Scenario.WriteAheadLog {
		return fmt.Sprintf("%.0f (%.0f)", r.Lost, r.LossBound)
	}
	if len(r.PrometheusMismatches) == 0 && r.PrometheusExact > 0 {
		return "0 (exact)"
	}
	return fmt.Sprintf("not exact: %d series differ", len(r.PrometheusMismatches))
}

func unpairedFigure(r Result) string {
	if f := r.Balance; f != nil && f.Spans > 0 {
		return fmt.Sprintf("%.0f / %d (%.1f%%)", f.Unpaired, f.Spans, 100*f.Unpaired/float64(f.Spans))
	}
	return "n/a"
}

func micros(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3) }

func series(r Result) int {
	if r.Balance == nil {
		return 0
	}
	return r.Balance.Series
}

// perReplica lists the requests HAProxy sent each slot that served any.
func perReplica(r Result) string {
	if r.Balance == nil {
		return ""
	}
	var parts []string
	for _, s := range r.Balance.Servers {
		if s.Served() > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s.Name, s.Served()))
		}
	}
	return strings.Join(parts, ", ")
}

// cpuGrowth says how CPU per invocation less idle changed from 1 replica to the most
// replicas over the longest load, and, when the same replica counts also ran a shorter
// load, whether the extra CPU grew with the load or was paid once per replica. In max mode
// the load's duration grows with its invocations, so what grows with the load may be paid
// per invocation or per second each replica is busy. Empty when the runs for it are
// missing.
func cpuGrowth(throughput []Result) string {
	measured := map[[2]int]Result{} // by replicas and invocations
	most, longest := 0, 0
	for _, r := range throughput {
		if f := r.Balance; f != nil && f.GatewayCPU > 0 && r.Err == nil {
			measured[[2]int{r.Scenario.Replicas, r.Truth.Invocations}] = r
			most, longest = max(most, r.Scenario.Replicas), max(longest, r.Truth.Invocations)
		}
	}
	one, ok1 := measured[[2]int{1, longest}]
	many, okN := measured[[2]int{most, longest}]
	if !ok1 || !okN || most == 1 {
		return ""
	}
	net := func(r Result) time.Duration { return r.Balance.CPUNet(r.Stats.Duration) }
	perInv := func(r Result) time.Duration { return r.Balance.CPUPerInvocationNet(r.Stats.Duration) }
	change := float64(perInv(many)-perInv(one)) / float64(perInv(one))
	var b strings.Builder
	fmt.Fprintf(&b, "From 1 to %d replicas, the same %d invocations cost %s to %s of the replicas' CPU each, less idle (%+.0f%%)",
		most, longest, micros(perInv(one)), micros(perInv(many)), 100*change)
	if math.Abs(change) <= 0.1 {
		b.WriteString(": flat within 10%.")
	} else {
		b.WriteString(": not flat.")
	}
	shorter := 0
	for k := range measured {
		if k[0] == 1 && k[1] < longest && measured[[2]int{most, k[1]}].Balance != nil {
			shorter = max(shorter, k[1])
		}
	}
	if shorter == 0 {
		return b.String()
	}
	extraLong := net(many) - net(one)
	extraShort := net(measured[[2]int{most, shorter}]) - net(measured[[2]int{1, shorter}])
	fmt.Fprintf(&b, " The %d replicas used %s more CPU less idle than 1 over %d invocations, and %s more over %d",
		most, extraLong.Round(10*time.Millisecond), longest, extraShort.Round(10*time.Millisecond), shorter)
	if extraLong <= 0 || extraShort <= 0 {
		return b.String() + "."
	}
	load, extra := float64(longest)/float64(shorter), float64(extraLong)/float64(extraShort)
	switch {
	case extra < math.Sqrt(load):
		b.WriteString(": the extra hardly grows with the load, so it is paid once per replica, not per invocation " +
			"(every replica builds the state and series of every function it sees: the series column), " +
			"and it weighs less the longer the load.")
	case extra > load*0.8:
		b.WriteString(": the extra grows with the load, so it is paid per invocation or per second each replica " +
			"is busy (in max mode the load's duration grows with it), not once per replica.")
	default:
		b.WriteString(": the extra grows with the load, but less than the load: part of it is paid once per " +
			"replica, the rest per invocation or per second each replica is busy (in max mode the load's " +
			"duration grows with it).")
	}
	return b.String()
}
