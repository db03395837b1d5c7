"""The metric vocabulary: every family the agent exports, its type, labels and help, in one place.

Names follow blackbox_exporter where the meaning is the same, so existing dashboards and rules
keep working; everything new is ``oversight_*``. Base units; counters end in ``_total``.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE_LABELS = ("pattern", "integration", "scope", "probe")
INTEGRATION_LABELS = ("pattern", "integration", "scope")


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # counters without the _total suffix (prometheus_client adds it)
    type: str  # gauge | counter | histogram
    help: str
    labels: tuple[str, ...] = PROBE_LABELS


def _probe(name: str, help: str, *extra: str, type: str = "gauge") -> Family:
    return Family(name, type, help, PROBE_LABELS + extra)


PROBE_SUCCESS = _probe("probe_success", "Whether the last run of the probe succeeded.")
PROBE_DURATION = _probe("probe_duration_seconds", "How long the last run took, in seconds.")
PROBE_HTTP_PHASES = _probe(
    "probe_http_duration_seconds", "Duration of each phase of the last HTTP run.", "phase"
)
PROBE_DNS_LOOKUP = _probe(
    "probe_dns_lookup_time_seconds", "Time the last run spent resolving the target's name."
)
PROBE_PHASES = _probe(
    "oversight_probe_phase_duration_seconds", "Duration of each phase of the last run.", "phase"
)

# Result.values key -> family. Names and meanings are blackbox_exporter's.
VALUE_FAMILIES = {
    key: _probe(f"probe_{key}", help)
    for key, help in (
        ("http_status_code", "Response HTTP status code."),
        ("http_version", "Response HTTP version."),
        ("http_content_length", "Length of the HTTP content response."),
        ("http_uncompressed_body_length", "Length of the uncompressed response body."),
        ("http_redirects", "The number of redirects."),
        ("http_ssl", "Whether SSL was used for the final redirect."),
        ("ssl_earliest_cert_expiry", "Earliest expiring certificate in the chain, unix seconds."),
        (
            "ssl_last_chain_expiry_timestamp_seconds",
            "Expiry of the leaf certificate, unix seconds.",
        ),
        ("dns_answer_rrs", "Number of entries in the answer section."),
        ("dns_authority_rrs", "Number of entries in the authority section."),
        ("dns_additional_rrs", "Number of entries in the additional section."),
        ("dns_serial", "The serial number of the zone, from the SOA record."),
    )
}

TLS_VERSION_INFO = _probe("probe_tls_version_info", "The TLS version used.", "version")
TLS_CIPHER_INFO = _probe("probe_tls_cipher_info", "The TLS cipher negotiated.", "cipher")
SSL_CHAIN_INFO = _probe(
    "probe_ssl_last_chain_info",
    "Details of the leaf certificate the target presented.",
    "fingerprint_sha256",
    "subject",
    "issuer",
    "subjectalternative",
    "serialnumber",
)
# info label -> Result.info key, for SSL_CHAIN_INFO
SSL_CHAIN_KEYS = (
    ("fingerprint_sha256", "ssl_leaf_fingerprint_sha256"),
    ("subject", "ssl_leaf_subject"),
    ("issuer", "ssl_leaf_issuer"),
    ("subjectalternative", "ssl_leaf_sans"),
    ("serialnumber", "ssl_leaf_serial"),
)

PROBE_RUNS = _probe("oversight_probe_runs", "Probe runs by result.", "result", type="counter")
PROBE_FAILURES = _probe(
    "oversight_probe_failures", "Failed probe runs by reason.", "reason", type="counter"
)
PROBE_DURATION_HISTOGRAM = _probe(
    "oversight_probe_duration_seconds", "Distribution of probe run durations.", type="histogram"
)
PROBE_INFO = _probe("oversight_probe_info", "What a probe checks.", "kind", "target")
PROBE_LAST_RUN = _probe(
    "oversight_probe_last_run_timestamp_seconds", "When the last run started, unix seconds."
)
PROBE_INTERVAL = _probe("oversight_probe_interval_seconds", "Configured interval of the probe.")
PROBE_THRESHOLD = _probe(
    "oversight_probe_threshold",
    "Configured threshold level, in the signal's base unit (latency and cert_expiry: seconds).",
    "signal",
    "severity",
)

INTEGRATION_STATE = Family(
    "oversight_integration_state",
    "gauge",
    "Current state of the integration: 1 for the state it is in, 0 for the others.",
    (*INTEGRATION_LABELS, "state"),
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
INTEGRATION_STATE_CHANGES = Family(
    "oversight_integration_state_changes",
    "counter",
    "State changes of the integration since the agent started.",
    INTEGRATION_LABELS,
)
INTEGRATION_FLAPPING = Family(
    "oversight_integration_flapping",
    "gauge",
    "1 while the integration changes state too often within the flapping window.",
    INTEGRATION_LABELS,
)
INTEGRATION_ROOT_CAUSE = Family(
    "oversight_integration_root_cause",
    "gauge",
    "Present (1) while the integration is impacted: root_cause is the down dependency "
    "(pattern/integration) that explains its failure.",
    (*INTEGRATION_LABELS, "root_cause"),
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
    "oversight_build_info", "gauge", "Agent version.", ("version", "python_version")
)
SCHEDULER_LAG = Family(
    "oversight_scheduler_lag_seconds",
    "histogram",
    "Delay between a run's scheduled time and its start, including the wait for a slot.",
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
    "Exports that failed or were dropped, by exporter and signal (otlp: metrics, traces).",
    ("exporter", "signal"),
)
AGENT_READY = Family(
    "oversight_agent_ready",
    "gauge",
    "Whether the agent is ready: config loaded, first round done.",
    (),
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
CREDENTIAL_EXPIRY = _probe(
    "oversight_credential_expiry_timestamp_seconds",
    "When the credential (client certificate or token) a credential probe reads expires, unix "
    "seconds.",
)
VALUE_FAMILIES["credential_expiry_timestamp_seconds"] = CREDENTIAL_EXPIRY


# Compliance (agent/compliance): one check per (integration, policy), scores, the audit trail.
COMPLIANCE_STATUS = Family(
    "oversight_compliance_status",
    "gauge",
    "Compliance of an integration with a policy: 1 for its current status (pass, fail, "
    "not_applicable), 0 for the others.",
    (*INTEGRATION_LABELS, "policy", "status"),
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
