"""The audit trail: append-only, hash-chained JSON Lines that show any edit, loss or reorder."""

from agent.audit.chain import GENESIS, Record, seal, verify_files
from agent.audit.log import AuditLog, AuditPathError

__all__ = ["GENESIS", "AuditLog", "AuditPathError", "Record", "seal", "verify_files"]
