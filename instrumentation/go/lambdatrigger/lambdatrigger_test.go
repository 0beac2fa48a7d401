// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatrigger

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func rfc(tb testing.TB, v string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		tb.Fatal(err)
	}
	return t.UTC()
}

// samples are the AWS sample events of testdata (see its README) and what each says,
// read off the JSON by hand.
func samples(tb testing.TB) map[string]Source {
	return map[string]Source{
		"sqs-event.json": {
			Kind: KindSQS, Trigger: "pubsub", System: "aws_sqs", Destination: "SQSQueue",
			ARN: "arn:aws:sqs:us-west-2:123456789012:SQSQueue", Time: ms(1520621625029), BatchSize: 1,
		},
		// The sample's TopicArn has no resource part: no topic name.
		"sns-event.json": {
			Kind: KindSNS, Trigger: "pubsub", System: "aws.sns", ARN: "arn:aws:sns:EXAMPLE",
			Time: rfc(tb, "2015-06-03T17:43:27.123Z"), BatchSize: 1,
		},
		"apigw-request.json": {
			Kind: KindAPIGatewayREST, Trigger: "http", Route: "/{proxy+}", Time: ms(1589522469693),
		},
		"apigw-restapi-openapi-request.json": {
			Kind: KindAPIGatewayREST, Trigger: "http", Route: "/{proxy+}", Time: ms(1589522469693),
		},
		"apigw-v2-request-no-authorizer.json": {Kind: KindAPIGatewayHTTP, Trigger: "http", Time: ms(1587481701067)},
		"apigw-v2-request-iam.json":           {Kind: KindAPIGatewayHTTP, Trigger: "http", Time: ms(1583348638390)},
		"aws-docs-apigw-v2-event.json": {
			Kind: KindAPIGatewayHTTP, Trigger: "http", Route: "/nodejs-apig-function-1G3XMPLZXVXYI", Time: ms(1583817383220),
		},
		"lambda-urls-request.json": {Kind: KindFunctionURL, Trigger: "http", Time: ms(1583348638390)},
		"alb-lambda-target-request-headers-only.json": {
			Kind: KindALB, Trigger: "http", ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda-target/abcdefg",
		},
		"alb-lambda-target-request-multivalue-headers.json": {
			Kind: KindALB, Trigger: "http", ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda-target/abcdefgh",
		},
		"kinesis-event.json": {
			Kind: KindKinesis, Trigger: "pubsub", System: "aws_kinesis", Destination: "simple-stream",
			ARN: "arn:aws:kinesis:us-east-1:123456789012:stream/simple-stream", Time: ms(1480641523477), BatchSize: 2,
		},
		"kinesis-time-window-event.json": {
			Kind: KindKinesis, Trigger: "pubsub", System: "aws_kinesis", Destination: "lambda-stream",
			ARN: "arn:aws:kinesis:us-east-1:123456789012:stream/lambda-stream", Time: ms(1607497475000), BatchSize: 1,
		},
		"dynamodb-event.json": {
			Kind: KindDynamoDB, Trigger: "datasource", Collection: "Example-Table",
			ARN:  "arn:aws:dynamodb:us-east-1:123456789012:table/Example-Table/stream/2016-12-01T00:00:00.000",
			Time: ms(1480642020000), BatchSize: 2,
		},
		// The sample's ARN is a placeholder: no table name in it.
		"dynamodb-time-window-event.json": {
			Kind: KindDynamoDB, Trigger: "datasource", ARN: "stream-ARN", Time: ms(1480642020000), BatchSize: 3,
		},
		// The sample's bucket name and ARN disagree; each is read where it stands.
		"s3-event.json": {
			Kind: KindS3, Trigger: "datasource", Collection: "sourcebucket", ARN: "arn:aws:s3:::mybucket",
			Time: ms(123), BatchSize: 1,
		},
		"codepipeline-execution-state-change-event.json": {
			Kind: KindEventBridge, Trigger: "pubsub", System: "aws_eventbridge", Destination: "aws.codepipeline",
			Time: rfc(tb, "2017-04-22T03:31:47Z"),
		},
		"ecr-image-push-event.json": {
			Kind: KindEventBridge, Trigger: "pubsub", System: "aws_eventbridge", Destination: "aws.ecr",
			Time: rfc(tb, "2019-11-16T01:54:34Z"),
		},
		"aws-docs-scheduled-event.json": {
			Kind: KindSchedule, Trigger: "timer", Destination: "my-schedule",
			ARN: "arn:aws:events:us-east-1:123456789012:rule/my-schedule", Time: rfc(tb, "2019-03-01T01:23:45Z"),
		},
		"kafka-event.json": {
			Kind: KindKafka, Trigger: "pubsub", System: "kafka", Destination: "AWSKafkaTopic",
			ARN:  "arn:aws:kafka:us-west-2:012345678901:cluster/ExampleMSKCluster/e9f754c6-d29a-4430-a7db-958a19fd2c54-4",
			Time: ms(1595035749700), BatchSize: 1,
		},
		"aws-docs-self-managed-kafka-event.json": {
			Kind: KindSelfManagedKafka, Trigger: "pubsub", System: "kafka", Destination: "mytopic",
			Time: ms(1545084650987), BatchSize: 1,
		},
		// data decodes to logGroup "testLogGroup" with two events at 1440442987000 and ...001.
		"cloudwatch-logs-event.json": {
			Kind: KindCloudWatchLogs, Trigger: "datasource", Collection: "testLogGroup", Time: ms(1440442987000), BatchSize: 2,
		},
		"cognito-event-userpools-presignup.json":        {Kind: KindCognito, Trigger: "other", Collection: "<userPoolId>"},
		"cognito-event-userpools-pretokengen-v2_0.json": {Kind: KindCognito, Trigger: "other", Collection: "us-east-1_EXAMPLE"},
		// Not event sources of this package.
		"apigw-websocket-request.json":                {Kind: KindUnknown},
		"apigw-custom-auth-request-type-request.json": {Kind: KindUnknown},
		"apigw-v2-custom-authorizer-v2-request.json":  {Kind: KindUnknown},
		"cognito-event.json":                          {Kind: KindUnknown}, // Cognito Sync, not a user pool
		"kinesis-firehose-event.json":                 {Kind: KindUnknown},
	}
}

func TestClassifySamples(t *testing.T) {
	want := samples(t)
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d files in testdata, %d in the table", len(files), len(want))
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			event := sample(t, name)
			if got := Classify(event, true); got != w {
				t.Errorf("Classify\n got %+v\nwant %+v", got, w)
			}
			// The whole event given as possibly cut off: the same, without the count.
			w.BatchSize = 0
			if got := Classify(event, false); got != w {
				t.Errorf("Classify(whole=false)\n got %+v\nwant %+v", got, w)
			}
		})
	}
}

// checkPrefix checks what the first bytes of an event give against the whole event:
// the same kind or unknown, each field empty or the whole event's, no count, and a time
// no older than the whole batch's oldest (it is the oldest of the records read).
func checkPrefix(t *testing.T, whole, part Source, cut int) {
	t.Helper()
	if part.Kind == KindUnknown {
		if part != (Source{Kind: KindUnknown}) {
			t.Fatalf("cut %d: unknown with fields %+v", cut, part)
		}
		return
	}
	if part.Kind != whole.Kind {
		t.Fatalf("cut %d: kind %q, whole %q", cut, part.Kind, whole.Kind)
	}
	for _, f := range []struct{ name, part, whole string }{
		{"Trigger", part.Trigger, whole.Trigger},
		{"System", part.System, whole.System},
		{"Destination", part.Destination, whole.Destination},
		{"Collection", part.Collection, whole.Collection},
		{"Route", part.Route, whole.Route},
		{"ARN", part.ARN, whole.ARN},
	} {
		if f.part != "" && f.part != f.whole {
			t.Fatalf("cut %d: %s %q, whole %q", cut, f.name, f.part, f.whole)
		}
	}
	if !part.Time.IsZero() && part.Time.Before(whole.Time) {
		t.Fatalf("cut %d: time %v before the whole event's %v", cut, part.Time, whole.Time)
	}
	if part.BatchSize != 0 {
		t.Fatalf("cut %d: batch size %d", cut, part.BatchSize)
	}
}

func TestClassifyTruncated(t *testing.T) {
	for name, want := range samples(t) {
		t.Run(name, func(t *testing.T) {
			event := sample(t, name)
			for cut := range len(event) {
				checkPrefix(t, want, Classify(event[:cut], false), cut)
				if cut >= len(bytes.TrimRight(event, " \n")) {
					continue // only the final newline is cut: the event is whole
				}
				if got := Classify(event[:cut], true); got != (Source{Kind: KindUnknown}) {
					t.Fatalf("cut %d given as whole: %+v", cut, got)
				}
			}
			// Cut just before the closing brace, every member is read: all but the count.
			want.BatchSize = 0
			end := bytes.LastIndexByte(event, '}')
			if got := Classify(event[:end], false); got != want {
				t.Errorf("all members\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// batchOf builds an event of n copies of the AWS sample's records (the proxy's case: a
// large batch that it keeps the first 64 KiB of).
func batchOf(tb testing.TB, name string, n int) []byte {
	tb.Helper()
	var ev struct{ Records []json.RawMessage }
	if err := json.Unmarshal(sample(tb, name), &ev); err != nil {
		tb.Fatal(err)
	}
	var recs []json.RawMessage
	for len(recs) < n {
		recs = append(recs, ev.Records...)
	}
	b, err := json.Marshal(map[string]any{"Records": recs[:n]})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestClassifyLargeBatch(t *testing.T) {
	event := batchOf(t, "sqs-event.json", 500)
	whole := Classify(event, true)
	if whole.Kind != KindSQS || whole.BatchSize != 500 || whole.Destination != "SQSQueue" {
		t.Fatalf("whole: %+v", whole)
	}
	head := event[:64<<10]
	want := whole
	want.BatchSize = 0
	if got := Classify(head, false); got != want {
		t.Errorf("first 64 KiB\n got %+v\nwant %+v", got, want)
	}
	if got := Classify(head, true); got.Kind != KindUnknown {
		t.Errorf("first 64 KiB as whole: %+v", got)
	}
}

func TestClassifyEdges(t *testing.T) {
	for _, tt := range []struct {
		name, event string
		whole       bool
		want        Source
	}{
		{"empty", ``, true, Source{Kind: KindUnknown}},
		{"not an object", `[{"eventSource":"aws:sqs"}]`, true, Source{Kind: KindUnknown}},
		{"invalid after the records", `{"Records":[{"eventSource":"aws:sqs"}]}x`, true, Source{Kind: KindUnknown}},
		{"invalid before the cut", `{"Records":[{"eventSource":"aws:sqs"}],}`, false, Source{Kind: KindUnknown}},
		{"no records", `{"Records": []}`, true, Source{Kind: KindUnknown}},
		{"unknown record source", `{"Records": [{"eventSource": "aws:unknown"}]}`, true, Source{Kind: KindUnknown}},
		{"records not a list", `{"orderId": "1234", "Records": "not a list"}`, true, Source{Kind: KindUnknown}},
		{"kafka without its source", `{"records": {"t-0": []}, "eventSource": "something"}`, true, Source{Kind: KindUnknown}},
		{"version alone", `{"version": "2.0"}`, true, Source{Kind: KindUnknown}},
		{
			"the first occurrence of a key counts",
			`{"Records":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:r:1:first","eventSourceARN":"arn:aws:sqs:r:1:second"}]}`,
			true, Source{Kind: KindSQS, Trigger: "pubsub", System: "aws_sqs", Destination: "first", ARN: "arn:aws:sqs:r:1:first", BatchSize: 1},
		},
		{
			"escaped keys and values",
			`{"\u0052ecords":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:r:1:q\u00fc"}]}`,
			true, Source{Kind: KindSQS, Trigger: "pubsub", System: "aws_sqs", Destination: "qü", ARN: "arn:aws:sqs:r:1:qü", BatchSize: 1},
		},
		{
			"keys match case-insensitively",
			`{"records":[{"EVENTSOURCE":"aws:sqs","attributes":{"sentTimestamp":"1000"}}]}`,
			true, Source{Kind: KindSQS, Trigger: "pubsub", System: "aws_sqs", Time: ms(1000), BatchSize: 1},
		},
		{
			"oldest of the records",
			`{"Records":[{"eventSource":"aws:sqs","attributes":{"SentTimestamp":"3000"}},{"attributes":{"SentTimestamp":"2000"}},{"attributes":{"SentTimestamp":"x"}}]}`,
			true, Source{Kind: KindSQS, Trigger: "pubsub", System: "aws_sqs", Time: ms(2000), BatchSize: 3},
		},
		{
			"a record cut off does not count",
			`{"Records":[{"eventSource":"aws:sqs","attributes":{"SentTimestamp":"3000"}},{"attributes":{"SentTimestamp":"2000"}`,
			false, Source{Kind: KindSQS, Trigger: "pubsub", System: "aws_sqs", Time: ms(3000)},
		},
		{
			"the first record's source settles the kind before the record ends",
			`{"Records":[{"EventSource":"aws:sns","Sns":{"TopicArn":"arn:aws:sns:r:1:orders","Message":"long`,
			false, Source{Kind: KindSNS, Trigger: "pubsub", System: "aws.sns", Destination: "orders", ARN: "arn:aws:sns:r:1:orders"},
		},
		{
			"CloudWatch Logs data cut off: the kind only",
			`{"awslogs":{"data":"H4sIAAAAAAAAAHWPwQqCQBCGX0Xm7EFtK+smZBEUgXoLCdMhFtKV3akI8d0b`,
			false, Source{Kind: KindCloudWatchLogs, Trigger: "datasource"},
		},
		{"CloudWatch Logs data not base64", `{"awslogs":{"data":"!!"}}`, true, Source{Kind: KindCloudWatchLogs, Trigger: "datasource"}},
		{
			"HTTP API route",
			`{"version":"2.0","routeKey":"GET /orders/{id}","rawPath":"/orders/42","requestContext":{"timeEpoch":1000}}`,
			true, Source{Kind: KindAPIGatewayHTTP, Trigger: "http", Route: "/orders/{id}", Time: ms(1000)},
		},
		{
			"scheduled rule on a bus",
			`{"detail-type":"Scheduled Event","source":"aws.events","resources":["arn:aws:events:r:1:rule/bus/nightly"]}`,
			true, Source{Kind: KindSchedule, Trigger: "timer", Destination: "nightly", ARN: "arn:aws:events:r:1:rule/bus/nightly"},
		},
		{"a deep object", `{"a":` + strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth) + `}`, true, Source{Kind: KindUnknown}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify([]byte(tt.event), tt.whole); got != tt.want {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEpoch(t *testing.T) {
	for _, tt := range []struct {
		in   string
		unit time.Duration
		want time.Time
	}{
		{`1480641523.477`, time.Second, ms(1480641523477)}, // as a float64, 476 ms
		{`1607497475.000`, time.Second, ms(1607497475000)},
		{`"1520621625029"`, time.Millisecond, ms(1520621625029)},
		{`1.5e3`, time.Second, ms(1500000)},
		{`0`, time.Second, time.Time{}},
		{`-5`, time.Second, time.Time{}},
		{`"12x"`, time.Second, time.Time{}},
		{`99999999999999999999`, time.Millisecond, time.Time{}},
	} {
		r := reader{b: []byte(tt.in + ",")}
		if got := epoch(r.scalar(1), tt.unit); !got.Equal(tt.want) {
			t.Errorf("epoch(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFunctionURLDomain(t *testing.T) {
	for d, want := range map[string]bool{
		"abcdefg.lambda-url.us-west-2.on.aws":    true,
		"<url-id>.lambda-url.us-west-2.on.aws":   true,
		"id.execute-api.us-east-1.amazonaws.com": false,
		".lambda-url.us-west-2.on.aws":           false,
		"a.lambda-url..on.aws":                   false,
		"a.lambda-url.on.aws":                    false,
		"a.lambda-url.x.y.on.aws":                false,
	} {
		if got := isFunctionURLDomain([]byte(d)); got != want {
			t.Errorf("%q: %v", d, got)
		}
	}
}

// validate runs the reader over b as one value, as Classify's walk does.
func validate(b []byte) bool {
	// A top-level number at the end of input is whole (events are objects, so Classify
	// never meets one): a space ends it.
	r := reader{b: append(b[:len(b):len(b)], ' ')}
	r.skip(0)
	return r.ok() && r.end()
}

func TestValidate(t *testing.T) {
	for _, in := range []string{
		`{}`, ` {"a" : [1, -0.5e+3, true, false, null, "\u00e9\n"]} `, `"x"`, `0`, `[]`,
		`{`, `{"a"}`, `{"a":1,}`, `[1,]`, `[01]`, `"\x"`, "\"\x01\"", `tru`, `{"a":1}}`, `-`, `1.`, `1e`, `{"a":1 "b":2}`,
		strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth),
		strings.Repeat(`[`, maxDepth+1) + strings.Repeat(`]`, maxDepth+1),
	} {
		if got, want := validate([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("%.40q: valid %v, encoding/json says %v", in, got, want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for name := range samples(f) {
		f.Add(sample(f, name))
	}
	// Invalid UTF-8, raw and escaped, in the strings Classify returns.
	f.Add([]byte(`{"Records":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:r:1:q` + "\xff" + `x"}]}`))
	f.Add([]byte(`{"version":"2.0","routeKey":"GET /\udc00` + "\xe2\x82" + `","requestContext":{}}`))
	f.Fuzz(func(t *testing.T, event []byte) {
		valid := json.Valid(event)
		if validate(event) != valid {
			t.Fatalf("valid %v, encoding/json says %v", !valid, valid)
		}
		whole := Classify(event, true)
		checkUTF8(t, whole, "whole")
		if whole.Kind == KindUnknown && whole != (Source{Kind: KindUnknown}) {
			t.Fatalf("unknown with fields %+v", whole)
		}
		if !valid {
			if whole.Kind != KindUnknown {
				t.Fatalf("invalid JSON classified %+v", whole)
			}
			// The first bytes of invalid JSON may be the first bytes of an event: no check.
			return
		}
		all := Classify(event, false)
		want := whole
		want.BatchSize = 0
		if all != want {
			t.Fatalf("whole=false\n got %+v\nwant %+v", all, want)
		}
		for k := range 16 {
			cut := len(event) * k / 16
			part := Classify(event[:cut], false)
			checkUTF8(t, part, fmt.Sprintf("cut %d", cut))
			checkPrefix(t, whole, part, cut)
		}
	})
}

func benchmarkSQS(b *testing.B, size int) {
	one := len(batchOf(b, "sqs-event.json", 1))
	event := batchOf(b, "sqs-event.json", size/one)
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	for b.Loop() {
		if Classify(event, true).Kind != KindSQS {
			b.Fatal("not SQS")
		}
	}
}

func BenchmarkClassifySQS10KB(b *testing.B) { benchmarkSQS(b, 10<<10) }

func BenchmarkClassifySQS64KB(b *testing.B) { benchmarkSQS(b, 64<<10) }

func TestSpecial(t *testing.T) {
	for _, filler := range []byte{' ', 'a', 0x7f, 0x80, 0xff} {
		var w [8]byte
		for i := range w {
			w[i] = filler
		}
		if special(binary.LittleEndian.Uint64(w[:])) {
			t.Errorf("eight %#x: special", filler)
		}
		for pos := range w {
			for c := range 256 {
				w[pos] = byte(c)
				if !plain[c] && !special(binary.LittleEndian.Uint64(w[:])) {
					t.Errorf("%#x at %d among %#x: not special", c, pos, filler)
				}
			}
			w[pos] = filler
		}
	}
}

// escapedA is "a" written as a JSON escape: a key or value spelt so makes the classifier
// decode it before it can compare it.
const escapedA = `\u0061`

// repeatedMember is an event of about size bytes: head, member as many times as fit, tail.
func repeatedMember(head, member, tail string, size int) []byte {
	var b bytes.Buffer
	b.WriteString(head)
	for b.Len()+len(member)+len(tail) <= size {
		b.WriteString(member)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// escapedShapes are events whose keys (or a value compared again at every member) are
// escaped, each at a place where the classifier compares them with the names it knows.
var escapedShapes = []struct{ name, head, member, tail string }{
	{"top-level keys", `{`, `"` + escapedA + `":0,`, `"z":0}`},
	{"keys of the first record", `{"Records":[{"eventSource":"aws:sqs",`, `"` + escapedA + `":0,`, `"z":0}]}`},
	{"keys of later records", `{"Records":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:r:1:q"}`, `,{"` + escapedA + `":0}`, `]}`},
	{"keys of requestContext", `{"requestContext":{`, `"` + escapedA + `":0,`, `"z":0}}`},
	{"long keys", `{`, `"` + strings.Repeat(escapedA, 64) + `":0,`, `"z":0}`},
	{"Kafka's eventSource, compared after each member", `{"records":{},"eventSource":"` + escapedA + `",`, `"a":0,`, `"z":0}`},
	{"version, compared after each member", `{"requestContext":{},"version":"` + escapedA + `",`, `"a":0,`, `"z":0}`},
	{"the first record's eventSource, looked up at each eventSource key", `{"Records":[{"eventSource":"` + escapedA + `",`, `"eventSource":0,`, `"z":0}]}`},
}

// An escaped key is decoded to be compared; the classifier must not allocate for each
// comparison: events of a million escapes cost it no more allocations than their
// unescaped twins.
func TestClassifyEscapedKeysAllocs(t *testing.T) {
	for _, shape := range escapedShapes {
		t.Run(shape.name, func(t *testing.T) {
			escaped := repeatedMember(shape.head, shape.member, shape.tail, 1<<20)
			plain := bytes.ReplaceAll(escaped, []byte(escapedA), []byte("a"))
			var got, want Source
			plainAllocs := testing.AllocsPerRun(1, func() { want = Classify(plain, true) })
			escapedAllocs := testing.AllocsPerRun(1, func() { got = Classify(escaped, true) })
			if got != want {
				t.Fatalf("escaped\n got %+v\nwant %+v (its unescaped twin)", got, want)
			}
			if escapedAllocs > plainAllocs {
				t.Errorf("%d bytes: %v allocations with escapes, %v without", len(escaped), escapedAllocs, plainAllocs)
			}
		})
	}
}

func BenchmarkClassifyKeys1MB(b *testing.B) {
	escaped := repeatedMember(`{`, `"`+escapedA+`":0,`, `"z":0}`, 1<<20)
	for name, event := range map[string][]byte{
		"plain":   bytes.ReplaceAll(escaped, []byte(escapedA), []byte("a")),
		"escaped": escaped,
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(event)))
			b.ReportAllocs()
			for b.Loop() {
				if Classify(event, true).Kind != KindUnknown {
					b.Fatal("classified")
				}
			}
		})
	}
}

// checkUTF8 fails the test if a string of s is not valid UTF-8: an OTLP exporter refuses a
// whole batch for one such attribute.
func checkUTF8(t *testing.T, s Source, what string) {
	t.Helper()
	for _, f := range []struct{ name, value string }{
		{"Kind", string(s.Kind)}, {"Trigger", s.Trigger}, {"System", s.System},
		{"Destination", s.Destination}, {"Collection", s.Collection}, {"Route", s.Route}, {"ARN", s.ARN},
	} {
		if !utf8.ValidString(f.value) {
			t.Fatalf("%s: %s %q is not valid UTF-8", what, f.name, f.value)
		}
	}
}

// gzipBase64 is a CloudWatch Logs subscription's data for payload.
func gzipBase64(tb testing.TB, payload string) string {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(payload)); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestClassifyInvalidUTF8(t *testing.T) {
	// Each invalid byte becomes U+FFFD, as encoding/json decodes it: a byte that cannot
	// start a sequence, a cut-off sequence, an overlong one, a surrogate written as UTF-8,
	// and a lone surrogate escape.
	for _, bad := range []string{"\xff", "\xe2\x82", "\xc0\xaf", "\xed\xa0\x80", `\ud800`} {
		var fixed string // what encoding/json makes of it
		if err := json.Unmarshal([]byte(`"`+bad+`"`), &fixed); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name, event string
			want        Source
		}{
			{
				"SQS queue", `{"Records":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:r:1:q` + bad + `x"}]}`,
				Source{Kind: KindSQS, Trigger: "pubsub", System: "aws_sqs", Destination: "q" + fixed + "x", ARN: "arn:aws:sqs:r:1:q" + fixed + "x", BatchSize: 1},
			},
			{
				"SNS topic", `{"Records":[{"EventSource":"aws:sns","Sns":{"TopicArn":"arn:aws:sns:r:1:t` + bad + `"}}]}`,
				Source{Kind: KindSNS, Trigger: "pubsub", System: "aws.sns", Destination: "t" + fixed, ARN: "arn:aws:sns:r:1:t" + fixed, BatchSize: 1},
			},
			{
				"DynamoDB table", `{"Records":[{"eventSource":"aws:dynamodb","eventSourceARN":"arn:aws:dynamodb:r:1:table/` + bad + `/stream/x"}]}`,
				Source{Kind: KindDynamoDB, Trigger: "datasource", Collection: fixed, ARN: "arn:aws:dynamodb:r:1:table/" + fixed + "/stream/x", BatchSize: 1},
			},
			{
				"S3 bucket", `{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b` + bad + `","arn":"arn:aws:s3:::b` + bad + `"}}}]}`,
				Source{Kind: KindS3, Trigger: "datasource", Collection: "b" + fixed, ARN: "arn:aws:s3:::b" + fixed, BatchSize: 1},
			},
			{
				"Kafka topic", `{"eventSource":"aws:kafka","eventSourceArn":"arn:` + bad + `","records":{"t-0":[{"topic":"t` + bad + `"}]}}`,
				Source{Kind: KindKafka, Trigger: "pubsub", System: "kafka", Destination: "t" + fixed, ARN: "arn:" + fixed, BatchSize: 1},
			},
			{
				"REST API route", `{"resource":"/` + bad + `","httpMethod":"GET","requestContext":{}}`,
				Source{Kind: KindAPIGatewayREST, Trigger: "http", Route: "/" + fixed},
			},
			{
				"HTTP API route", `{"version":"2.0","routeKey":"GET /` + bad + `","requestContext":{}}`,
				Source{Kind: KindAPIGatewayHTTP, Trigger: "http", Route: "/" + fixed},
			},
			{
				"ALB target group", `{"requestContext":{"elb":{"targetGroupArn":"arn:` + bad + `"}}}`,
				Source{Kind: KindALB, Trigger: "http", ARN: "arn:" + fixed},
			},
			{
				"Cognito user pool", `{"triggerSource":"x","userPoolId":"p` + bad + `","callerContext":{}}`,
				Source{Kind: KindCognito, Trigger: "other", Collection: "p" + fixed},
			},
			{
				"EventBridge source", `{"detail-type":"x","source":"s` + bad + `"}`,
				Source{Kind: KindEventBridge, Trigger: "pubsub", System: "aws_eventbridge", Destination: "s" + fixed},
			},
			{
				"schedule rule", `{"detail-type":"Scheduled Event","source":"aws.events","resources":["arn:aws:events:r:1:rule/` + bad + `"]}`,
				Source{Kind: KindSchedule, Trigger: "timer", Destination: fixed, ARN: "arn:aws:events:r:1:rule/" + fixed},
			},
			{
				"CloudWatch Logs log group", `{"awslogs":{"data":"` + gzipBase64(t, `{"logGroup":"g`+bad+`","logEvents":[]}`) + `"}}`,
				Source{Kind: KindCloudWatchLogs, Trigger: "datasource", Collection: "g" + fixed},
			},
		} {
			t.Run(fmt.Sprintf("%s %q", tt.name, bad), func(t *testing.T) {
				got := Classify([]byte(tt.event), true)
				checkUTF8(t, got, "whole")
				if got != tt.want {
					t.Errorf("\n got %+v\nwant %+v", got, tt.want)
				}
			})
		}
	}
}

// asciiFold is how keys compare: ASCII letters without case, every other byte as it is.
func asciiFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// match compares a string's escapes decoded on the fly: it must agree with decoding the
// whole string first.
func TestTextMatch(t *testing.T) {
	for _, in := range []string{
		`"Records"`, `"records"`, `"\u0052ecords"`, `"\u0072ecords"`, `"Re\u0063ords"`, `"Record\u0073"`,
		`"\u0152ecords"`, `"\u1052ecords"`, `"\uD852ecords"`, `"\ud83d\ude00Records"`, `"Records\u0000"`,
		`"Record"`, `"Recordss"`, `"Records` + strings.Repeat(escapedA, 100) + `"`, `"` + strings.Repeat(escapedA, 100) + `"`,
		`"aws:sqs"`, `"AWS:SQS"`, `"aws\u003asqs"`, `"aws:sq\u00f3"`, "\"aws:sq\xf3\"",
		`"detail-type"`, `"detail\u002dtype"`, `"a\/b"`, `"a/b"`, `"a\"b"`, `"a\\b"`, `"a\nb"`, `"a\tb"`, `"a\bb"`, `"a\fb"`, `"a\rb"`,
		`"2.0"`, `"\u0032.0"`, `"2.0 "`, `""`, `1000`,
	} {
		r := reader{b: []byte(in + ",")}
		v := r.scalar(1)
		if !r.ok() {
			t.Fatalf("%s: not read", in)
		}
		var decoded string
		if err := json.Unmarshal([]byte(in), &decoded); err != nil {
			decoded = in // a number
		}
		for _, s := range []string{
			"Records", "aws:sqs", "detail-type", "a/b", "a\"b", "a\\b", "a\nb", "a\tb", "a\bb", "a\fb", "a\rb", "2.0", "",
		} {
			if got, want := v.equals(s), decoded == s; got != want {
				t.Errorf("%s equals %q: %v, want %v", in, s, got, want)
			}
			if got, want := v.is(s), asciiFold(decoded, s); got != want {
				t.Errorf("%s is %q: %v, want %v", in, s, got, want)
			}
		}
	}
}
