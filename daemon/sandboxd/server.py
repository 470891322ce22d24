"""gRPC handlers: translate `sandbox.v1` messages to the service and back.

Every bad input becomes a gRPC status with a clear message; nothing a client sends can take
the daemon down.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import platform
import time
from collections.abc import Callable

import grpc
from sandboxctl._pb.sandbox.v1 import sandbox_pb2 as pb
from sandboxctl._pb.sandbox.v1 import sandbox_pb2_grpc as pb_grpc

from . import __version__, lint
from .admission import RawRequest, Rejected
from .lint.offload import lint_off_loop
from .peer import decode_peer, policy_for
from .result import Finding, RunResult
from .service import Peer, Service, TooBusy, Unavailable

log = logging.getLogger("sandboxd.server")

INLINE_LINT_BYTES = 1024  # ~1 ms of analysis at most (lint/offload.py measured ~40 ms per 32 KB)
LIMIT_FIELDS = ("memory_mb", "cpu_seconds", "timeout_seconds", "max_processes", "max_file_size_mb",
                "max_output_bytes")


def result_to_pb(r: RunResult) -> pb.Result:
    u = r.usage
    msg = pb.Result(
        id=r.id, status=r.status, stdout=r.stdout, stderr=r.stderr,
        stdout_truncated=r.stdout_truncated, stderr_truncated=r.stderr_truncated,
        usage=pb.Usage(wall_ms=u.wall_ms, cpu_user_ms=u.cpu_user_ms, cpu_system_ms=u.cpu_system_ms,
                       peak_memory_bytes=u.peak_memory_bytes, avg_memory_bytes=u.avg_memory_bytes,
                       max_processes=u.max_processes, stdout_bytes=u.stdout_bytes,
                       stderr_bytes=u.stderr_bytes),
        lint=[finding_to_pb(f) for f in r.lint], warm_start=r.warm_start,
    )
    if r.exit_code is not None:
        msg.exit_code = int(r.exit_code)
    if r.signal is not None:
        msg.signal = int(r.signal)
    if r.error is not None:
        msg.error = r.error
    return msg


def finding_to_pb(f: Finding) -> pb.Finding:
    return pb.Finding(rule=f.rule, severity=f.severity, line=f.line, col=f.col, message=f.message)


async def _lint(language: str, code: bytes) -> list[Finding]:
    """Lints off the event loop (a thread, or a child process for large programs: see
    lint/offload.py), so a 1 MB program does not stall every other client's output.

    A small program is linted right here: that takes 10-70 µs, while the hop to a thread and
    back cost more than the whole analysis and delayed the run's start by milliseconds on a busy
    host (the thread needs the GIL, the result needs the loop to wake up). Analysis holds the
    GIL either way, so other clients wait no longer than they would behind the thread."""
    source = code.decode("utf-8", errors="replace")
    if len(code) <= INLINE_LINT_BYTES:
        found = lint.lint(source, language)
    else:
        found = await lint_off_loop(source, language)
    return [Finding(f.rule, f.severity, f.line, f.col, f.message) for f in found]


class SandboxServicer(pb_grpc.SandboxServicer):
    def __init__(self, service: Service) -> None:
        self.service = service

    async def _peer(self, context: grpc.aio.ServicerContext) -> Peer:
        cred = decode_peer(context.peer())
        if cred is None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "connections must come through the daemon's socket")
        assert cred is not None
        if not policy_for(self.service.cfg).allows(cred.uid, cred.gid):
            log.warning("event=peer_refused peer_uid=%d peer_gid=%d peer_pid=%d", cred.uid, cred.gid, cred.pid)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"uid {cred.uid} is not allowed to use this sandboxd "
                                "(see allowed_uids/allowed_gids/allowed_groups in its config)")
        return Peer(cred.uid, cred.gid, cred.pid)

    async def _admit(self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext,
                     ) -> tuple[Peer, RawRequest, asyncio.Future[list[Finding]], RunResult | None]:
        """Who asks, what, and the lint findings to come; the last item is the result when the
        lint policy refused the run (nothing runs then). A bad request aborts the call.

        Under 'warn' (the default) the findings cannot stop the run, so the analysis is a task
        that runs while the worker does (the loop is idle then) and the result waits for it;
        only 'deny' has to lint before the hand-over."""
        peer = await self._peer(context)
        limits = {f: (getattr(request.limits, f) if request.limits.HasField(f) else None) for f in LIMIT_FIELDS}
        raw = RawRequest(request.language, request.code, request.filename, request.stdin,
                         list(request.args), dict(request.env), dict(request.files), limits)
        try:
            policy = self._lint_policy(request.lint_policy)
        except Rejected as exc:
            await self._abort(context, peer, raw, exc)
        findings: asyncio.Future[list[Finding]] = asyncio.get_running_loop().create_future()
        # An oversized program is refused by admission; linting it first would only burn CPU.
        lintable = len(raw.code) <= self.service.cfg.requests.max_code_bytes
        if policy == "off" or not lintable or raw.language not in lint.LANGUAGES:
            findings.set_result([])
        elif policy == "warn":
            findings = asyncio.ensure_future(_lint(raw.language, raw.code))
        else:
            found = await _lint(raw.language, raw.code)
            findings.set_result(found)
            if lint.blocks(found, policy):
                self.service.reject_count()
                result = RunResult(id="", status="rejected", lint=found,
                                   error="refused by lint policy 'deny': " + "; ".join(
                                       f"{f.rule} (line {f.line})" for f in found if f.severity == "error"))
                self._refused(peer, raw, "rejected", result.error or "")
                return peer, raw, findings, result
        return peer, raw, findings, None

    async def _abort(self, context: grpc.aio.ServicerContext, peer: Peer, raw: RawRequest,
                     exc: Exception) -> None:
        """Ends the call with the gRPC status for a run that could not happen (always raises)."""
        if isinstance(exc, Rejected):
            self.service.reject_count()
            self._refused(peer, raw, "rejected", str(exc))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if isinstance(exc, TooBusy):
            self._refused(peer, raw, "resource_exhausted", str(exc))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        if isinstance(exc, Unavailable):
            self._refused(peer, raw, "unavailable", str(exc))
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        log.error("event=run_crashed error=%r", str(exc), exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, f"sandboxd internal error: {exc}")

    async def Execute(self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        peer, raw, findings, refused = await self._admit(request, context)
        if refused is not None:
            yield pb.ExecuteEvent(finished=result_to_pb(refused))
            return
        # Events in order; None once the run's task is done (its events are all queued by then).
        queue: asyncio.Queue[pb.ExecuteEvent | None] = asyncio.Queue()

        async def on_started(run_id: str, warm: bool) -> None:
            await queue.put(pb.ExecuteEvent(started=pb.Started(id=run_id, warm_start=warm)))

        async def emit(stream: str, data: bytes) -> None:
            kind = pb.Output.STDOUT if stream == "stdout" else pb.Output.STDERR
            await queue.put(pb.ExecuteEvent(output=pb.Output(stream=kind, data=data)))

        task = asyncio.create_task(self.service.execute(raw, peer, emit, on_started, findings,
                                                        after_response=self._after_response(context)))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (event := await queue.get()) is not None:
                yield event
            try:
                result = task.result()
            except Exception as exc:
                await self._abort(context, peer, raw, exc)
        finally:
            if not task.done():  # the client went away: kill the run, wait for its teardown
                task.cancel()
                try:
                    await task
                except BaseException:  # the run is being abandoned either way
                    pass
        yield pb.ExecuteEvent(finished=result_to_pb(result))

    async def Run(self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext) -> pb.Result:  # noqa: N802
        """Execute without the stream. A client that goes away cancels this handler, and with
        it the run (service.execute kills a run that did not end)."""
        peer, raw, findings, refused = await self._admit(request, context)
        if refused is not None:
            return result_to_pb(refused)
        try:
            result = await self.service.execute(raw, peer, None, None, findings,
                                                after_response=self._after_response(context))
        except Exception as exc:
            await self._abort(context, peer, raw, exc)
        return result_to_pb(result)

    @staticmethod
    def _after_response(context: grpc.aio.ServicerContext) -> Callable[[Callable[[], None]], None]:
        """Defers a finished run's teardown until its RPC is over: the client has its result
        (and the trailers) before the daemon spends CPU killing the worker and refilling."""
        loop = asyncio.get_running_loop()

        def defer(teardown: Callable[[], None]) -> None:
            context.add_done_callback(lambda _: loop.call_soon_threadsafe(teardown))

        return defer

    def _refused(self, peer: Peer, raw: RawRequest, status: str, reason: str) -> None:
        """A refused request is logged like a finished run (who, what, why not): the audit
        trail covers every request, not only those that ran."""
        language = raw.language if raw.language in self.service.cfg.languages else "unknown"
        log.info("event=run_refused peer_uid=%d peer_pid=%d language=%s sha256=%s status=%s reason=%r",
                 peer.uid, peer.pid, language, hashlib.sha256(raw.code).hexdigest(), status, reason)

    def _lint_policy(self, requested: str) -> str:
        """The policy for this run: the configured one is a floor the request may only raise."""
        if requested and requested not in lint.POLICIES:
            raise Rejected(f"--lint-policy: must be one of {', '.join(lint.POLICIES)}, got {requested!r}")
        return lint.stricter_policy(self.service.cfg.lint_policy, requested)

    async def Cancel(self, request: pb.CancelRequest, context: grpc.aio.ServicerContext) -> pb.CancelResponse:  # noqa: N802
        await self._peer(context)
        return pb.CancelResponse(cancelled=self.service.cancel(request.id))

    def _capabilities(self) -> list[pb.Capability]:
        return [pb.Capability(layer=c.layer, enforced=c.enforced, detail=c.detail)
                for c in self.service.backend.capabilities()]

    async def GetStatus(self, request: pb.StatusRequest, context: grpc.aio.ServicerContext) -> pb.StatusResponse:  # noqa: N802
        await self._peer(context)
        s = self.service
        pools = []
        for name, pool in s.pools.items():
            p50, p90, p99 = pool.handover_percentiles()
            pools.append(pb.PoolStatus(
                language=name, target=pool.target, ready=len(pool.ready), building=pool.building,
                runs_served=pool.stats.runs_served, mean_build_ms=pool.mean_build_ms(),
                handover_p50_ms=p50, handover_p90_ms=p90, handover_p99_ms=p99, cold_starts=pool.stats.cold_starts,
                waiting=len(pool.waiters), build_failures=pool.stats.build_failures,
                last_build_error=pool.last_error))
        return pb.StatusResponse(version=__version__, uptime_s=time.monotonic() - s.started,
                                 active_runs=len(s.active), runs_total=s.runs_total,
                                 runs_by_status=dict(s.status_counts), pools=pools,
                                 capabilities=self._capabilities(), draining=s.draining)

    async def GetCapabilities(self, request: pb.CapabilitiesRequest,  # noqa: N802
                              context: grpc.aio.ServicerContext) -> pb.CapabilitiesResponse:
        await self._peer(context)
        return pb.CapabilitiesResponse(platform=f"{platform.system()} {platform.release()} {platform.machine()}",
                                       backend=self.service.backend.name, capabilities=self._capabilities(),
                                       languages=sorted(self.service.cfg.languages))

    async def Lint(self, request: pb.LintRequest, context: grpc.aio.ServicerContext) -> pb.LintResponse:  # noqa: N802
        await self._peer(context)
        rules = [pb.Rule(id=r.id, severity=r.severity, languages=list(r.languages), message=r.message,
                         rationale=r.rationale) for r in lint.RULES]
        if not request.code:
            return pb.LintResponse(rules=rules)
        if request.language not in lint.LANGUAGES:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"lint: unknown language {request.language!r} ({', '.join(lint.LANGUAGES)})")
        cap = self.service.cfg.requests.max_code_bytes
        if len(request.code) > cap:  # the same cap as a run's program: linting is not free either
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"lint: the program is {len(request.code)} bytes; the limit is {cap}")
        findings = [finding_to_pb(f) for f in await _lint(request.language, request.code)]
        return pb.LintResponse(findings=findings, rules=rules)
