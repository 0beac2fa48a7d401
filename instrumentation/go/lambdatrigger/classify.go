// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatrigger // import "github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"strings"
	"time"
)

// Classify reads the event source of a Lambda event.
//
// event may be only the first bytes of a longer event (whole == false: the Runtime API
// proxy keeps the first 64 KiB). Classify then reads what those bytes hold (the kind, ARN,
// destination, and the oldest time among the records it could read whole) and leaves
// BatchSize 0, because the count is not known. It never panics; unknown or invalid input
// gives Kind KindUnknown and nothing else.
//
// The kind is settled at the first point of the event where its evidence is complete, and
// of a key that occurs twice only the first occurrence counts. So the first bytes of an
// event never give another kind or other values than the whole event: at most less.
func Classify(event []byte, whole bool) Source {
	c := classifier{r: reader{b: event}}
	c.top()
	complete := c.r.ok()
	if complete && !c.r.end() {
		c.r.fail(statusInvalid)
	}
	if c.r.st == statusInvalid || whole && !complete || c.kind == "" {
		return Source{Kind: KindUnknown}
	}
	return c.source(whole)
}

// classifier holds what the walk over an event has read. Values are kept as they stand in
// the event and become strings only for the Source.
type classifier struct {
	r    reader
	kind Kind // "" until the evidence settles it

	// Top-level members.
	version, routeKey, resource, httpMethod text
	ebSource, detailType, time, resource0   text // EventBridge
	eventSource, eventSourceARN             text // Kafka
	triggerSource, userPoolId               text // Cognito
	authorizer                              bool // an API Gateway authorizer's request, not a route's
	callerContext                           bool
	rc                                      requestContext
	rcSeen, rcWhole                         bool
	recordsSeen, resourcesSeen, logsSeen    bool
	kafkaRecords, awslogs                   bool // started: these settle the kind
	logsData                                text

	// Batches: the Records array, Kafka's records and CloudWatch Logs' logEvents.
	first      record // the first record, filled as it is read
	recordKind Kind   // what the first record's eventSource says
	topic      text   // the first Kafka record's topic
	oldest     time.Time
	count      int  // records read whole
	batchWhole bool // the batch's array (or arrays) read to the end
}

type requestContext struct {
	domainName, targetGroupARN, requestTimeEpoch, timeEpoch text
	elb, websocket                                          bool
}

// record holds the fields of one record of a Records array, for every source that sends one.
type record struct {
	eventSource, arn    text
	sentTimestamp       text // SQS attributes.SentTimestamp, milliseconds
	topicARN, timestamp text // SNS Sns.TopicArn, Sns.Timestamp
	arrival             text // Kinesis kinesis.approximateArrivalTimestamp, seconds
	created             text // DynamoDB dynamodb.ApproximateCreationDateTime, seconds
	eventTime           text // S3
	bucket, bucketARN   text // S3 s3.bucket.name, .arn
}

// setString keeps the value if it is a string and the field has none yet.
func (c *classifier) setString(f *text, depth int) {
	if v := c.r.scalar(depth); v.isString() && !f.set {
		*f = v
	}
}

func (c *classifier) setScalar(f *text, depth int) {
	if v := c.r.scalar(depth); v.set && !f.set {
		*f = v
	}
}

// members walks the object that is next, calling member for each key; member reads the
// value. depth is the number of containers around the object. Any other value is skipped.
func (c *classifier) members(depth int, member func(k text)) {
	r := &c.r
	if r.peek() != '{' {
		r.skip(depth)
		return
	}
	r.i++
	for n := 0; r.next('}', n); n++ {
		k := r.key()
		if !r.ok() {
			return
		}
		member(k)
	}
}

func (c *classifier) top() {
	r := &c.r
	if !r.enter('{') {
		r.fail(statusInvalid) // not an object: not an event (or no JSON at all)
		return
	}
	for n := 0; r.next('}', n); n++ {
		k := r.key()
		if !r.ok() {
			return
		}
		c.member(k)
		if !r.ok() {
			return
		}
		c.decide()
	}
}

func (c *classifier) member(k text) {
	r := &c.r
	switch {
	case k.is("Records"): // Kafka's "records" too, as encoding/json matches keys
		if c.recordsSeen {
			r.skip(1)
			return
		}
		c.recordsSeen = true
		switch r.peek() {
		case '[':
			c.records()
		case '{':
			c.kafkaRecords = true
			c.decide()
			c.kafka()
		default:
			r.skip(1)
		}
	case k.is("requestContext"):
		if c.rcSeen {
			r.skip(1)
			return
		}
		c.rcSeen = true
		if r.peek() == '{' {
			c.requestContext()
			c.rcWhole = r.ok()
		} else {
			r.skip(1)
		}
	case k.is("awslogs"):
		if c.logsSeen || r.peek() != '{' {
			r.skip(1)
			return
		}
		c.logsSeen, c.awslogs = true, true
		c.decide() // the data may be cut off: the kind is known already
		c.members(1, func(k text) {
			if k.is("data") {
				c.setString(&c.logsData, 2)
			} else {
				r.skip(2)
			}
		})
	case k.is("callerContext"):
		if r.peek() == '{' && !c.callerContext {
			c.callerContext = true
			c.decide()
		}
		r.skip(1)
	case k.is("resources"):
		if c.resourcesSeen || r.peek() != '[' {
			r.skip(1)
			return
		}
		c.resourcesSeen = true
		r.i++
		for n := 0; r.next(']', n); n++ {
			if n == 0 {
				c.setString(&c.resource0, 2)
			} else {
				r.skip(2)
			}
		}
	case k.is("methodArn"), k.is("routeArn"):
		c.authorizer = true
		r.skip(1)
	case k.is("version"):
		c.setString(&c.version, 1)
	case k.is("routeKey"):
		c.setString(&c.routeKey, 1)
	case k.is("resource"):
		c.setString(&c.resource, 1)
	case k.is("httpMethod"):
		c.setString(&c.httpMethod, 1)
	case k.is("source"):
		c.setString(&c.ebSource, 1)
	case k.is("detail-type"):
		c.setString(&c.detailType, 1)
	case k.is("time"):
		c.setString(&c.time, 1)
	case k.is("eventSource"):
		c.setString(&c.eventSource, 1)
	case k.is("eventSourceArn"):
		c.setString(&c.eventSourceARN, 1)
	case k.is("triggerSource"):
		c.setString(&c.triggerSource, 1)
	case k.is("userPoolId"):
		c.setString(&c.userPoolId, 1)
	default:
		r.skip(1)
	}
}

// decide settles the kind once the evidence read so far says it. It runs after each
// top-level member and where a member's start is the evidence, never at the end of the
// input, so a truncated event settles where the whole one does or not at all.
func (c *classifier) decide() {
	if c.kind != "" {
		return
	}
	switch {
	case c.recordKind != "":
		c.kind = c.recordKind
	case c.kafkaRecords && c.eventSource.equals("aws:kafka"):
		c.kind = KindKafka
	case c.kafkaRecords && c.eventSource.equals("SelfManagedKafka"):
		c.kind = KindSelfManagedKafka
	case c.awslogs:
		c.kind = KindCloudWatchLogs
	case c.rcWhole && !c.authorizer && !c.rc.websocket && c.httpKind() != "":
		c.kind = c.httpKind()
	case c.triggerSource.set && c.userPoolId.set && c.callerContext:
		c.kind = KindCognito
	case c.detailType.set && len(c.ebSource.raw()) > 0:
		c.kind = KindEventBridge
		if c.ebSource.equals("aws.events") && c.detailType.equals("Scheduled Event") {
			c.kind = KindSchedule
		}
	}
}

func (c *classifier) httpKind() Kind {
	switch {
	case c.rc.elb:
		return KindALB
	case c.version.equals("2.0"):
		if isFunctionURLDomain(c.rc.domainName.bytes()) {
			return KindFunctionURL
		}
		return KindAPIGatewayHTTP
	case c.resource.set && c.httpMethod.set:
		return KindAPIGatewayREST
	}
	return ""
}

// isFunctionURLDomain reports whether d is <url-id>.lambda-url.<region>.on.aws.
func isFunctionURLDomain(d []byte) bool {
	const label, suffix = ".lambda-url.", ".on.aws"
	i := bytes.Index(d, []byte(label))
	if i <= 0 || !bytes.HasSuffix(d, []byte(suffix)) {
		return false
	}
	region := d[i+len(label) : max(i+len(label), len(d)-len(suffix))]
	return len(region) > 0 && bytes.IndexByte(region, '.') < 0
}

func (c *classifier) requestContext() {
	r := &c.r
	c.members(1, func(k text) {
		switch {
		case k.is("domainName"):
			c.setString(&c.rc.domainName, 2)
		case k.is("requestTimeEpoch"):
			c.setScalar(&c.rc.requestTimeEpoch, 2)
		case k.is("timeEpoch"):
			c.setScalar(&c.rc.timeEpoch, 2)
		case k.is("connectionId"), k.is("eventType"):
			c.rc.websocket = true // a WebSocket API: its routes are not HTTP routes
			r.skip(2)
		case k.is("elb"):
			c.rc.elb = c.rc.elb || r.peek() == '{'
			c.members(2, func(k text) {
				if k.is("targetGroupArn") {
					c.setString(&c.rc.targetGroupARN, 3)
				} else {
					r.skip(3)
				}
			})
		default:
			r.skip(2)
		}
	})
}

func (c *classifier) records() {
	r := &c.r
	r.i++ // [
	for n := 0; r.next(']', n); n++ {
		if r.peek() != '{' {
			r.skip(2)
			continue
		}
		var next record
		rec := &next
		if n == 0 {
			rec = &c.first // read in place: its source settles the kind before it ends
		}
		c.record(rec, n == 0)
		if !r.ok() {
			return
		}
		c.count++
		c.older(c.recordTime(rec))
	}
	c.batchWhole = r.ok()
}

func (c *classifier) record(rec *record, first bool) {
	r := &c.r
	c.members(2, func(k text) {
		switch {
		case k.is("eventSource"): // SNS writes EventSource
			c.setString(&rec.eventSource, 3)
			if first && c.recordKind == "" {
				c.recordKind = recordKind(rec.eventSource)
				c.decide()
			}
		case k.is("eventSourceARN"):
			c.setString(&rec.arn, 3)
		case k.is("eventTime"):
			c.setString(&rec.eventTime, 3)
		case k.is("attributes"):
			c.members(3, func(k text) {
				if k.is("SentTimestamp") {
					c.setScalar(&rec.sentTimestamp, 4)
				} else {
					r.skip(4)
				}
			})
		case k.is("Sns"):
			c.members(3, func(k text) {
				switch {
				case k.is("TopicArn"):
					c.setString(&rec.topicARN, 4)
				case k.is("Timestamp"):
					c.setString(&rec.timestamp, 4)
				default:
					r.skip(4)
				}
			})
		case k.is("kinesis"):
			c.members(3, func(k text) {
				if k.is("approximateArrivalTimestamp") {
					c.setScalar(&rec.arrival, 4)
				} else {
					r.skip(4)
				}
			})
		case k.is("dynamodb"):
			c.members(3, func(k text) {
				if k.is("ApproximateCreationDateTime") {
					c.setScalar(&rec.created, 4)
				} else {
					r.skip(4)
				}
			})
		case k.is("s3"):
			c.members(3, func(k text) {
				if !k.is("bucket") {
					r.skip(4)
					return
				}
				c.members(4, func(k text) {
					switch {
					case k.is("name"):
						c.setString(&rec.bucket, 5)
					case k.is("arn"):
						c.setString(&rec.bucketARN, 5)
					default:
						r.skip(5)
					}
				})
			})
		default:
			r.skip(3)
		}
	})
}

var recordKinds = []struct {
	eventSource string
	kind        Kind
}{
	{"aws:sqs", KindSQS},
	{"aws:sns", KindSNS},
	{"aws:kinesis", KindKinesis},
	{"aws:dynamodb", KindDynamoDB},
	{"aws:s3", KindS3},
}

// recordKind is the kind a record's eventSource names, or "".
func recordKind(eventSource text) Kind {
	for _, k := range recordKinds {
		if eventSource.equals(k.eventSource) {
			return k.kind
		}
	}
	return ""
}

// recordTime is when the source took the record in, read as the first record says the
// source is.
func (c *classifier) recordTime(rec *record) time.Time {
	switch c.recordKind {
	case KindSQS:
		return epoch(rec.sentTimestamp, time.Millisecond)
	case KindSNS:
		return rfc3339(rec.timestamp)
	case KindKinesis:
		return epoch(rec.arrival, time.Second)
	case KindDynamoDB:
		return epoch(rec.created, time.Second)
	case KindS3:
		return rfc3339(rec.eventTime)
	}
	return time.Time{}
}

// kafka reads Kafka's records: {"<topic>-<partition>": [record, ...], ...}.
func (c *classifier) kafka() {
	r := &c.r
	started := 0
	r.i++ // {
	for n := 0; r.next('}', n); n++ {
		r.key()
		if !r.ok() {
			return
		}
		if r.peek() != '[' {
			r.skip(2)
			continue
		}
		r.i++
		for m := 0; r.next(']', m); m++ {
			if r.peek() != '{' {
				r.skip(3)
				continue
			}
			var topic, timestamp text
			firstRecord := started == 0
			started++
			c.members(3, func(k text) {
				switch {
				case k.is("topic"):
					c.setString(&topic, 4)
					if firstRecord && !c.topic.set {
						c.topic = topic // one topic per event source mapping
					}
				case k.is("timestamp"):
					c.setScalar(&timestamp, 4)
				default:
					r.skip(4)
				}
			})
			if !r.ok() {
				return
			}
			c.count++
			c.older(epoch(timestamp, time.Millisecond))
		}
		if !r.ok() {
			return
		}
	}
	c.batchWhole = r.ok()
}

func (c *classifier) older(t time.Time) {
	if !t.IsZero() && (c.oldest.IsZero() || t.Before(c.oldest)) {
		c.oldest = t
	}
}

// maxLogsBytes bounds the decompressed CloudWatch Logs payload: a larger one is read as
// a truncated event.
const maxLogsBytes = 1 << 20

// logs reads a CloudWatch Logs subscription's data: base64 of gzip of
// {"logGroup": ..., "logEvents": [{"timestamp": ...}, ...]}. It returns the log group;
// a payload it cannot decode gives nothing.
func (c *classifier) logs() (group string) {
	c.oldest, c.count, c.batchWhole = time.Time{}, 0, false // a Records array's, if any
	if !c.logsData.set {
		return ""
	}
	data := c.logsData.bytes()
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	n, err := base64.StdEncoding.Decode(raw, data)
	if err != nil {
		return ""
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw[:n]))
	if err != nil {
		return ""
	}
	payload, err := io.ReadAll(io.LimitReader(zr, maxLogsBytes+1))
	if err != nil {
		return ""
	}
	whole := len(payload) <= maxLogsBytes
	if !whole {
		payload = payload[:maxLogsBytes]
	}

	inner := classifier{r: reader{b: payload}}
	var logGroup text
	r := &inner.r
	inner.members(0, func(k text) {
		switch {
		case k.is("logGroup"):
			inner.setString(&logGroup, 1)
		case k.is("logEvents"):
			if r.peek() != '[' {
				r.skip(1)
				return
			}
			r.i++
			for n := 0; r.next(']', n); n++ {
				var timestamp text
				inner.members(2, func(k text) {
					if k.is("timestamp") {
						inner.setScalar(&timestamp, 3)
					} else {
						r.skip(3)
					}
				})
				if !r.ok() {
					return
				}
				inner.count++
				inner.older(epoch(timestamp, time.Millisecond))
			}
			inner.batchWhole = r.ok()
		default:
			r.skip(1)
		}
	})
	if r.st == statusInvalid || whole && (!r.ok() || !r.end()) {
		return ""
	}
	c.oldest, c.count, c.batchWhole = inner.oldest, inner.count, inner.batchWhole && whole
	return logGroup.String()
}

// source writes out what the walk read for the kind it settled.
func (c *classifier) source(whole bool) Source {
	s := Source{Kind: c.kind}
	batch := false
	switch c.kind {
	case KindSQS:
		s.Trigger, s.System = TriggerPubSub, SystemSQS
		s.ARN = c.first.arn.String()
		s.Destination = arnResource(s.ARN)
		batch = true
	case KindSNS:
		s.Trigger, s.System = TriggerPubSub, SystemSNS
		s.ARN = c.first.topicARN.String()
		s.Destination = arnResource(s.ARN)
		batch = true
	case KindKinesis:
		s.Trigger, s.System = TriggerPubSub, SystemKinesis
		s.ARN = c.first.arn.String()
		s.Destination = cutPrefix(arnResource(s.ARN), "stream/")
		batch = true
	case KindDynamoDB:
		s.Trigger = TriggerDatasource
		s.ARN = c.first.arn.String()
		// table/<table>/stream/<label>
		s.Collection = cutAfter(cutPrefix(arnResource(s.ARN), "table/"), '/')
		batch = true
	case KindS3:
		s.Trigger = TriggerDatasource
		s.Collection = c.first.bucket.String()
		s.ARN = c.first.bucketARN.String() // S3 notifications carry it: none is made up
		batch = true
	case KindKafka, KindSelfManagedKafka:
		s.Trigger, s.System = TriggerPubSub, SystemKafka
		s.Destination = c.topic.String()
		s.ARN = c.eventSourceARN.String()
		batch = true
	case KindCloudWatchLogs:
		// Logs delivered by a subscription filter: the log group is the collection they come from.
		s.Trigger = TriggerDatasource
		s.Collection = c.logs()
		batch = true
	case KindAPIGatewayREST:
		s.Trigger = TriggerHTTP
		s.Route = c.resource.String()
		s.Time = epoch(c.rc.requestTimeEpoch, time.Millisecond)
	case KindAPIGatewayHTTP:
		s.Trigger = TriggerHTTP
		// "GET /orders/{id}", "ANY /{proxy+}", or "$default" (no route).
		if _, route, ok := strings.Cut(c.routeKey.String(), " "); ok {
			s.Route = route
		}
		s.Time = epoch(c.rc.timeEpoch, time.Millisecond)
	case KindFunctionURL:
		s.Trigger = TriggerHTTP
		s.Time = epoch(c.rc.timeEpoch, time.Millisecond)
	case KindALB:
		s.Trigger = TriggerHTTP // its paths are raw: no route
		s.ARN = c.rc.targetGroupARN.String()
	case KindCognito:
		// A user pool's trigger: the pool is what the invocations are about.
		s.Trigger = TriggerOther
		s.Collection = c.userPoolId.String()
	case KindEventBridge:
		s.Trigger, s.System = TriggerPubSub, SystemEventBridge
		s.Destination = c.ebSource.String()
		s.Time = rfc3339(c.time)
	case KindSchedule:
		s.Trigger = TriggerTimer
		s.ARN = c.resource0.String()
		s.Destination = lastSegment(arnResource(s.ARN)) // rule/<name>
		s.Time = rfc3339(c.time)
	}
	if batch {
		s.Time = c.oldest
		if whole && c.batchWhole {
			s.BatchSize = c.count
		}
	}
	return s
}
