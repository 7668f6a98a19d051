"""No secret is committed: the repository is scanned for private keys, cloud keys, tokens and
passwords written into code or connection URIs. Development placeholders are named as such."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PATTERNS = {
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Azure storage key": re.compile(r"AccountKey=[A-Za-z0-9+/=]{40,}"),
    "Slack or GitHub token": re.compile(r"\b(xox[abp]-[0-9A-Za-z-]{10,}|gh[pousr]_[0-9A-Za-z]{30,})\b"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "password in a URI": re.compile(r"://[^\s:/@'\"]+:(?!\$\{)[^\s@'\"]{6,}@"),
    "assigned secret": re.compile(
        r"(?i)\b(password|passwd|client_secret|secret_key|api_key|fernet_key|jwt_secret)\b\s*[:=]\s*['\"](?!\$\{)[^'\"\s]{12,}['\"]"
    ),
}
# Values that look like secrets but are the mock's and the tests' own placeholders.
ALLOWED = {"test-client-secret", "test-salt-not-a-secret", "change-me-in-every-deployment"}


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed if not name.endswith((".png", ".json")) or name.endswith("package.json")]


def test_no_secret_in_the_repository():
    findings = []
    for path in tracked_files():
        if not path.is_file() or path.name == Path(__file__).name:
            continue
        text = path.read_text(errors="ignore")
        for label, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                if not any(allowed in match.group(0) for allowed in ALLOWED):
                    findings.append(f"{path.relative_to(ROOT)}: {label}: {match.group(0)[:60]}")
    assert findings == []


def test_the_scanner_finds_what_it_looks_for():
    samples = {
        "private key": "-----BEGIN RSA PRIVATE KEY-----",
        "AWS access key": "AKIAABCDEFGHIJKLMNOP",
        "password in a URI": "postgresql://airflow:hunter2secret@db/airflow",
        "assigned secret": 'client_secret = "s3cr3t-value-1234567"',
    }
    for label, sample in samples.items():
        assert PATTERNS[label].search(sample), label
