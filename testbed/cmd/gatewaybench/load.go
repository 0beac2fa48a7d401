// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// mixKind is one kind of traffic a gateway gets; see mixes.
type mixKind string

const (
	// mixPairs: functions with the extension and an OTel SDK. A gets the Telemetry API
	// batches and the functions' root spans (with faas.invocation_id, forwarded by the
	// extension with its sandbox headers), and pairs them.
	mixPairs mixKind = "pairs"
	// mixExtension: functions with the extension and no SDK: Telemetry API batches only.
	mixExtension mixKind = "extension"
	// mixSDK: functions with an OTel SDK exporting straight to the gateway, no extension:
	// one SERVER span per invocation, with faas.invocation_id.
	mixSDK mixKind = "sdk"
	// mixFleet: a fleet of the three, a third of the invocations each, their requests
	// interleaved.
	mixFleet mixKind = "fleet"
)

// mixes are the kinds in the report's order, with what the report calls them.
var mixes = []struct {
	kind  mixKind
	title string
}{
	{mixPairs, "(1) extension + SDK spans, paired"},
	{mixExtension, "(2) extension only"},
	{mixSDK, "(3) SDK spans only, no extension"},
	{mixFleet, "(4) fleet: a third each"},
}

func (k mixKind) title() string {
	for _, m := range mixes {
		if m.kind == k {
			return m.title
		}
	}
	return string(k)
}

// parseMixes reads -mixes: kinds separated by commas.
func parseMixes(s string) ([]mixKind, error) {
	var out []mixKind
	for _, name := range strings.Split(s, ",") {
		k := mixKind(strings.TrimSpace(name))
		if k.title() == string(k) {
			return nil, fmt.Errorf("-mixes: unknown traffic %q (known: pairs, extension, sdk, fleet)", name)
		}
		out = append(out, k)
	}
	return out, nil
}

// traffic is one mix's load for both pipelines: what each gets, and what each must count.
// Both get the same invocations. A gets them as the user's functions send them; B, the
// stock pipeline, gets them as OTLP spans, one per span A makes or receives: the
// functions' own spans (without faas.instance: see stockTraces), and one SERVER span per
// invocation for what the platform's events tell A (what a stock setup needs to count
// invocations at all, those whose handler never returned included).
type traffic struct {
	// prefixes name the functions: <prefix>-fn<i>.
	prefixes []string
	a, b     side
	// invocations and spans are those of the measured load; spans counts the functions'
	// own spans and one per invocation that the extension reported, for A and B alike.
	invocations, spans int
	// fleets are A's Telemetry API loads, whose every figure is checked.
	fleets []*loadgen.Fleet
}

// side is what one pipeline gets: a warm-up, then the measured load, and how much its
// invocation counter grows with each.
type side struct {
	warm, load           []loadgen.Batch
	warmCount, loadCount float64
}

// loadShape is the size of a traffic: functions (and sandboxes each, for the extension's
// batches), invocations measured after a warm-up of warm invocations, size spans or
// invocations per request.
type loadShape struct {
	functions, sandboxes    int
	invocations, warm, size int
}

// makeTraffic builds the load of kind over functions named <prefix>-fn<i>.
func makeTraffic(kind mixKind, prefix string, s loadShape) (traffic, error) {
	switch kind {
	case mixPairs, mixExtension:
		return extensionTraffic(prefix, s, kind == mixPairs)
	case mixSDK:
		return sdkTraffic(prefix, s), nil
	case mixFleet:
		var parts []traffic
		for i, k := range []mixKind{mixPairs, mixExtension, mixSDK} {
			ps := s
			ps.functions = max(1, s.functions/3)
			ps.invocations = s.invocations / 3
			ps.warm = s.warm / 3
			if i == 0 { // the thirds add up
				ps.invocations += s.invocations % 3
				ps.warm += s.warm % 3
			}
			t, err := makeTraffic(k, prefix+"-"+string(k[0]), ps)
			if err != nil {
				return t, err
			}
			parts = append(parts, t)
		}
		return merge(parts), nil
	}
	return traffic{}, fmt.Errorf("unknown traffic %q", kind)
}

// extensionTraffic is the extension's Telemetry API batches of a generated fleet, with the
// functions' own spans when withSpans (testbed/loadgen.Config.FunctionSpans).
func extensionTraffic(prefix string, s loadShape, withSpans bool) (traffic, error) {
	fleet, err := loadgen.Generate(loadgen.Config{Prefix: prefix, Functions: s.functions, Sandboxes: s.sandboxes,
		Invocations: s.warm + s.invocations, PerBatch: s.size, Mix: benchMix, Seed: 1, FunctionSpans: withSpans})
	if err != nil {
		return traffic{}, err
	}
	head, tail, headInvocations := splitWarm(fleet.Batches, s.warm, s.functions)
	tailInvocations := fleet.Total().Invocations - headInvocations
	headSpans, tailSpans := spansIn(head), spansIn(tail)
	// B's spans for the platform's part are numbered apart from the warm-up's.
	// They have a name of their own: with the function spans' name, spanmetrics would
	// write both resources' streams to the same series, which overwrite each other.
	platform := func(n, first int) []loadgen.Batch {
		return otlpRequests(n, s.functions, prefix, spanShape{perRequest: s.size, first: first, name: "invocation"})
	}
	return traffic{
		prefixes:    []string{prefix},
		invocations: tailInvocations, spans: tailInvocations + tailSpans,
		fleets: []*loadgen.Fleet{fleet},
		a:      side{warm: head, load: tail, warmCount: float64(headInvocations), loadCount: float64(tailInvocations)},
		b: side{
			warm:      interleave(stockTraces(head), platform(headInvocations, 0)),
			load:      interleave(stockTraces(tail), platform(tailInvocations, loadFirstRequest)),
			warmCount: float64(headInvocations + headSpans), loadCount: float64(tailInvocations + tailSpans),
		},
	}, nil
}

// sdkTraffic is functions' SDK spans sent straight to the gateway: the same for A and B.
func sdkTraffic(prefix string, s loadShape) traffic {
	shape := spanShape{perRequest: s.size, requestIDs: true}
	warm := otlpRequests(s.warm, s.functions, prefix, shape)
	shape.first = loadFirstRequest
	load := otlpRequests(s.invocations, s.functions, prefix, shape)
	both := side{warm: warm, load: load, warmCount: float64(s.warm), loadCount: float64(s.invocations)}
	return traffic{prefixes: []string{prefix}, a: both, b: both, invocations: s.invocations, spans: s.invocations}
}

// merge is a fleet of the parts: warm-ups one after the other, loads interleaved.
func merge(parts []traffic) traffic {
	var t traffic
	var aLoads, bLoads [][]loadgen.Batch
	for _, p := range parts {
		t.prefixes = append(t.prefixes, p.prefixes...)
		t.fleets = append(t.fleets, p.fleets...)
		t.invocations += p.invocations
		t.spans += p.spans
		for _, pair := range []struct{ to, from *side }{{&t.a, &p.a}, {&t.b, &p.b}} {
			pair.to.warm = append(pair.to.warm, pair.from.warm...)
			pair.to.warmCount += pair.from.warmCount
			pair.to.loadCount += pair.from.loadCount
		}
		aLoads, bLoads = append(aLoads, p.a.load), append(bLoads, p.b.load)
	}
	t.a.load, t.b.load = interleave(aLoads...), interleave(bLoads...)
	return t
}

// interleave merges lists so that each is spread evenly over the result, keeping each
// list's order (a sandbox's batches must stay in order).
func interleave(lists ...[]loadgen.Batch) []loadgen.Batch {
	type placed struct {
		at float64
		b  loadgen.Batch
	}
	var all []placed
	for _, l := range lists {
		for i, b := range l {
			all = append(all, placed{at: (float64(i) + 0.5) / float64(len(l)), b: b})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at < all[j].at })
	out := make([]loadgen.Batch, len(all))
	for i, p := range all {
		out[i] = p.b
	}
	return out
}

// stockTraces is the OTLP batches among batches (the functions' own spans) as B gets
// them: without faas.instance, the sandbox's log stream. spanmetrics keeps one stream per
// resource, and remote write keeps no resource attribute that tells sandboxes apart, so
// the counts of one function's sandboxes would overwrite each other (the per-sandbox
// check shows it) and B could never count them exactly. This spares B streams: it favours
// the stock pipeline.
func stockTraces(batches []loadgen.Batch) []loadgen.Batch {
	var out []loadgen.Batch
	for _, b := range batches {
		if !b.IsTraces() {
			continue
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(b.Body); err != nil {
			panic(err) // loadgen encoded it
		}
		rss := req.Traces().ResourceSpans()
		for i := range rss.Len() {
			rss.At(i).Resource().Attributes().Remove(lambdaconv.AttrFaaSInstance)
		}
		body, err := req.MarshalProto()
		if err != nil {
			panic(err)
		}
		b.Body, b.Header = body, nil
		out = append(out, b)
	}
	return out
}

func spansIn(batches []loadgen.Batch) int {
	n := 0
	for _, b := range batches {
		n += b.Spans
	}
	return n
}

// loadFirstRequest numbers the measured load's OTLP requests apart from the warm-up's, so
// that no trace, span or request id repeats.
const loadFirstRequest = 1 << 20

// spanShape is how otlpRequests shapes its spans.
type spanShape struct {
	perRequest int
	// requestIDs sets faas.invocation_id, as the SDKs' Lambda instrumentations do: each
	// span is then one lambda_correlation may pair with the platform's invocation span.
	requestIDs bool
	// perSandbox gives each request's resource its own process.pid, as the SDKs' process
	// detectors set it in each sandbox of a function.
	perSandbox bool
	// first is the first request's number.
	first int
	// name is the spans' name; the function's name when empty.
	name string
}

// otlpRequests encodes n spans of functions' own SDKs over the given number of functions
// named <prefix>-fn<i>, shape.perRequest to a request, one function per request, as loadgen
// batches for the OTLP/HTTP traces path: one SERVER span per invocation. The resource is
// what an SDK's Lambda resource detector says, without faas.instance (the sandbox's log
// stream): spanmetrics would keep a stream per sandbox, which remote write cannot tell
// apart (see stockTraces), and B could not count exactly. Pipeline A counts them with
// lambda_metrics' sdk_spans (testbed/bench/sdk-spans.yaml), B as spanmetrics calls. The
// spans end now.
func otlpRequests(n, functions int, prefix string, shape spanShape) []loadgen.Batch {
	var out []loadgen.Batch
	end := time.Now()
	for sent, req := 0, shape.first; sent < n; req++ {
		size := min(shape.perRequest, n-sent)
		fn := fmt.Sprintf("%s-fn%d", prefix, req%functions)
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource().Attributes()
		res.PutStr(lambdaconv.AttrServiceName, fn)
		res.PutStr(lambdaconv.AttrFaaSName, fn)
		res.PutStr(lambdaconv.AttrFaaSVersion, "$LATEST")
		res.PutStr(lambdaconv.AttrCloudRegion, "eu-west-1")
		res.PutStr(lambdaconv.AttrCloudProvider, lambdaconv.CloudProviderAWS)
		res.PutStr(lambdaconv.AttrCloudPlatform, lambdaconv.CloudPlatformLambda)
		if shape.perSandbox {
			res.PutInt("process.pid", int64(1000+req))
		}
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		name := cmp.Or(shape.name, fn)
		for i := range size {
			s := spans.AppendEmpty()
			var tid [16]byte
			copy(tid[:], fmt.Sprintf("%08d%08d", req, i))
			s.SetTraceID(tid)
			s.SetSpanID(pcommon.SpanID{byte(req >> 16), byte(req >> 8), byte(req), byte(i >> 8), byte(i), 3, 4, 5})
			s.SetName(name)
			s.SetKind(ptrace.SpanKindServer)
			start := end.Add(-time.Duration(20+i%200) * time.Millisecond)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
			a := s.Attributes()
			a.PutStr(lambdaconv.AttrFaaSTrigger, lambdaconv.TriggerHTTP)
			a.PutBool(lambdaconv.AttrFaaSColdstart, false)
			if shape.requestIDs {
				// Shaped as Lambda's request ids are (a UUID), unique per request and span.
				a.PutStr(lambdaconv.AttrFaaSInvocationID, fmt.Sprintf("%08x-0000-4000-8000-%012x", req, i))
			}
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			panic(err) // pdata built above always marshals
		}
		out = append(out, loadgen.Batch{Function: fn, Slot: req, Path: loadgen.TracesPath,
			ContentType: loadgen.ContentTypeProtobuf, Body: body, Spans: size})
		sent += size
	}
	return out
}

// sendAll sends the batches as fast as the workers go (loadgen's max mode), retrying
// refusals: nothing is dropped client-side.
func sendAll(url string, workers int, batches []loadgen.Batch) (loadgen.Stats, error) {
	return loadgen.Send(context.Background(), loadgen.SendConfig{URL: url, Workers: workers, Timeout: 10 * time.Minute,
		Client: client(workers)}, batches)
}

// client keeps a connection per worker alive between requests, as each forwarder does;
// http.DefaultTransport keeps two per host, so more workers would open and close
// connections all the time, and the gateway would pay for it.
func client(workers int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
}

// benchMix is the Telemetry API load's light mix: a few cold starts and errors besides
// each sandbox's first invocation, nothing that changes how an invocation is counted.
var benchMix = loadgen.Mix{ColdStart: 0.002, Error: 0.01}

// splitWarm returns the fleet's first batches, up to at least warm invocations and at
// least one batch of each of the functions, and the rest; none without a warm-up. A slot's
// batches stay in order: the warm-up sends its first ones, and a function span's batch
// goes with the telemetry batch before it.
func splitWarm(batches []loadgen.Batch, warm, functions int) (head, tail []loadgen.Batch, headInvocations int) {
	if warm <= 0 {
		return nil, batches, 0
	}
	seen := map[string]bool{}
	i := 0
	for ; i < len(batches) && (headInvocations < warm || len(seen) < functions || batches[i].IsTraces()); i++ {
		headInvocations += batches[i].Invocations
		seen[batches[i].Function] = true
	}
	// The head's capacity ends with it: appending to it must never write over the tail.
	return batches[:i:i], batches[i:], headInvocations
}
