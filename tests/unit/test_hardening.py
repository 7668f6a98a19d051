"""Small hardening items, each with the case that used to get through: an address with a trailing
newline, a secret file readable by others for a moment or written over an existing one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import jsonschema
import pytest

from support_flows.core.params import EMAIL_PATTERN
from support_flows.server.access import write_secret


@pytest.mark.parametrize("address", ["ana@example.org\n", "ana@example.org\r\n", "ana@example.org\nBcc: x@y.org"])
def test_an_address_with_a_line_break_is_refused_by_the_trigger_schema(address):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(address, {"type": "string", "pattern": EMAIL_PATTERN})
    assert not re.search(EMAIL_PATTERN, address)


def test_a_plain_address_still_passes():
    jsonschema.validate("ana.lopez@mail.example.org", {"type": "string", "pattern": EMAIL_PATTERN})


@pytest.mark.skipif(
    shutil.which("node") is None, reason="Node.js is not installed; the pattern's Python side is tested"
)
def test_the_pattern_means_the_same_in_the_ecmascript_dialect_of_json_schema_and_the_connector():
    script = (
        f"const p = new RegExp({EMAIL_PATTERN!r});"
        "console.log(JSON.stringify([p.test('ana@example.org'), p.test('ana@example.org\\n'), p.test('ana@')]))"
    )
    answer = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout.strip()
    assert answer == "[true,false,false]"


def test_a_secret_file_is_the_owners_alone_from_its_first_byte(tmp_path):
    old = os.umask(0)  # a permissive umask: the mode must come from the creation itself
    try:
        write_secret(tmp_path / "key", "sfk_x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "key").read_text() == "sfk_x\n"


def test_a_secret_file_never_overwrites_an_existing_one(tmp_path):
    (tmp_path / "key").write_text("the first key")
    with pytest.raises(FileExistsError):
        write_secret(tmp_path / "key", "another")
    assert (tmp_path / "key").read_text() == "the first key"


def test_the_launchers_secret_files_and_state_folder_are_the_owners_alone(tmp_path):
    from support_flows_dev.devstack import _secret_file

    old = os.umask(0)
    try:
        assert _secret_file(tmp_path / "admin-password", lambda: "s3cret\n") == "s3cret"
        assert _secret_file(tmp_path / "admin-password", lambda: "other") == "s3cret"
    finally:
        os.umask(old)
    assert (tmp_path / "admin-password").stat().st_mode & 0o777 == 0o600
