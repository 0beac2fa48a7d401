// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package series // import "github.com/otelcol-lambda/otelcol-lambda/internal/series"

import (
	"fmt"
	"os"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// ReplicaID is the gateway replica's id, which every output series carries as
// service.instance.id (instance in Prometheus), so that replicas never overwrite each
// other: the Collector's own service.instance.id, or host-pid when it has none.
func ReplicaID(collector pcommon.Resource) string {
	if v, ok := collector.Attributes().Get("service.instance.id"); ok && v.Str() != "" {
		return v.Str()
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
