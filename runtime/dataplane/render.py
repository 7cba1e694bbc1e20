"""HAProxy's configuration for the haproxy data plane: one frontend on the public port, one backend per container
(only Direct invocations that every check lets through), one backend for the Python front door (everything else).

Routing happens on a map keyed `<endpoint, lowercased>/<hostname>` (endpoint names are case-insensitive, hostnames
are not, as in runtime.router) whose keys are the RUNNING containers only: a key that is absent (unknown target,
container not running, another endpoint's name) sends the request to Python, which answers it as it always does.
The answers HAProxy makes itself are SageMaker's errors, written as errorfiles by `errorfiles()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.config import Deployment
from runtime.errors import ModelError, RequestTimeout, SageMakerError, ServiceUnavailable, ValidationError
from runtime.router.invoke import CUSTOM, FORWARDED, TARGET
from runtime.routing import HostTable

# Body bytes a Direct request may carry and still be relayed: HAProxy holds it whole (wait-for-body) before relaying,
# which is how BodyTimeout is enforced exactly there; a larger body goes through Python, which streams it.
DIRECT_BODY_MAX = 64 * 2**10
MAXREWRITE = 1024  # HAProxy's default room for header rewrites, kept out of the buffer
SENT = ("content-type", "content-length", "accept", CUSTOM, *FORWARDED)  # what Python's upstream sends a container
PASSED_BACK = ("content-type", "content-length", "transfer-encoding", CUSTOM,
               "x-amzn-sagemaker-new-session-id", "x-amzn-sagemaker-closed-session-id")  # fmt: skip


@dataclass(frozen=True)
class Paths:
    """Where the data plane's files live: <RunDir>/dataplane."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "haproxy.cfg"

    @property
    def routes(self) -> Path:
        return self.folder / "routes.map"

    @property
    def socket(self) -> Path:
        return self.folder / "admin.sock"

    @property
    def lua(self) -> Path:
        return self.folder / "modelerror.lua"

    def errorfile(self, name: str) -> Path:
        return self.folder / "errors" / f"{name}.http"


def backend(index: int) -> str:
    """A container's backend name: by position, since a hostname may hold characters HAProxy names may not."""
    return f"c{index}"


def map_lines(table: HostTable, d: Deployment) -> dict[str, str]:
    """The map's content: key -> backend. HAProxy's backends are the deployment file's containers on their
    first generation's ports (fixed in its config): a RUNNING route of the file's endpoint on exactly that port is
    relayed; anything else (another endpoint, a later generation on other ports, a Serial endpoint) goes to Python."""
    e = table.endpoint(d.endpoint_name) if d.has_endpoint else None
    if e is None or e.mode != "Direct":
        return {}
    ports = {d.server.container_port(c.index): c.index for c in d.containers}
    return {f"{e.name.lower()}/{r.hostname}": backend(ports[r.port]) for r in e.routes
            if r.running and r.port in ports and d.containers[ports[r.port]].hostname == r.hostname}  # fmt: skip


def _seconds(value: float) -> str:
    return f"{max(int(value * 1000), 1)}ms"


def render(d: Deployment, paths: Paths, public: tuple[str, int], inner_port: int) -> str:
    s = d.server
    bufsize = s.max_header_bytes + MAXREWRITE + DIRECT_BODY_MAX
    # Python enforces its own deadlines; HAProxy's inactivity timeouts towards it only have to be longer.
    python_s = max(s.invocation_timeout_s, s.stream_first_byte_timeout_s, s.stream_chunk_timeout_s, s.body_timeout_s)
    head = f"""\
global
    maxconn {s.max_connections + 64}
    stats socket {paths.socket} mode 600 level admin
    tune.bufsize {bufsize}
    lua-load {paths.lua}
    hard-stop-after {_seconds(s.drain_timeout_s + 1)}

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 1s
    timeout client {_seconds(python_s + 5)}
    timeout server {_seconds(python_s + 5)}
    timeout http-request {_seconds(s.header_timeout_s)}
    timeout http-keep-alive {_seconds(s.keep_alive_s)}
    # HAProxy 2.6's HTTP/1 layer answers a head it cannot parse (400) or that timed out (408) with its built-in
    # pages, whatever these say (README); these serve the same codes where the stream answers.
    errorfile 400 {paths.errorfile("400")}
    errorfile 408 {paths.errorfile("408")}
    errorfile 500 {paths.errorfile("500")}
    errorfile 502 {paths.errorfile("500")}
    errorfile 503 {paths.errorfile("503")}
    errorfile 504 {paths.errorfile("500")}

frontend coserve
    bind {public[0]}:{public[1]}
    maxconn {s.max_connections + 64}
    http-request set-var(txn.over) bool(1) if {{ fe_conn gt {s.max_connections} }}
    http-request return status 503 content-type application/json hdr x-amzn-ErrorType {_code("ServiceUnavailable")} \
file {paths.errorfile("maxconn.body")} if {{ var(txn.over) -m bool }}
    http-after-response set-header connection close if {{ var(txn.over) -m bool }}
"""
    return head + _direct(d, paths) + _backends(d, paths, inner_port)


def _direct(d: Deployment, paths: Paths) -> str:
    """The rules that send a Direct invocation to its container, or nothing: Serial and Coserve.Auth go to Python."""
    if d.mode != "Direct" or d.auth is not None:
        return "    default_backend frontdoor\n\n"
    s = d.server
    found = f"{{ var(txn.key),map({paths.routes}) -m found }}"
    relayable = (
        f"METH_POST {found} {{ req.hdr_cnt({TARGET}) eq 1 }} {{ req.hdr_cnt(x-coserve-trace) eq 0 }} "
        f"{{ req.hdr_cnt(transfer-encoding) eq 0 }} {{ req.hdr_cnt(content-length) eq 1 }} "
        f"{{ req.hdr_val(content-length) le {min(DIRECT_BODY_MAX, s.max_payload_bytes)} }} "
        f"{{ req.fhdr_cnt() lt {s.max_headers} }} {{ req.hdrs,length lt {s.max_header_bytes - 512} }}"
    )
    return f"""\
    acl named path -m reg ^/endpoints/[A-Za-z0-9-]+/invocations$
    http-request set-var(txn.target) req.fhdr({TARGET},1)
    http-request set-var(txn.key) path,field(3,/),lower,concat(/,txn.target) if named
    http-request set-var(txn.key) str({d.endpoint_name.lower()}),concat(/,txn.target) if {{ path /invocations }}
    http-request set-var(txn.relay) bool(1) if {relayable}
    use_backend %[var(txn.key),map({paths.routes})] if {{ var(txn.relay) -m bool }}
    default_backend frontdoor

"""


def _backends(d: Deployment, paths: Paths, inner_port: int) -> str:
    s = d.server
    keep_sent = "|".join(SENT)
    keep_back = "|".join(PASSED_BACK)
    out = [f"backend frontdoor\n    retry-on conn-failure\n    retries 2\n    server python 127.0.0.1:{inner_port}\n\n"]
    if d.mode != "Direct" or d.auth is not None:
        return out[0]
    for c in d.containers:
        name, log_path = backend(c.index), str(s.container_log(c.hostname))
        out.append(f"""\
backend {name}
    timeout server {_seconds(s.invocation_timeout_s)}
    # Never sent twice, as Python never does: a failed connection gets Python's ModelError (502) at once.
    retries 0
    errorfile 408 {paths.errorfile("408.body")}
    http-request wait-for-body time {_seconds(s.body_timeout_s)}
    http-request set-var(txn.busy) bool(1) if {{ srv_conn({name}/{name}) ge {s.max_in_flight} }}
    http-request lua.coserve_busy {c.hostname} if {{ var(txn.busy) -m bool }}
    http-request return status 503 content-type application/json hdr x-amzn-errortype {_code("ServiceUnavailable")} \
file {paths.errorfile(f"{name}.busy.body")} if {{ var(txn.busy) -m bool }}
    http-request del-header ^(?!({keep_sent})$) -m reg
    http-request set-header host 127.0.0.1:{s.container_port(c.index)}
    http-request set-uri /invocations
    http-response lua.coserve_too_large {c.hostname} "{log_path}" {s.max_response_bytes} \
if {{ res.hdr_val(content-length) gt {s.max_response_bytes} }}
    http-response wait-for-body time {_seconds(s.invocation_timeout_s)} if !{{ status 200:299 }}
    http-response lua.coserve_model_error {c.hostname} "{log_path}" if !{{ status 200:299 }}
    http-response del-header ^(?!({keep_back})$) -m reg
    http-response set-header x-amzn-invoked-production-variant {d.variant_name}
    errorfile 502 {paths.errorfile(f"{name}.502")}
    errorfile 503 {paths.errorfile(f"{name}.503")}
    errorfile 504 {paths.errorfile(f"{name}.504")}
    server {name} 127.0.0.1:{s.container_port(c.index)}

""")
    return "".join(out)


def _code(code: str) -> str:
    return f"{code}:http://internal.amazon.com/coral/com.amazon.sagemaker/"


def _http(error: SageMakerError, reason: str) -> bytes:
    """A whole HTTP answer, as HAProxy's errorfiles are: the error as runtime.router's _error renders it."""
    body = error.body()
    head = (f"HTTP/1.1 {error.status} {reason}\r\ncontent-type: application/json\r\n"
            f"x-amzn-errortype: {_code(error.code)}\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")  # fmt: skip
    return head.encode() + body


def errorfiles(d: Deployment) -> dict[str, bytes]:
    """name -> content, for Paths.errorfile(name). Each is the answer the Python front door gives in the same case."""
    s = d.server
    files = {
        "400": _http(ValidationError("Invalid HTTP request received."), "Bad Request"),
        "408": _http(
            RequestTimeout(
                f"The request's headers did not arrive within {s.header_timeout_s:g}s (Coserve.Server.HeaderTimeout)."
            ),
            "Request Timeout",
        ),
        "408.body": _http(
            RequestTimeout(
                f"The request's body did not arrive within {s.body_timeout_s:g}s (Coserve.Server.BodyTimeout)."
            ),
            "Request Timeout",
        ),
        "500": _http(SageMakerError("An internal error occurred in coserve."), "Internal Server Error"),
        "503": _http(ServiceUnavailable("The front door is not available. Try again."), "Service Unavailable"),
        "maxconn.body": ServiceUnavailable(
            f"The front door has reached its limit of {s.max_connections} open connections "
            "(Coserve.Server.MaxConnections). Try again."
        ).body(),
    }
    for c in d.containers:
        name, log_path = backend(c.index), str(s.container_log(c.hostname))
        reset = "connection failed: the container closed the connection"
        files[f"{name}.502"] = _http(ModelError(
            f'Received server error (0) from {c.hostname} with message "{reset}". See {log_path} for more information.',
            OriginalStatusCode=502, OriginalMessage=reset, LogStreamArn=log_path), "Failed Dependency")  # fmt: skip
        files[f"{name}.503"] = files[f"{name}.502"]  # HAProxy's 503 here: no connection to the container
        files[f"{name}.busy.body"] = ServiceUnavailable(
            f"Container {c.hostname} already has {s.max_in_flight} requests in flight "
            "(Coserve.Server.MaxInFlight). Reduce the request rate and try again.").body()  # fmt: skip
        files[f"{name}.504"] = _http(ModelError(
            f"Your invocation timed out while waiting for a response from container {c.hostname}. "
            f"Review the latency of the container, resolve the issue, and try again. See {log_path}.",
            OriginalStatusCode=504, OriginalMessage=f"no response within {s.invocation_timeout_s:g}s",
            LogStreamArn=log_path), "Failed Dependency")  # fmt: skip
    return files
