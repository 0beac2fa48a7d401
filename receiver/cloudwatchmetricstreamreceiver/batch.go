// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch"
)

// requestBatch converts the records of one Firehose request, as they are decoded, into
// one output: only one record's decoded messages are held at a time, and the output is
// bounded by max_data_points.
type requestBatch struct {
	batch *cloudwatch.Batch
	// oldest and newest are the earliest and latest ends of a period that are kept
	// (max_age and max_future).
	oldest, newest pcommon.Timestamp
	// budget is how many more data points the request may convert (max_data_points).
	budget int

	tooOld, inFuture int
	// overLimitRecords were dropped whole, with their overLimitPoints, because the
	// request had reached max_data_points.
	overLimitRecords, overLimitPoints int
}

func (r *metricStreamReceiver) newRequestBatch() *requestBatch {
	now := r.now()
	return &requestBatch{
		batch:  r.converter.NewBatch(),
		oldest: pcommon.NewTimestampFromTime(now.Add(-r.cfg.MaxAge)),
		newest: pcommon.NewTimestampFromTime(now.Add(r.cfg.MaxFuture)),
		budget: r.cfg.MaxDataPoints,
	}
}

// addRecord converts one record's messages, all or none: a record whose data points do
// not fit in what is left of max_data_points is dropped whole.
func (b *requestBatch) addRecord(messages []pmetric.Metrics) {
	points := 0
	for _, message := range messages {
		tooOld, inFuture := dropPeriodsOutside(message, b.oldest, b.newest)
		b.tooOld += tooOld
		b.inFuture += inFuture
		points += message.DataPointCount()
	}
	if points > b.budget {
		b.overLimitRecords++
		b.overLimitPoints += points
		return
	}
	b.budget -= points
	for _, message := range messages {
		b.batch.Add(message)
	}
}

// dropPeriodsOutside removes from a metric stream request the data points whose period
// ended before oldest or after newest, and returns how many of each it removed. A data
// point without a timestamp is left for the converter, which skips it.
func dropPeriodsOutside(md pmetric.Metrics, oldest, newest pcommon.Timestamp) (tooOld, inFuture int) {
	outside := func(dp pmetric.SummaryDataPoint) bool {
		switch ts := dp.Timestamp(); {
		case ts == 0:
			return false
		case ts < oldest:
			tooOld++
			return true
		case ts > newest:
			inFuture++
			return true
		}
		return false
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if m := ms.At(k); m.Type() == pmetric.MetricTypeSummary {
					m.Summary().DataPoints().RemoveIf(outside)
				}
			}
		}
	}
	return tooOld, inFuture
}
