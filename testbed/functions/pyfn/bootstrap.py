#!/usr/bin/python3
# Copyright The otelcol-lambda Authors
# SPDX-License-Identifier: Apache-2.0
"""A Python runtime for the testbed, against the Lambda Runtime API.

It does what the managed Python runtime does, with the standard library only: it imports
the handler named by $_HANDLER ("module.function") from $LAMBDA_TASK_ROOT (default: this
file's directory), then loops on GET /2018-06-01/runtime/invocation/next, calls the handler
with the event and a context, and POSTs its return value to .../response, or the exception
to .../error. An import failure goes to /init/error.

Run it with /usr/bin/python3: python3-prometheus-client (which handler.py needs) installs
there, and a python3 earlier on PATH (pyenv) may not have it.
"""

import importlib
import json
import os
import sys
import time
import traceback
import urllib.request

PREFIX = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
# The Runtime API is on loopback: no proxy from the environment may stand in between.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, path, body=None, headers=None):
    req = urllib.request.Request(PREFIX + path, data=body, method=method, headers=headers or {})
    # No timeout: invocation/next blocks until the next invocation.
    with OPENER.open(req) as resp:
        return resp.headers, resp.read()


def error_body(exc):
    return json.dumps({
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }).encode()


class Context:
    """The attributes of the managed runtime's LambdaContext that handlers use."""

    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler():
    module_name, _, function_name = os.environ.get("_HANDLER", "").rpartition(".")
    if not module_name or not function_name:
        raise ValueError("_HANDLER %r is not module.function" % os.environ.get("_HANDLER"))
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT") or os.path.dirname(os.path.abspath(__file__)))
    handler = getattr(importlib.import_module(module_name), function_name)
    if not callable(handler):
        raise TypeError("_HANDLER %s is not callable" % os.environ["_HANDLER"])
    return handler


def main():
    try:
        handler = load_handler()
    except Exception as exc:  # noqa: BLE001 - every import failure is an init error
        call("POST", "/init/error", error_body(exc), {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"})
        sys.exit(1)
    while True:
        headers, body = call("GET", "/invocation/next")
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        try:
            event = json.loads(body) if body else None
        except ValueError:
            event = body.decode("utf-8", "replace")
        try:
            result = handler(event, Context(headers))
            out = json.dumps(result).encode()
        except Exception as exc:  # noqa: BLE001 - the function's error goes to the caller
            call("POST", "/invocation/%s/error" % request_id, error_body(exc), {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
            continue
        call("POST", "/invocation/%s/response" % request_id, out, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
