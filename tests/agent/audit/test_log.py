"""The audit trail: every kind of tampering is found; rotation and a full disk lose nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.audit import AuditLog, AuditPathError, verify_files


async def write(path: Path, count: int, **kw: object) -> AuditLog:
    audit = AuditLog(path, **kw)  # type: ignore[arg-type]
    audit.open()
    for n in range(count):
        audit.emit("state_change", f"account/ledger{n}", old="ok", new="down", n=n)
    assert await audit.flush()
    return audit


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


async def test_a_clean_log_verifies(tmp_path: Path) -> None:
    audit = await write(tmp_path / "audit.jsonl", 5)
    verdict = verify_files(audit.files(), head=audit.head)
    assert verdict.ok, verdict.problems
    assert (verdict.records, verdict.first_seq, verdict.last_seq) == (5, 0, 4)
    first = json.loads(lines(audit.path)[0])
    assert first["type"] == "state_change" and first["details"] == {
        "old": "ok",
        "new": "down",
        "n": 0,
    }
    assert first["prev"] == "0" * 64


def tamper_modify(ls: list[str]) -> list[str]:
    return [ls[0], ls[1].replace('"down"', '"ok"'), *ls[2:]]


def tamper_delete(ls: list[str]) -> list[str]:
    return [ls[0], ls[1], *ls[3:]]


def tamper_reorder(ls: list[str]) -> list[str]:
    return [ls[0], ls[2], ls[1], *ls[3:]]


def tamper_truncate(ls: list[str]) -> list[str]:
    return [*ls[:-1], ls[-1][:40]]


def tamper_drop_last(ls: list[str]) -> list[str]:
    return ls[:-1]


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (tamper_modify, "audit.jsonl:2: record 1 was modified (its hash does not match)"),
        (tamper_delete, "audit.jsonl:3: record 3 follows record 1: records are missing"),
        (tamper_reorder, "audit.jsonl:2: record 2 follows record 0: records are missing"),
        (tamper_truncate, "audit.jsonl:5: truncated: the last line has no end"),
        (tamper_drop_last, "the log should end at record 4; it ends at 3 (records were removed)"),
    ],
)
async def test_tampering_is_found(tmp_path: Path, tamper, problem: str) -> None:  # type: ignore[no-untyped-def]
    audit = await write(tmp_path / "audit.jsonl", 5)
    audit.path.write_text("".join(tamper(lines(audit.path))))
    verdict = verify_files(audit.files(), head=audit.head)
    assert not verdict.ok
    assert any(problem in p for p in verdict.problems), verdict.problems


async def test_rotation_keeps_one_chain_across_files(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl", max_bytes=600, keep=10)
    audit.open()
    for n in range(12):
        audit.emit("config_reloaded", "oversight.yaml", digest=f"{n:064x}")
        assert await audit.flush()
    files = audit.files()
    assert len(files) >= 3
    verdict = verify_files(files, head=audit.head)
    assert verdict.ok, verdict.problems
    assert (verdict.records, verdict.last_seq) == (12, 11)
    # Dropping the oldest rotated file breaks nothing that is left; a middle one does.
    assert not verify_files([files[0], *files[2:]], head=audit.head).ok


async def test_a_restarted_writer_continues_the_chain(tmp_path: Path) -> None:
    await write(tmp_path / "audit.jsonl", 3)
    audit = await write(tmp_path / "audit.jsonl", 2)
    verdict = verify_files(audit.files(), head=audit.head)
    assert verdict.ok and verdict.last_seq == 4


async def test_a_full_disk_loses_nothing_and_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = await write(path, 2)
    good = path.read_bytes()
    path.unlink()
    path.symlink_to("/dev/full")  # every write fails with ENOSPC
    audit.emit("state_change", "account/ledger", old="ok", new="down")
    audit.emit("state_change", "account/ledger", old="down", new="ok")
    assert not await audit.flush()
    assert not await audit.flush()
    assert (audit.stats.write_failures, audit.pending) == (2, 2)
    path.unlink()
    path.write_bytes(good)  # space again
    assert await audit.flush()
    verdict = verify_files(audit.files(), head=audit.head)
    assert verdict.ok and verdict.records == 4


async def test_an_overflowing_queue_says_how_many_events_it_dropped(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl", queue_limit=3)
    audit.open()
    for n in range(5):
        audit.emit("state_change", "x", n=n)
    assert await audit.flush()
    records = [json.loads(line) for line in lines(audit.path)]
    assert [r["type"] for r in records] == ["audit_events_dropped", *["state_change"] * 3]
    assert records[0]["details"] == {"count": 2}
    assert [r["details"]["n"] for r in records[1:]] == [2, 3, 4]


def test_an_unwritable_path_is_an_error_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditPathError, match=r"cannot write the audit log .*file/audit.jsonl"):
        AuditLog(blocker / "audit.jsonl").open()


async def test_secrets_are_scrubbed_before_they_are_written(tmp_path: Path) -> None:
    audit = AuditLog(
        tmp_path / "audit.jsonl", scrub=lambda text: text.replace("s3cret", "<redacted>")
    )
    audit.open()
    audit.emit("security_event", "bill_pay/x", message="token s3cret leaked")
    await audit.flush()
    assert "s3cret" not in audit.path.read_text()
    assert "<redacted>" in audit.path.read_text()


async def test_the_verify_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    audit = AuditLog(tmp_path / "audit.jsonl", max_bytes=600)
    audit.open()
    for n in range(8):
        audit.emit("state_change", "account/ledger", n=n)
        await audit.flush()
    assert main(["audit", "verify", str(audit.path)]) == 0
    assert capsys.readouterr().out.startswith("ok: 8 records, 0..7, in ")
    rotated = audit.files()[0]
    rotated.write_text(rotated.read_text().replace('"n":0', '"n":9'))
    assert main(["audit", "verify", str(audit.path)]) == 1
    err = capsys.readouterr().err
    assert "record 0 was modified" in err and "FAILED: 1 problem(s)" in err
