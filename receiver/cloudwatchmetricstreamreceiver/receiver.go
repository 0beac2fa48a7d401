// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver"

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch"
	"github.com/otelcol-lambda/otelcol-lambda/internal/warnlog"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver/internal/metadata"
)

// obsreportFormat names what this receiver decodes in the collector's receiver metrics.
const obsreportFormat = "cloudwatch_otlp_1.0.0"

var _ http.Handler = (*metricStreamReceiver)(nil)

// metricStreamReceiver is the HTTP endpoint of a Firehose delivery stream.
type metricStreamReceiver struct {
	cfg       *Config
	settings  receiver.Settings
	next      consumer.Metrics
	obsrep    *receiverhelper.ObsReport
	telemetry *metadata.TelemetryBuilder
	outcomes  outcomes
	warnings  *warnlog.Logger
	// converter makes the gateway's series, with this replica's job and instance.
	converter *cloudwatch.Converter
	// accessKeyDigest is the configured key's SHA-256: comparing digests takes the same
	// time whatever the length and content of the key a request sends.
	accessKeyDigest [sha256.Size]byte
	// now is the clock max_age is measured against.
	now func() time.Time

	server     *http.Server
	addr       net.Addr // where the server listens, known after Start (port 0 in tests)
	shutdownWG sync.WaitGroup
}

// outcomes are the attribute sets of the receiver's counters, made once.
type outcomes struct {
	requestAccepted, requestUnauthorized, requestMalformed, requestTooLarge, requestRefused metric.MeasurementOption
	recordAccepted, recordMalformed, recordRefused, recordOverLimit                         metric.MeasurementOption
	pointConverted, pointSkipped, pointTooOld, pointInFuture, pointOverLimit                metric.MeasurementOption
}

func outcome(name string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", name)))
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Metrics) (*metricStreamReceiver, error) {
	obsrep, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	telemetry, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &metricStreamReceiver{
		cfg:       cfg,
		settings:  set,
		next:      next,
		obsrep:    obsrep,
		telemetry: telemetry,
		outcomes: outcomes{
			requestAccepted:     outcome("accepted"),
			requestUnauthorized: outcome("unauthorized"),
			requestMalformed:    outcome("malformed"),
			requestTooLarge:     outcome("too_large"),
			requestRefused:      outcome("refused"),
			recordAccepted:      outcome("accepted"),
			recordMalformed:     outcome("malformed"),
			recordRefused:       outcome("refused"),
			recordOverLimit:     outcome("over_limit"),
			pointConverted:      outcome("converted"),
			pointSkipped:        outcome("skipped"),
			pointTooOld:         outcome("too_old"),
			pointInFuture:       outcome("in_future"),
			pointOverLimit:      outcome("over_limit"),
		},
		warnings:        warnlog.New(set.Logger),
		converter:       cloudwatch.NewConverter(set.Resource, metadata.ScopeName),
		accessKeyDigest: sha256.Sum256([]byte(cfg.AccessKey)),
		now:             time.Now,
	}
	return r, nil
}

// Start listens and serves; a serve failure after start is reported as a fatal status.
func (r *metricStreamReceiver) Start(ctx context.Context, host component.Host) error {
	server, err := r.cfg.HTTP.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, r,
		confighttp.WithErrorHandler(r.decodingFailed))
	if err != nil {
		return err
	}
	// Outside everything ToServer wraps, confighttp's decompression included: a request
	// without the key is answered before a byte of its body is read or decoded.
	server.Handler = r.requireAccessKey(server.Handler)
	listener, err := r.cfg.HTTP.ToListener(ctx)
	if err != nil {
		return err
	}
	r.server = server
	r.addr = listener.Addr()
	r.settings.Logger.Info("Starting HTTP server", zap.String("endpoint", listener.Addr().String()))
	r.shutdownWG.Go(func() {
		if err := r.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	})
	return nil
}

// Shutdown stops the server and waits for in-flight requests; it is safe without Start.
func (r *metricStreamReceiver) Shutdown(ctx context.Context) error {
	var err error
	if r.server != nil {
		err = r.server.Shutdown(ctx)
	}
	r.shutdownWG.Wait()
	r.telemetry.Shutdown()
	return err
}

// ServeHTTP answers one Firehose delivery request. Firehose retries every answer but 200,
// the whole request with the same request id, until the stream's retry duration runs
// out, then writes it to the stream's S3 backup: so a request with some usable records
// is answered 200 once those were delivered (a retry would deliver them twice), and the
// records that cannot be used are counted and logged. The method and the access key were
// checked before, by requireAccessKey, which Start puts in front of it.
func (r *metricStreamReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	requestID := req.Header.Get(headerRequestID)
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != jsonContentType {
		r.refuse(ctx, w, requestID, http.StatusUnsupportedMediaType, r.outcomes.requestMalformed, "content type must be "+jsonContentType)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			r.refuse(ctx, w, requestID, http.StatusRequestEntityTooLarge, r.outcomes.requestTooLarge, "the body is over the receiver's max_request_body_size, compressed or decoded: lower the delivery stream's buffer size")
			return
		}
		r.refuse(ctx, w, requestID, http.StatusBadRequest, r.outcomes.requestMalformed, "reading the body: "+err.Error())
		return
	}
	batch := r.newRequestBatch()
	decoded, err := decodeRequest(body, batch.addRecord)
	if err != nil {
		r.refuse(ctx, w, requestID, http.StatusBadRequest, r.outcomes.requestMalformed, err.Error())
		return
	}
	if requestID == "" {
		requestID = decoded.requestID
	}
	if bad := decoded.malformedRecords(); bad > 0 {
		r.telemetry.ReceiverCloudwatchMetricStreamRecords.Add(ctx, int64(bad), r.outcomes.recordMalformed)
		r.warnings.Warn("Skipped malformed Firehose records", zap.String("request_id", requestID),
			zap.Int("malformed", bad), zap.Int("records", decoded.records), zap.Error(decoded.firstBad))
		if decoded.goodRecords == 0 {
			r.refuse(ctx, w, requestID, http.StatusBadRequest, r.outcomes.requestMalformed, "no record could be used: "+decoded.firstBad.Error())
			return
		}
	}
	if batch.overLimitRecords > 0 {
		// Never written whatever the pipeline answers, so counted at once.
		r.telemetry.ReceiverCloudwatchMetricStreamRecords.Add(ctx, int64(batch.overLimitRecords), r.outcomes.recordOverLimit)
		r.telemetry.ReceiverCloudwatchMetricStreamDataPoints.Add(ctx, int64(batch.overLimitPoints), r.outcomes.pointOverLimit)
		r.warnings.Warn("Dropped Firehose records over max_data_points: lower the delivery stream's buffer size, or raise max_data_points",
			zap.String("request_id", requestID), zap.Int("records", batch.overLimitRecords),
			zap.Int("data_points", batch.overLimitPoints), zap.Int("max_data_points", r.cfg.MaxDataPoints))
	}
	delivered := int64(decoded.goodRecords - batch.overLimitRecords)
	if status, msg := r.deliver(ctx, batch); status != http.StatusOK {
		r.telemetry.ReceiverCloudwatchMetricStreamRecords.Add(ctx, delivered, r.outcomes.recordRefused)
		r.refuse(ctx, w, requestID, status, r.outcomes.requestRefused, msg)
		return
	}
	r.telemetry.ReceiverCloudwatchMetricStreamRecords.Add(ctx, delivered, r.outcomes.recordAccepted)
	r.telemetry.ReceiverCloudwatchMetricStreamRequests.Add(ctx, 1, r.outcomes.requestAccepted)
	writeResponse(w, http.StatusOK, requestID, "")
}

// deliver hands the request's converted records to the next consumer in one call, so that
// the request is delivered or retried as a whole. It answers the status for Firehose and,
// unless 200, why.
func (r *metricStreamReceiver) deliver(ctx context.Context, batch *requestBatch) (int, string) {
	if batch.tooOld > 0 {
		// Never written whatever the pipeline answers, so counted at once.
		r.telemetry.ReceiverCloudwatchMetricStreamDataPoints.Add(ctx, int64(batch.tooOld), r.outcomes.pointTooOld)
		r.warnings.Warn("Dropped CloudWatch data points older than max_age, which Prometheus would refuse with the whole request",
			zap.Int("too_old", batch.tooOld), zap.Duration("max_age", r.cfg.MaxAge))
	}
	if batch.inFuture > 0 {
		r.telemetry.ReceiverCloudwatchMetricStreamDataPoints.Add(ctx, int64(batch.inFuture), r.outcomes.pointInFuture)
		r.warnings.Warn("Dropped CloudWatch data points whose period ends more than max_future from now: Prometheus would keep refusing every later sample of their series as out of order",
			zap.Int("in_future", batch.inFuture), zap.Duration("max_future", r.cfg.MaxFuture))
	}
	converted, stats := batch.batch.Metrics()
	if stats.Skipped > 0 {
		r.warnings.Warn("Skipped CloudWatch data points that could not be mapped", zap.Int("skipped", stats.Skipped),
			zap.Int("label_collisions", stats.LabelCollisions), zap.Int("duplicate_series", stats.DuplicateSeries))
	}
	var err error
	if converted.DataPointCount() > 0 {
		ctx = r.obsrep.StartMetricsOp(ctx)
		consumeCtx, cancel := context.WithTimeout(ctx, r.cfg.ConsumeTimeout)
		err = r.next.ConsumeMetrics(consumeCtx, converted)
		timedOut := errors.Is(consumeCtx.Err(), context.DeadlineExceeded)
		cancel()
		r.obsrep.EndMetricsOp(ctx, obsreportFormat, stats.Samples, err)
		if err != nil && timedOut && !consumererror.IsPermanent(err) {
			return http.StatusServiceUnavailable, "the pipeline did not write the data within consume_timeout (" +
				r.cfg.ConsumeTimeout.String() + "), retry: " + err.Error()
		}
	}
	switch {
	case err == nil:
		r.telemetry.ReceiverCloudwatchMetricStreamDataPoints.Add(ctx, int64(stats.DataPoints), r.outcomes.pointConverted)
		r.telemetry.ReceiverCloudwatchMetricStreamDataPoints.Add(ctx, int64(stats.Skipped), r.outcomes.pointSkipped)
		return http.StatusOK, ""
	case consumererror.IsPermanent(err):
		// The pipeline will never take this data; Firehose still retries, then backs it up.
		return http.StatusBadRequest, "the pipeline refused the data for good: " + err.Error()
	default:
		return http.StatusServiceUnavailable, "the pipeline refused the data for now, retry: " + err.Error()
	}
}

// requireAccessKey answers a request that is not a POST with Firehose's access key without
// reading its body, and closes the connection after the answer: Go's server would
// otherwise read up to 256 KiB of the unread body to keep the connection, which a client
// without the key can send as slowly as it likes.
func (r *metricStreamReceiver) requireAccessKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requestID := req.Header.Get(headerRequestID)
		switch {
		case req.Method != http.MethodPost:
			w.Header().Set("Allow", http.MethodPost)
			w.Header().Set("Connection", "close")
			r.refuse(req.Context(), w, requestID, http.StatusMethodNotAllowed, r.outcomes.requestMalformed, "method "+req.Method+" is not allowed, Firehose POSTs")
		case !r.authorized(req.Header.Get(headerAccessKey)):
			w.Header().Set("Connection", "close")
			r.refuse(req.Context(), w, requestID, http.StatusUnauthorized, r.outcomes.requestUnauthorized, "missing or wrong "+headerAccessKey)
		default:
			next.ServeHTTP(w, req)
		}
	})
}

// authorized compares the request's access key with the configured one in constant time.
func (r *metricStreamReceiver) authorized(key string) bool {
	digest := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(digest[:], r.accessKeyDigest[:]) == 1
}

// decodingFailed answers a body that confighttp could not decode (a broken gzip stream,
// an encoding it does not know) in Firehose's format.
func (r *metricStreamReceiver) decodingFailed(w http.ResponseWriter, req *http.Request, msg string, status int) {
	r.refuse(req.Context(), w, req.Header.Get(headerRequestID), status, r.outcomes.requestMalformed, "decoding the body: "+msg)
}

// refuse answers a request that was not delivered, counts it and logs why, rate-limited.
func (r *metricStreamReceiver) refuse(ctx context.Context, w http.ResponseWriter, requestID string, status int, reason metric.MeasurementOption, msg string) {
	r.telemetry.ReceiverCloudwatchMetricStreamRequests.Add(ctx, 1, reason)
	r.warnings.Warn("Refused a Firehose request", zap.Int("status", status), zap.String("request_id", requestID), zap.String("reason", msg))
	writeResponse(w, status, requestID, msg)
}

// writeResponse writes the answer Firehose expects: its request id back, a timestamp in
// milliseconds, and the error message it logs when the status is not 200.
func writeResponse(w http.ResponseWriter, status int, requestID, errorMessage string) {
	body, _ := json.Marshal(firehoseResponse{RequestID: requestID, Timestamp: time.Now().UnixMilli(), ErrorMessage: errorMessage})
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
