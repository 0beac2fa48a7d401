// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package acklog carries acknowledgements from lambda_metrics back to lambda_telemetry's
// write-ahead log, inside one gateway process.
//
// In the write-ahead mode, lambda_telemetry logs every batch it accepts and tags each span
// it makes from one with a token: which log, which batch, which event, which span type.
// lambda_metrics collects the tokens of the spans it counted and, once the flush that
// carries those counts was written (ConsumeMetrics returned), hands them to Acknowledge. A
// logged batch whose every span was acknowledged leaves the log; after a kill -9 the log
// is replayed without the acknowledged spans, so each acknowledged event is counted once.
//
// The two components share nothing else, and the Collector gives components no way to
// call each other, so the logs are found through a process-wide registry by name.
package acklog // import "github.com/otelcol-lambda/otelcol-lambda/internal/acklog"

import (
	"strconv"
	"strings"
	"sync"
)

// Log is what lambda_telemetry registers: it takes acknowledgements of its batches.
type Log interface {
	// Acknowledge records that the spans of batch named by keys were counted and
	// written. It is called from one goroutine at a time per log.
	Acknowledge(acks map[uint64][]string)
	// Close releases the log's storage; no Acknowledge follows.
	Close()
}

type registry struct {
	mu      sync.Mutex
	logs    map[string]Log
	retired map[string]Log
	holders int
	// pending are acknowledgements given before their log was registered, by log.
	pending map[string]map[uint64][]string
}

var reg = registry{logs: map[string]Log{}, retired: map[string]Log{}, pending: map[string]map[uint64][]string{}}

// Register makes log the receiver of the acknowledgements whose tokens name it, and
// returns those given for it before (see AcknowledgeEarly), which the log has not seen.
// A log's name must be the same in the next process: tokens outlive it in storage.
func Register(name string, log Log) (early map[uint64][]string) {
	reg.mu.Lock()
	replaced := reg.retired[name]
	delete(reg.retired, name)
	reg.logs[name] = log
	early = reg.pending[name]
	delete(reg.pending, name)
	reg.mu.Unlock()
	if replaced != nil && replaced != log {
		replaced.Close() // a retired log of the same name, kept open for a holder
	}
	return early
}

// Retire stops new tokens of the named log from being made, but keeps the log open
// while a holder may still acknowledge: the Collector shuts receivers down before
// connectors, and the connector's last flush acknowledges what the log still holds. The
// log is closed now when nothing holds the registry, else when the last holder releases.
func Retire(name string) {
	reg.mu.Lock()
	log, ok := reg.logs[name]
	if ok && reg.holders > 0 {
		reg.retired[name] = log
		reg.mu.Unlock()
		return
	}
	delete(reg.logs, name)
	reg.mu.Unlock()
	if ok {
		log.Close()
	}
}

// Hold keeps retired logs open until release is called: an acknowledging component holds
// from its start to the end of its shutdown.
func Hold() (release func()) {
	reg.mu.Lock()
	reg.holders++
	reg.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			reg.mu.Lock()
			reg.holders--
			var closing []Log
			if reg.holders == 0 {
				for name, log := range reg.retired {
					delete(reg.retired, name)
					delete(reg.logs, name)
					closing = append(closing, log)
				}
			}
			reg.mu.Unlock()
			for _, log := range closing {
				log.Close()
			}
		})
	}
}

// Key names one span within its batch: the event's index in the batch and the span's
// type (an event makes at most one span of each type).
func Key(event int, spanType string) string {
	return strconv.Itoa(event) + " " + spanType
}

// Token names one span of a logged batch: the log, the batch and the span's Key.
func Token(log string, batch uint64, key string) string {
	return log + " " + strconv.FormatUint(batch, 10) + " " + key
}

// ParseToken splits a token into its log, its batch and the span's Key. ok is false for a string that is not a token.
func ParseToken(token string) (log string, batch uint64, key string, ok bool) {
	log, rest, ok := strings.Cut(token, " ")
	if !ok {
		return "", 0, "", false
	}
	batchText, key, ok := strings.Cut(rest, " ")
	if !ok {
		return "", 0, "", false
	}
	batch, err := strconv.ParseUint(batchText, 10, 64)
	if err != nil {
		return "", 0, "", false
	}
	return log, batch, key, true
}

// Acknowledge hands the tokens of counted and written spans to their logs. Tokens of logs
// not registered in this process (a span forwarded from another gateway) are ignored, as
// are strings that are not tokens.
func Acknowledge(tokens []string) {
	for name, acks := range byLog(tokens) {
		reg.mu.Lock()
		log := reg.logs[name]
		reg.mu.Unlock()
		if log != nil {
			log.Acknowledge(acks)
		}
	}
}

// AcknowledgeEarly is Acknowledge at start, before the logs are registered: what a log
// is not there for yet is kept for its Register.
func AcknowledgeEarly(tokens []string) {
	for name, acks := range byLog(tokens) {
		reg.mu.Lock()
		log := reg.logs[name]
		if log == nil {
			kept := reg.pending[name]
			if kept == nil {
				kept = map[uint64][]string{}
				reg.pending[name] = kept
			}
			for id, keys := range acks {
				kept[id] = append(kept[id], keys...)
			}
		}
		reg.mu.Unlock()
		if log != nil {
			log.Acknowledge(acks)
		}
	}
}

func byLog(tokens []string) map[string]map[uint64][]string {
	byLog := map[string]map[uint64][]string{}
	for _, t := range tokens {
		log, batch, key, ok := ParseToken(t)
		if !ok {
			continue
		}
		acks := byLog[log]
		if acks == nil {
			acks = map[uint64][]string{}
			byLog[log] = acks
		}
		acks[batch] = append(acks[batch], key)
	}
	return byLog
}
