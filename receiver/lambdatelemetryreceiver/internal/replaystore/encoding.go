// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package replaystore // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/replaystore"

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

// Storage keys. An instance id is what a forwarder sends in a header, so it can be far
// longer than a storage key may be (bbolt refuses keys over 32 KiB, and one refused key
// fails the whole checkpoint): a long one is stored under its hash.
const (
	plainKeyPrefix  = "r/"
	hashedKeyPrefix = "h/"
	maxPlainKeyLen  = 256
)

func storageKey(instanceID string) string {
	if len(instanceID) <= maxPlainKeyLen {
		return plainKeyPrefix + instanceID
	}
	sum := sha256.Sum256([]byte(instanceID))
	return hashedKeyPrefix + hex.EncodeToString(sum[:])
}

// A record is one sandbox's replay state as stored. Version 1, in order:
//
//	byte     version (1)
//	uvarint  when it was written, Unix seconds (for the idle timeout)
//	uvarint  the highest sequence number accepted
//	16 bytes which of the 127 numbers below it were accepted, two little-endian uint64
//
// About 25 bytes: a fleet's worth of sandboxes is a few megabytes of storage. Any other
// version is unknown to this one, and the record is ignored.
const (
	recordVersion = 1
	maxEncodedLen = 1 + binary.MaxVarintLen64 + binary.MaxVarintLen64 + 16
)

var (
	errEmpty     = errors.New("empty value")
	errTruncated = errors.New("truncated value")
	errTrailing  = errors.New("unexpected bytes after the value")
)

type record struct {
	written uint64 // Unix seconds
	state   translator.ReplayState
}

func appendRecord(dst []byte, r record) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, r.written)
	dst = binary.AppendUvarint(dst, r.state.Highest)
	dst = binary.LittleEndian.AppendUint64(dst, r.state.Below[0])
	return binary.LittleEndian.AppendUint64(dst, r.state.Below[1])
}

func decode(data []byte) (record, error) {
	var r record
	if len(data) == 0 {
		return r, errEmpty
	}
	if data[0] != recordVersion {
		return r, fmt.Errorf("unknown version %d", data[0])
	}
	data = data[1:]
	written, n := binary.Uvarint(data)
	if n <= 0 {
		return r, errTruncated
	}
	if written > math.MaxInt64 {
		return r, errors.New("write time out of range")
	}
	data = data[n:]
	highest, n := binary.Uvarint(data)
	if n <= 0 {
		return r, errTruncated
	}
	data = data[n:]
	if len(data) < 16 {
		return r, errTruncated
	}
	if len(data) > 16 {
		return r, errTrailing
	}
	r.written = written
	r.state.Highest = highest
	r.state.Below[0] = binary.LittleEndian.Uint64(data)
	r.state.Below[1] = binary.LittleEndian.Uint64(data[8:])
	return r, nil
}
