"""Supply-chain audit: pip-audit over the lock files, with an honest account of what it could check.

pip-audit asks a vulnerability service (PyPI's JSON API, or OSV) about every pinned package. Where
that service cannot be reached, it skips the package and still prints "No known vulnerabilities
found"; this summary counts the skipped ones, so "0 findings" is never mistaken for "audited clean".
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class AuditResult:
    lock: str
    packages: int = 0
    audited: int = 0
    skipped: list[str] = field(default_factory=list)
    vulnerabilities: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.packages > 0 and not self.skipped


def summarise(lock: str, report: dict[str, Any]) -> AuditResult:
    """Count a pip-audit JSON report: audited, skipped (with why), and each vulnerability found."""
    result = AuditResult(lock)
    for dep in report.get("dependencies", []):
        result.packages += 1
        if "skip_reason" in dep:
            result.skipped.append(f"{dep['name']}: {dep['skip_reason']}")
            continue
        result.audited += 1
        for vuln in dep.get("vulns", []):
            result.vulnerabilities.append(
                {
                    "package": dep["name"],
                    "version": dep.get("version"),
                    "id": vuln.get("id"),
                    "fix_versions": vuln.get("fix_versions", []),
                    "aliases": vuln.get("aliases", []),
                }
            )
    return result


def audit(lock: Path) -> AuditResult:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "-r",
            str(lock),
            "--no-deps",
            "--disable-pip",
            "-f",
            "json",
            "--progress-spinner",
            "off",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"pip-audit gave no report for {lock}: {completed.stderr.strip()[-500:]}") from exc
    return summarise(str(lock), report)
