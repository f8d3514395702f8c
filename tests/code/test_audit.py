"""The supply-chain audit counts what it could not check, and names what it found."""

import pytest

from farga.dev.audit import summarise

pytestmark = pytest.mark.code


def test_vulnerabilities_and_unaudited_packages_are_both_counted():
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]},
            {"name": "numpy", "version": "2.3.0", "vulns": []},
            {
                "name": "torch",
                "skip_reason": "Dependency not found on PyPI and could not be audited: torch (2.13.0+cpu)",
            },
        ],
        "fixes": [],
    }
    result = summarise("requirements/dev.txt", report)
    assert (result.packages, result.audited) == (3, 2)
    assert result.skipped == ["torch: Dependency not found on PyPI and could not be audited: torch (2.13.0+cpu)"]
    assert result.vulnerabilities == [
        {"package": "jinja2", "version": "3.1.2", "id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": []}
    ]
    assert not result.complete


def test_an_empty_report_is_not_a_complete_audit():
    assert not summarise("x", {"dependencies": []}).complete
    assert summarise("x", {"dependencies": [{"name": "a", "version": "1", "vulns": []}]}).complete
