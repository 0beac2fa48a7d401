#!/usr/bin/env bash
# Starts a local Prometheus (remote-write receiver on) and the otelcol-lambda gateway with
# distribution/config.yaml, prints where everything is, and stops both on Ctrl-C.
#
# With PROMETHEUS_REMOTE_WRITE_URL set, no local Prometheus is started and the gateway
# writes there. Ports and paths come from the environment variables listed in README.md.
#
# With OTELCOL_LAMBDA_JAEGER=1 (what `make run JAEGER=1` sets) it also starts Jaeger
# ($JAEGER_BIN, in-memory storage, distribution/jaeger/jaeger.yaml) on loopback and merges
# overlays/traces-otlp.yaml, so that the traces, and the exemplars' trace ids, can be looked
# up there. Ports: JAEGER_OTLP_GRPC_PORT (14317), JAEGER_QUERY_PORT (16686, the HTTP API),
# JAEGER_QUERY_GRPC_PORT (16685).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gateway_bin=${OTELCOL_LAMBDA_BIN:-$root/_build/otelcol-lambda}
run_dir=${OTELCOL_LAMBDA_RUN_DIR:-$root/.run}
prometheus_bin=${PROMETHEUS_BIN:-prometheus}
prometheus_port=${PROMETHEUS_PORT:-9090}
ready_timeout=${OTELCOL_LAMBDA_READY_TIMEOUT:-60}
# Extra configuration files merged over the default one, separated by spaces
# (e.g. "distribution/overlays/traces-otlp.yaml").
overlays=${OTELCOL_LAMBDA_OVERLAYS:-}
start_jaeger=${OTELCOL_LAMBDA_JAEGER:-}
jaeger_bin=${JAEGER_BIN:-$root/bin/jaeger}

export OTELCOL_LAMBDA_HTTP_ENDPOINT=${OTELCOL_LAMBDA_HTTP_ENDPOINT:-127.0.0.1:4318}
export OTELCOL_LAMBDA_GRPC_ENDPOINT=${OTELCOL_LAMBDA_GRPC_ENDPOINT:-127.0.0.1:4317}
export OTELCOL_LAMBDA_HEALTH_ENDPOINT=${OTELCOL_LAMBDA_HEALTH_ENDPOINT:-127.0.0.1:13133}
export OTELCOL_LAMBDA_TELEMETRY_HOST=${OTELCOL_LAMBDA_TELEMETRY_HOST:-127.0.0.1}
export OTELCOL_LAMBDA_TELEMETRY_PORT=${OTELCOL_LAMBDA_TELEMETRY_PORT:-8888}
# The receiver's replay state lives beside the Prometheus data it keeps from counting
# twice: a restarted `make run` recognises batches resent to it, and removing .run resets
# both together.
export OTELCOL_LAMBDA_STORAGE_DIR=${OTELCOL_LAMBDA_STORAGE_DIR:-$run_dir/storage}

say() { printf '[run] %s\n' "$*"; }
die() { printf '[run] error: %s\n' "$*" >&2; exit 1; }

[ -x "$gateway_bin" ] || die "no gateway binary at $gateway_bin: run 'make build' first"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready URL PID NAME LOG: polls URL until it answers 200, failing early if PID dies.
wait_ready() {
	local url=$1 pid=$2 name=$3 log=$4 waited=0
	until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			[ -f "$log" ] && tail -n 30 "$log" >&2
			die "$name exited during start-up${log:+ (log: $log)}"
		fi
		waited=$((waited + 1))
		[ "$waited" -le $((ready_timeout * 4)) ] || die "$name not ready after ${ready_timeout}s at $url"
		sleep 0.25
	done
}

# Each process runs in a session of its own (setsid), so that Ctrl-C reaches this script
# only, and the script stops them in order: the gateway first, so that its last flush
# reaches Prometheus and Jaeger, then the rest.
pids=()
gateway_pid=
stop_timeout=${OTELCOL_LAMBDA_STOP_TIMEOUT:-20}
stop_pids() {
	local waited=0
	kill -TERM "$@" 2>/dev/null || true
	while kill -0 "$@" 2>/dev/null; do
		if [ "$waited" -ge $((stop_timeout * 4)) ]; then
			say "still running after ${stop_timeout}s: killing $*"
			kill -KILL "$@" 2>/dev/null || true
			break
		fi
		waited=$((waited + 1))
		sleep 0.25
	done
	wait "$@" 2>/dev/null || true
}
stop_all() {
	trap - INT TERM EXIT
	if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
		say "stopping the gateway (pid $gateway_pid); its last flush goes out first"
		stop_pids "$gateway_pid"
	fi
	local rest=()
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null && rest+=("$pid")
	done
	if [ ${#rest[@]} -gt 0 ]; then
		say "stopping (pids ${rest[*]})"
		stop_pids "${rest[@]}"
	fi
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

mkdir -p "$run_dir"
gateway_telemetry_addr="$OTELCOL_LAMBDA_TELEMETRY_HOST:$OTELCOL_LAMBDA_TELEMETRY_PORT"

if [ -n "${PROMETHEUS_REMOTE_WRITE_URL:-}" ]; then
	say "using the Prometheus at $PROMETHEUS_REMOTE_WRITE_URL (PROMETHEUS_REMOTE_WRITE_URL is set)"
	prometheus_url=""
else
	command -v "$prometheus_bin" >/dev/null 2>&1 ||
		die "no Prometheus found: 'make run' installs it as root, or run: sudo apt-get install -y prometheus"
	port_in_use "$prometheus_port" &&
		die "port $prometheus_port is taken (another Prometheus?): set PROMETHEUS_PORT, or PROMETHEUS_REMOTE_WRITE_URL to use that one"
	prometheus_addr="127.0.0.1:$prometheus_port"
	prometheus_url="http://$prometheus_addr"
	mkdir -p "$run_dir/prometheus-data"
	sed -e "s|@GATEWAY_TELEMETRY_ADDR@|$gateway_telemetry_addr|" \
		-e "s|@PROMETHEUS_ADDR@|$prometheus_addr|" \
		"$root/distribution/prometheus/prometheus.yml" >"$run_dir/prometheus.yml"
	say "starting Prometheus on $prometheus_url (log: $run_dir/prometheus.log)"
	setsid "$prometheus_bin" \
		--config.file="$run_dir/prometheus.yml" \
		--storage.tsdb.path="$run_dir/prometheus-data" \
		--web.listen-address="$prometheus_addr" \
		--web.enable-remote-write-receiver \
		--enable-feature=exemplar-storage,native-histograms \
		>"$run_dir/prometheus.log" 2>&1 &
	pids+=($!)
	wait_ready "$prometheus_url/-/ready" "$!" Prometheus "$run_dir/prometheus.log"
	export PROMETHEUS_REMOTE_WRITE_URL="$prometheus_url/api/v1/write"
fi

jaeger_url=""
if [ "$start_jaeger" = 1 ]; then
	[ -x "$jaeger_bin" ] || die "no Jaeger binary at $jaeger_bin: run 'make run JAEGER=1', which builds it"
	jaeger_otlp_addr="127.0.0.1:${JAEGER_OTLP_GRPC_PORT:-14317}"
	jaeger_query_addr="127.0.0.1:${JAEGER_QUERY_PORT:-16686}"
	jaeger_query_grpc_addr="127.0.0.1:${JAEGER_QUERY_GRPC_PORT:-16685}"
	for addr in "$jaeger_otlp_addr" "$jaeger_query_addr" "$jaeger_query_grpc_addr"; do
		if port_in_use "${addr##*:}"; then
			die "port ${addr##*:} is taken (another Jaeger?): set JAEGER_OTLP_GRPC_PORT, JAEGER_QUERY_PORT, JAEGER_QUERY_GRPC_PORT"
		fi
	done
	jaeger_url="http://$jaeger_query_addr"
	sed -e "s|@OTLP_GRPC_ADDR@|$jaeger_otlp_addr|" \
		-e "s|@QUERY_HTTP_ADDR@|$jaeger_query_addr|" \
		-e "s|@QUERY_GRPC_ADDR@|$jaeger_query_grpc_addr|" \
		"$root/distribution/jaeger/jaeger.yaml" >"$run_dir/jaeger.yaml"
	say "starting Jaeger, OTLP/gRPC on $jaeger_otlp_addr, query on $jaeger_url (log: $run_dir/jaeger.log)"
	setsid "$jaeger_bin" --config "$run_dir/jaeger.yaml" >"$run_dir/jaeger.log" 2>&1 &
	pids+=($!)
	wait_ready "$jaeger_url/api/services" "$!" Jaeger "$run_dir/jaeger.log"
	export OTELCOL_LAMBDA_TRACES_ENDPOINT="$jaeger_otlp_addr"
	case " $overlays " in
	*" distribution/overlays/traces-otlp.yaml "* | *" $root/distribution/overlays/traces-otlp.yaml "*) ;;
	*) overlays="$overlays distribution/overlays/traces-otlp.yaml" ;;
	esac
fi

config_args=(--config "$root/distribution/config.yaml")
for overlay in $overlays; do
	case "$overlay" in /*) ;; *) overlay="$root/$overlay" ;; esac
	[ -f "$overlay" ] || die "overlay $overlay does not exist"
	config_args+=(--config "$overlay")
done

say "starting the gateway: $gateway_bin ${config_args[*]}"
setsid "$gateway_bin" "${config_args[@]}" &
gateway_pid=$!
pids+=($!)
wait_ready "http://$OTELCOL_LAMBDA_HEALTH_ENDPOINT/" "$!" gateway ""

cat <<INFO
[run] ready.
[run]   gateway lambda_telemetry (extension batches, OTLP/HTTP): http://$OTELCOL_LAMBDA_HTTP_ENDPOINT  (/v1/traces, /v1/metrics, /v1/logs)
[run]   gateway OTLP/gRPC:                                     $OTELCOL_LAMBDA_GRPC_ENDPOINT
[run]   gateway health:                                        http://$OTELCOL_LAMBDA_HEALTH_ENDPOINT/
[run]   gateway own metrics:                                   http://$gateway_telemetry_addr/metrics
[run]   remote write to:                                       $PROMETHEUS_REMOTE_WRITE_URL
${prometheus_url:+[run]   Prometheus UI:                                         $prometheus_url
}${jaeger_url:+[run]   Jaeger query API (GET /api/traces/TRACE_ID):           $jaeger_url
[run]   traces exported to the OTLP/gRPC of Jaeger:            $OTELCOL_LAMBDA_TRACES_ENDPOINT
}[run] Ctrl-C stops everything.
INFO

# Whichever exits first ends the run; the EXIT trap stops the other.
set +e
wait -n "${pids[@]}"
status=$?
set -e
say "a process exited (status $status); stopping the rest"
exit "$status"
