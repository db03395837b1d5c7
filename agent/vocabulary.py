"""The metric vocabulary: every family the agent exports, its type, labels and help; the bucket
bounds; the keys a probe run records. One place, so that probers, views and tests name a family
by the same object, and a misspelt key is an import error instead of a silent gap.

Names follow blackbox_exporter where the meaning is the same, so existing dashboards and rules
keep working; everything new is ``oversight_*``. Base units; counters end in ``_total``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PROBE_LABELS = ("pattern", "integration", "scope", "probe")
INTEGRATION_LABELS = ("pattern", "integration", "scope")

# Probe latency buckets (seconds): loopback to a slow partner across the internet.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Scheduler lag buckets (seconds): a healthy loop stays in the first two.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Detail(StrEnum):
    """Short strings a run records beside its numbers (``Result.info``): some are the labels
    of an ``*_info`` family, the others show in the status API only."""

    TLS_VERSION = "tls_version"
    TLS_CIPHER = "tls_cipher"
    SSL_LEAF_FINGERPRINT = "ssl_leaf_fingerprint_sha256"
    SSL_LEAF_SUBJECT = "ssl_leaf_subject"
    SSL_LEAF_ISSUER = "ssl_leaf_issuer"
    SSL_LEAF_SANS = "ssl_leaf_sans"
    SSL_LEAF_SERIAL = "ssl_leaf_serial"
    REMOTE_ADDRESS = "remote_address"
    DNS_TRANSPORT = "dns_transport"
    PROCESS_NAME = "process_name"
    MEMORY_LIMIT_FROM = "memory_limit_from"
    CREDENTIAL_SUBJECT = "credential_subject"


@dataclass(frozen=True, slots=True, eq=False)
class Family:
    """One metric family. Compared and hashed by identity: each is declared once, here.

    ``key`` names a value family in a Result's values and in the status API
    (``http_status_code``); ``details`` are the Result.info entries an ``*_info`` family takes
    its own labels from, in label order.
    """

    name: str  # counters without the _total suffix (prometheus_client adds it)
    type: str  # gauge | counter | histogram
    help: str
    labels: tuple[str, ...] = PROBE_LABELS
    key: str = ""
    details: tuple[Detail, ...] = ()


def _probe(name: str, help: str, *extra: str, type: str = "gauge") -> Family:
    return Family(name, type, help, PROBE_LABELS + extra)


def _value(key: str, help: str, name: str = "") -> Family:
    """A number one run records, exported under the probe's labels as ``probe_<key>``."""
    return Family(name or f"probe_{key}", "gauge", help, PROBE_LABELS, key=key)


def _info(name: str, help: str, **labels: Detail) -> Family:
    """An ``*_info`` family (value 1) whose own labels are details of the run."""
    return Family(name, "gauge", help, PROBE_LABELS + tuple(labels), details=tuple(labels.values()))


PROBE_SUCCESS = _probe("probe_success", "Whether the last run of the probe succeeded.")
PROBE_DURATION = _probe("probe_duration_seconds", "How long the last run took, in seconds.")
PROBE_HTTP_PHASES = _probe(
    "probe_http_duration_seconds", "Duration of each phase of the last HTTP run.", "phase"
)
PROBE_DNS_LOOKUP = _probe(
    "probe_dns_lookup_time_seconds",
    "Time the last run spent resolving the target's name (http: the resolve phase).",
)
PROBE_PHASES = _probe(
    "oversight_probe_phase_duration_seconds", "Duration of each phase of the last run.", "phase"
)

# Numbers a run records (Result.values), keyed by family. Names and meanings are blackbox's.
HTTP_STATUS_CODE = _value("http_status_code", "Response HTTP status code.")
HTTP_VERSION = _value("http_version", "Response HTTP version.")
HTTP_CONTENT_LENGTH = _value("http_content_length", "Length of the HTTP content response.")
HTTP_UNCOMPRESSED_BODY_LENGTH = _value(
    "http_uncompressed_body_length", "Length of the uncompressed response body."
)
HTTP_REDIRECTS = _value("http_redirects", "The number of redirects.")
SSL_EARLIEST_CERT_EXPIRY = _value(
    "ssl_earliest_cert_expiry", "Earliest expiring certificate in the chain, unix seconds."
)
SSL_LAST_CHAIN_EXPIRY = _value(
    "ssl_last_chain_expiry_timestamp_seconds", "Expiry of the leaf certificate, unix seconds."
)
DNS_ANSWER_RRS = _value("dns_answer_rrs", "Number of entries in the answer section.")
DNS_AUTHORITY_RRS = _value("dns_authority_rrs", "Number of entries in the authority section.")
DNS_ADDITIONAL_RRS = _value("dns_additional_rrs", "Number of entries in the additional section.")
DNS_SERIAL = _value("dns_serial", "The serial number of the zone, from the SOA record.")
CREDENTIAL_EXPIRY = _value(
    "credential_expiry_timestamp_seconds",
    "When the credential (client certificate or token) a credential probe reads expires, unix "
    "seconds.",
    name="oversight_credential_expiry_timestamp_seconds",
)

TLS_VERSION_INFO = _info(
    "probe_tls_version_info", "The TLS version used.", version=Detail.TLS_VERSION
)
TLS_CIPHER_INFO = _info(
    "probe_tls_cipher_info", "The TLS cipher negotiated.", cipher=Detail.TLS_CIPHER
)
SSL_CHAIN_INFO = _info(
    "probe_ssl_last_chain_info",
    "Details of the leaf certificate the target presented.",
    fingerprint_sha256=Detail.SSL_LEAF_FINGERPRINT,
    subject=Detail.SSL_LEAF_SUBJECT,
    issuer=Detail.SSL_LEAF_ISSUER,
    subjectalternative=Detail.SSL_LEAF_SANS,
    serialnumber=Detail.SSL_LEAF_SERIAL,
)
INFO_FAMILIES = (TLS_VERSION_INFO, TLS_CIPHER_INFO, SSL_CHAIN_INFO)
# What a TLS handshake adds to a run (agent/probers/tlsconf.py records all of it).
TLS_FAMILIES = (SSL_EARLIEST_CERT_EXPIRY, SSL_LAST_CHAIN_EXPIRY, *INFO_FAMILIES)

PROBE_RUNS = _probe("oversight_probe_runs", "Probe runs since the agent started.", type="counter")
PROBE_FAILURES = _probe(
    "oversight_probe_failures", "Failed probe runs by reason.", "reason", type="counter"
)
PROBE_DURATION_HISTOGRAM = _probe(
    "oversight_probe_duration_seconds",
    "Distribution of probe run durations (agent.histograms or the probe's histogram: true).",
    type="histogram",
)
PROBE_INFO = _probe(
    "oversight_probe_info",
    "What a probe checks and how often (interval in seconds).",
    "kind",
    "target",
    "interval",
)
PROBE_ATTEMPTS = _probe(
    "oversight_probe_attempts",
    "Attempts the last run took (1 unless a retry was needed); only probes with retries.",
)


def _threshold(signal: str, unit: str) -> Family:
    return _probe(
        f"oversight_probe_{signal}_threshold_{unit}",
        f"Configured {signal.replace('_', ' ')} threshold of the probe, by severity.",
        "severity",
    )


# One family per threshold signal, each in its own unit (agent/thresholds.py names them).
LATENCY_THRESHOLD = _threshold("latency", "seconds")
CERT_EXPIRY_THRESHOLD = _threshold("cert_expiry", "seconds")
CREDENTIAL_EXPIRY_THRESHOLD = _threshold("credential_expiry", "seconds")
UTILISATION_THRESHOLD = _threshold("utilisation", "ratio")

INTEGRATION_STATE = Family(
    "oversight_integration_state",
    "gauge",
    "The integration's current state (1); root_cause names the integration at fault "
    "(pattern/integration): a down dependency while it is impacted, or the one a flow's step "
    "failed at while it is down for that; empty otherwise.",
    (*INTEGRATION_LABELS, "state", "root_cause"),
)
INTEGRATION_INFO = Family(
    "oversight_integration_info",
    "gauge",
    "Who owns an integration, how critical it is and where its runbook is.",
    (*INTEGRATION_LABELS, "criticality", "owner", "runbook"),
)
INTEGRATION_STATE_SINCE = Family(
    "oversight_integration_state_since_timestamp_seconds",
    "gauge",
    "When the integration entered its current state, unix seconds.",
    INTEGRATION_LABELS,
)
INTEGRATION_FLAPPING = Family(
    "oversight_integration_flapping",
    "gauge",
    "1 while the integration changes state too often within the flapping window.",
    INTEGRATION_LABELS,
)
INTEGRATION_DEPENDS_ON = Family(
    "oversight_integration_depends_on",
    "gauge",
    "One series (1) per direct dependency of the integration, as pattern/integration.",
    (*INTEGRATION_LABELS, "dependency"),
)
INTEGRATION_OBJECTIVE = Family(
    "oversight_integration_slo_objective_ratio",
    "gauge",
    "The integration's service level objective, e.g. 0.999 for availability.",
    (*INTEGRATION_LABELS, "slo"),
)

BUILD_INFO = Family(
    "oversight_build_info",
    "gauge",
    "Agent version, and the shard of the config's probes it runs (i/n; empty: all of them).",
    ("version", "python_version", "shard"),
)
SCHEDULER_LAG = Family(
    "oversight_scheduler_lag_seconds",
    "histogram",
    "Delay between a run's scheduled time and its start, including the wait for a slot.",
    (),
)
EVENT_LOOP_LAG = Family(
    "oversight_event_loop_lag_seconds",
    "histogram",
    "How late the agent's event loop woke a timer: what every probe, scrape and sweep waited.",
    (),
)
SCHEDULER_SKIPPED = Family(
    "oversight_scheduler_skipped_runs",
    "counter",
    "Runs skipped by the scheduler, by reason.",
    ("reason",),
)
PROBES_IN_FLIGHT = Family("oversight_probes_in_flight", "gauge", "Probe runs in progress.", ())
PROBES_CONFIGURED = Family(
    "oversight_probes_configured", "gauge", "Configured probes by kind.", ("kind",)
)
RELOAD_SUCCESSFUL = Family(
    "oversight_config_last_reload_successful",
    "gauge",
    "Whether the last config (re)load succeeded.",
    (),
)
RELOAD_SUCCESS_TIME = Family(
    "oversight_config_last_reload_success_timestamp_seconds",
    "gauge",
    "When the config was last loaded successfully, unix seconds.",
    (),
)
EXPORT_FAILURES = Family(
    "oversight_export_failures",
    "counter",
    "Exports that failed, or fell due while an earlier one was still waiting, by exporter and "
    "signal (otlp: metrics, traces).",
    ("exporter", "signal"),
)
EXPORT_DROPPED = Family(
    "oversight_export_dropped",
    "counter",
    "Items dropped before export because the exporter's queue was full (otlp: spans).",
    ("exporter", "signal"),
)
AGENT_READY = Family(
    "oversight_agent_ready",
    "gauge",
    "Whether the agent is ready: config loaded, first round done.",
    (),
)

# Flows (agent/probers/flow.py): one series of each per step. A step that did not run (an
# earlier one failed) has no success and duration series in that run; step_integration is the
# pattern/integration the step calls.
FLOW_STEP_SUCCESS = _probe(
    "oversight_flow_step_success",
    "Whether the step succeeded in the last run of the flow (absent: it did not run).",
    "step",
    "step_integration",
)
FLOW_STEP_DURATION = _probe(
    "oversight_flow_step_duration_seconds",
    "How long the step took in the last run of the flow, every request of it included.",
    "step",
)
FLOW_STEP_FAILURES = _probe(
    "oversight_flow_step_failures",
    "Runs of the flow that failed at this step.",
    "step",
    type="counter",
)

# Commands (agent/probers/command.py): the Nagios plugin contract.
COMMAND_STATUS = _value(
    "command_status",
    "The check's state from its exit code: 0 ok, 1 warning, 2 critical, 3 unknown.",
    name="oversight_command_status",
)
COMMAND_PERFDATA = _probe(
    "oversight_command_perfdata",
    "A performance value the check reported, in base units (seconds, bytes, ratio).",
    "label",
    "unit",
)

# Capacity (Result.capacity): how much of each resource a probe saw used, and of how much.
# `resource` names it (cpu, memory, open_fds, disk:/var/lib, pool:db, quota:requests,
# credential:client-cert); `unit` is its base unit (bytes, seconds, count, cores).
CAPACITY_USED = _probe(
    "oversight_capacity_used", "How much of the resource is in use.", "resource", "unit"
)
CAPACITY_LIMIT = _probe(
    "oversight_capacity_limit", "How much of the resource there is.", "resource", "unit"
)
CAPACITY_UTILISATION = _probe(
    "oversight_capacity_utilisation_ratio",
    "Used over limit, 0 to 1 (a credential: the share of its lifetime gone).",
    "resource",
)
CAPACITY_FAMILIES = (CAPACITY_USED, CAPACITY_LIMIT, CAPACITY_UTILISATION)


# Compliance (agent/evaluation/compliance.py): the checks an integration fails, the counts and
# scores of each pattern, the audit trail.
COMPLIANCE_FAILING = Family(
    "oversight_compliance_failing",
    "gauge",
    "Present (1) while the integration fails the policy; absent while it passes or the policy "
    "does not apply (the pattern's counts and score say how many pass).",
    (*INTEGRATION_LABELS, "policy"),
)
COMPLIANCE_CHECKS = Family(
    "oversight_compliance_checks",
    "gauge",
    "Compliance checks of a pattern by status (pass, fail, not_applicable).",
    ("pattern", "status"),
)
COMPLIANCE_SCORE = Family(
    "oversight_compliance_score_ratio",
    "gauge",
    "Share of a pattern's applicable compliance checks that pass (absent while none applies).",
    ("pattern",),
)
COMPLIANCE_OVERALL_SCORE = Family(
    "oversight_compliance_overall_score_ratio",
    "gauge",
    "Share of all applicable compliance checks that pass (absent while none applies).",
    (),
)
AUDIT_EVENTS = Family(
    "oversight_audit_events", "counter", "Audit events recorded since start, by type.", ("type",)
)
AUDIT_WRITE_FAILURES = Family(
    "oversight_audit_write_failures",
    "counter",
    "Audit log writes that failed (a full disk); the events stay queued and are retried.",
    (),
)
AUDIT_PENDING = Family(
    "oversight_audit_pending_events", "gauge", "Audit events waiting to be written.", ()
)
AUDIT_LAST_WRITE = Family(
    "oversight_audit_last_write_success_timestamp_seconds",
    "gauge",
    "When the audit log was last written successfully, unix seconds (0: not yet).",
    (),
)
