"""The ``oversight`` command: run, check, probe, report, audit, demo, version."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.audit import AuditPathError
from agent.config import ConfigError
from agent.sharding import Shard, ShardError, parse_shard

if TYPE_CHECKING:
    from agent.plan import Plan
    from agent.redact import Redactor

EPILOG = """\
examples:
  oversight demo                          simulated bill_pay, account and client integrations
  oversight check -c oversight.yaml       validate a config; errors name file, line and key
  oversight probe -c oversight.yaml       run every probe once and print a table
  oversight run -c oversight.yaml         run the agent (reloads when the file changes)
  oversight report --format html -o r.html   compliance and audit report of a running agent

config reference: README.md; a complete example: examples/oversight.yaml
"""


def _logging_options(parser: argparse.ArgumentParser) -> None:
    """--log-level and --log-format, on every command and on the actions under one.

    No defaults here (:func:`main` supplies them): a subparser's default would overwrite the
    value given to its parent, as in ``oversight audit --log-level debug verify FILE``.
    """
    parser.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["debug", "info", "warning", "error"],
        help="default: info",
    )
    parser.add_argument(
        "--log-format",
        default=argparse.SUPPRESS,
        choices=["text", "json"],
        help="text for people, json for log pipelines (default: text)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oversight",
        description="Oversight: a sidecar agent that probes integrations for health, performance, "
        "capacity and compliance, and exports Prometheus metrics and OpenTelemetry (OTLP).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        _logging_options(sub)
        return sub

    run = command("run", "Run the agent: probe on schedule, serve /metrics and the status API.")
    run.epilog = (
        "serves /metrics, /healthz, /readyz, /api/v1/status and a status page at /; "
        "reloads the config (and the web config) when the config file changes, on SIGHUP, or "
        "on POST /-/reload with --web.enable-lifecycle, keeping the running one if the new one "
        "is broken. "
        "Environment: POD_NAME and OVERSIGHT_LOCATION name this agent and its zone "
        "in the agent and location labels; OVERSIGHT_SHARD=i/n, or OVERSIGHT_SHARDS=n with "
        "the pod's ordinal from OVERSIGHT_POD_INDEX (else the trailing -k of POD_NAME or "
        "HOSTNAME) mod n, pick a shard of the probes; ${VAR} in the config reads any variable."
    )
    run.add_argument("-c", "--config", required=True, type=Path, help="the YAML config file")
    run.add_argument(
        "--listen",
        help="host:port to serve on; overrides agent.listen (default :9469, all interfaces)",
    )
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        metavar="FILE",
        help="TLS, basic auth and headers for every endpoint, in the exporter-toolkit web "
        "config format Prometheus uses; overrides agent.web_config",
    )
    _event_loop_option(run)
    _shard_option(run, "run only shard INDEX of TOTAL of the config's probes")
    run.add_argument(
        "--config.watch-interval",
        dest="config_watch_interval",
        type=_duration_argument,
        default=1.0,
        metavar="DURATION",
        help="how often to look at the config file, and reload it once it has changed and held "
        "still that long (a Kubernetes ConfigMap update included); 0 turns it off (default 1s)",
    )
    run.add_argument(
        "--web.enable-lifecycle",
        dest="web_enable_lifecycle",
        action="store_true",
        help="let POST /-/reload reload the config (off by default, as in Prometheus)",
    )

    check = command("check", "Validate a config file; print every problem with file, line, key.")
    check.add_argument("-c", "--config", required=True, type=Path, help="the YAML config file")
    _shard_option(check, "also say what shard INDEX of TOTAL would run")

    probe = command("probe", "Run every probe once, print a table; exit 1 if any fails.")
    probe.add_argument("-c", "--config", required=True, type=Path, help="the YAML config file")
    probe.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _shard_option(probe, "run only the probes of shard INDEX of TOTAL")

    demo = command(
        "demo", "Start simulated integrations with scripted faults and an agent watching them."
    )
    demo.add_argument(
        "--listen",
        default="127.0.0.1:9469",
        help="host:port for the agent (default 127.0.0.1:9469)",
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    _event_loop_option(demo)

    audit = command("audit", "Work with the audit trail.")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = audit_commands.add_parser(
        "verify",
        help="Check the hash chain of an audit log; exit 1 if a record was changed, removed, "
        "reordered or cut.",
        description="Check the hash chain of an audit log. Given the live file, its rotated "
        "files (FILE.1, FILE.2, ...) and its head marker (FILE.head) are checked with it. "
        "Given a JSON Lines export of a log store the agents ship their audit records to "
        "(OTLP/JSON as the OpenTelemetry Collector's file exporter writes it, or one record "
        "per line with its attributes), every agent's chain in it is checked.",
    )
    verify.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="the audit log, several files of one chain oldest first, or a log store's export",
    )
    verify.add_argument(
        "--agent", metavar="NAME", help="in an export, check only this agent's chain"
    )
    _logging_options(verify)

    report = command(
        "report",
        "Compliance and recent audit events for a period: Markdown, JSON, CSV or HTML.",
    )
    report.epilog = (
        "Reads a running agent's /api/v1/compliance and /api/v1/audit (--from, default "
        "http://127.0.0.1:9469), or with -c probes every endpoint of CONFIG once here."
    )
    report.add_argument("--format", choices=["md", "json", "csv", "html"], default="md")
    source = report.add_mutually_exclusive_group()
    source.add_argument("--from", dest="url", metavar="URL", help="a running agent's address")
    source.add_argument("-c", "--config", type=Path, help="probe this config once instead")
    report.add_argument(
        "--period", default="24h", help="how far back audit events go (default 24h)"
    )
    report.add_argument("-o", "--output", type=Path, help="write here instead of stdout")

    command("version", "Print the version.")
    return parser


def _shard_option(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument(
        "--shard",
        type=_shard_argument,
        metavar="INDEX/TOTAL",
        help=f"{what} (e.g. 0/4; shards count from 0); wins over agent.shard and "
        "$OVERSIGHT_SHARD / $OVERSIGHT_SHARDS",
    )


def _duration_argument(text: str) -> float:
    from agent.durations import parse_duration

    try:
        return parse_duration(text) if text.strip() != "0" else 0.0
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _shard_argument(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ShardError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _event_loop_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--event-loop",
        choices=["uvloop", "asyncio"],
        default=os.environ.get("OVERSIGHT_EVENT_LOOP", "uvloop"),
        help="uvloop (the default where it is installed: less CPU a probe) or Python's own "
        "asyncio loop; also $OVERSIGHT_EVENT_LOOP",
    )


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when asked for and installed, else None (asyncio's own)."""
    if name != "uvloop":
        return None
    try:
        import uvloop  # an optional, compiled dependency: not on every platform
    except ImportError:
        return None
    return uvloop.new_event_loop


def _serve(main: Coroutine[Any, Any, int], loop: str) -> int:
    with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
        return runner.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"oversight {__version__} (python {platform.python_version()})")
        return 0
    from agent.logs import setup_logging
    from agent.redact import Redactor
    from agent.web import ListenError

    empty = Redactor(frozenset())
    current: list[Callable[[], Redactor]] = [lambda: empty]  # the running App's, once there is one
    level, fmt = getattr(args, "log_level", "info"), getattr(args, "log_format", "text")
    setup_logging(level, fmt, lambda: current[0]())
    try:
        if args.command == "check":
            return _check(args.config, args.shard)
        if args.command == "probe":
            return asyncio.run(_probe(args.config, args.json, args.shard))
        if args.command == "run":
            return _serve(_run(args, current), args.event_loop)
        if args.command == "report":
            return asyncio.run(_report(args))
        if args.command == "audit":
            return _audit_verify(args.files, args.agent)
        if args.command == "demo":
            return _serve(_demo(args.listen, args.duration, current), args.event_loop)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except AuditPathError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ListenError as error:
        hint = " (another agent or demo running? use --listen)" if error.in_use else ""
        print(f"error: {error}{hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `oversight probe --json | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 2


def _check(path: Path, flag: Shard | None) -> int:
    from agent.config import load_config
    from agent.planning import build_plan, choose_shard, share

    plan = build_plan(load_config(path))  # the whole config, whatever the shard
    shard = choose_shard(flag, plan, os.environ)
    kinds: dict[str, int] = {}
    for probe in plan.probes.values():
        kinds[probe.kind] = kinds.get(probe.kind, 0) + 1
    scopes = [i.scope for i in plan.integrations.values()]
    print(
        f"{path}: ok: {len(plan.pattern_owners)} patterns, {len(plan.integrations)} integrations "
        f"({scopes.count('external')} external, {scopes.count('internal')} internal), "
        f"{len(plan.probes)} probes ("
        + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        + ")"
        + (f", {checks} of them auth checks" if (checks := _auth_checks(plan)) > 1 else "")
        + (", 1 of them an auth check" if checks == 1 else "")
        + _web_config_summary(plan)
        + _shard_summary(share(plan, shard))
    )
    return 0


def _shard_summary(plan: Plan) -> str:
    """What this agent's shard holds (``--shard``, agent.shard or the environment)."""
    if plan.shard is None:
        return ""
    return (
        f"; shard {plan.shard} runs {len(plan.probes)} probes of "
        f"{len(plan.integrations)} integrations"
    )


def _web_config_summary(plan: Plan) -> str:
    """``agent.web_config`` checked too: a broken one raises ConfigError like the config."""
    if plan.agent.web_config is None:
        return ""
    from agent.web.config import load_web_config

    web = load_web_config(Path(plan.source).parent / plan.agent.web_config)
    return f"; web config {plan.agent.web_config}: {web.summary}"


def _auth_checks(plan: Plan) -> int:
    """Probes the plan added to check that protected endpoints refuse a request without
    credentials (compliance.auth_required)."""
    return sum(1 for probe in plan.probes.values() if probe.derived_from is not None)


def _audit_verify(files: list[Path], agent: str | None) -> int:
    from agent.audit import verify_files
    from agent.audit.export import describe, is_export, verify_export

    if is_export(files[0]):
        exported = verify_export(files, agent)
        for problem in exported.problems:
            print(problem, file=sys.stderr)
        if exported.ok:
            print(
                f"ok: {exported.records} records of {len(exported.chains)} agent(s) in the "
                f"export ({describe(exported)})"
            )
            return 0
        print(
            f"FAILED: {len(exported.problems)} problem(s) in {exported.records} exported records",
            file=sys.stderr,
        )
        return 1
    head = None
    if len(files) == 1:
        live = files[0]
        rotated = sorted(
            live.parent.glob(live.name + ".[0-9]*"), key=lambda p: int(p.suffix[1:]), reverse=True
        )
        files = [*rotated, live]
        head = live.with_name(live.name + ".head")
    verdict = verify_files(files, head=head)
    for problem in verdict.problems:
        print(problem, file=sys.stderr)
    if verdict.ok:
        print(
            f"ok: {verdict.records} records, {verdict.first_seq}..{verdict.last_seq}, "
            f"in {len(files)} file(s)"
        )
        return 0
    print(
        f"FAILED: {len(verdict.problems)} problem(s) in {verdict.records} records", file=sys.stderr
    )
    return 1


async def _probe(path: Path, as_json: bool, shard: Shard | None) -> int:
    from agent.planning import load_plan
    from agent.reporting.probe import probe_all, render_table

    plan = load_plan(path, shard=shard)
    results = await probe_all(plan)
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        print(render_table(results))
    return 0 if all(r["success"] for r in results) else 1


async def _report(args: argparse.Namespace) -> int:
    from agent.durations import parse_duration
    from agent.reporting.report import ReportError, from_agent, from_config, render

    try:
        period = parse_duration(args.period)
    except ValueError as exc:
        print(f"error: --period: {exc}", file=sys.stderr)
        return 2
    try:
        if args.config is not None:
            document = await from_config(args.config, period)
        else:
            document = await from_agent(args.url or "http://127.0.0.1:9469", period)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    text = render(document, args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({args.format})", file=sys.stderr)
    return 0


async def _serve_until_signal(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _run(args: argparse.Namespace, current: list[Callable[[], Redactor]]) -> int:
    from agent.app import App
    from agent.web import WebOptions, serve

    app = App(
        args.config,
        listen=args.listen,
        shard=args.shard,
        watch_interval=args.config_watch_interval,
        tune_gc=True,
    )
    current[0] = lambda: app.redactor
    options = WebOptions(lifecycle=args.web_enable_lifecycle, config_file=args.web_config_file)
    runner = await serve(app, options)
    await app.start()
    print(
        f"oversight {__version__} listening on {app.listen} (metrics at /metrics)", file=sys.stderr
    )
    stop = asyncio.Event()
    try:
        await _serve_until_signal(stop)
    finally:
        await app.stop()
        await runner.cleanup()
    return 0


async def _demo(listen: str, duration: float | None, current: list[Callable[[], Redactor]]) -> int:
    from agent.app import App
    from agent.demo.services import start_services
    from agent.demo.timeline import run_timeline
    from agent.web import WebOptions, check_listen, serve

    check_listen(listen)  # a busy port says so before anything starts
    workdir = Path(tempfile.mkdtemp(prefix="oversight-demo-"))
    services = await start_services(workdir)
    try:
        config_path = workdir / "oversight.yaml"
        config_path.write_text(services.config_yaml(listen))
        app = App(config_path, listen=listen, tune_gc=True)
        current[0] = lambda: app.redactor
        runner = await serve(app, WebOptions(lifecycle=True))
    except BaseException:
        await services.stop()
        raise
    await app.start()
    timeline = asyncio.create_task(run_timeline(services))
    base = f"http://{listen}"
    audit = app.plan.audit.path if app.plan.audit else "(none)"
    oversight = _self_command()
    print(
        f"""
Oversight demo: {len(app.plan.integrations)} simulated integrations, {len(app.plan.probes)} probes.
  status page   {base}/
  status API    {base}/api/v1/status
  metrics       {base}/metrics
  config        {config_path}  (edit it, then: curl -X POST {base}/-/reload)
  compliance    {base}/api/v1/compliance
  report        {oversight} report --from {base} --format html -o compliance.html
  audit log     {audit}
  verify it     {oversight} audit verify {audit}
Faults start within the first minute and repeat. Ctrl-C stops the demo.
""",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    if duration is not None:
        asyncio.get_running_loop().call_later(duration, stop.set)
    try:
        await _serve_until_signal(stop)
    finally:
        timeline.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timeline  # its clean-up heals the services before they stop
        await app.stop()
        await runner.cleanup()
        await services.stop()
    return 0


def _self_command() -> str:
    """How a shell calls this same ``oversight``: the bare name when PATH finds this one, else
    its full path (``bash scripts/demo`` installs it in .venv/bin, which is not on PATH)."""
    script = Path(sys.argv[0])
    if script.name != "oversight":  # python -m agent.cli: the script beside the interpreter
        script = Path(sys.executable).with_name("oversight")
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m agent.cli"
    found = shutil.which("oversight")
    if found is not None and Path(found).resolve() == script.resolve():
        return "oversight"
    return shlex.quote(str(script.absolute()))


if __name__ == "__main__":
    sys.exit(main())
