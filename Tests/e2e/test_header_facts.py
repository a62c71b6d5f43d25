"""What the header tells authors, held to it (issue 9, item 12): the size of
its enums for other languages, the longest path, READ|CREATE and
READ|TRUNCATE, host functions inside a dir_list callback, last_error across
a success, and what a call answers after BH_E_TOO_LARGE."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import REPO
from rawclient import error_kind, tool_text
from test_results import message, results  # noqa: F401  (results is a fixture)
from test_walls import O_CREATE, O_READ, O_TRUNCATE, attempt, recorder, started, walls  # noqa: F401

# ----------------------------------------------------------------------------- enums are 32-bit ints

SIZES = r"""
#include <bulkhead/bulkhead.h>
#include <stdio.h>
int main(void)
{
    printf("%zu %zu %zu %zu %zu\n", sizeof(bh_status), sizeof(bh_error_kind), sizeof(bh_log_level),
           sizeof(bh_concurrency), sizeof(bh_file_type));
    return 0;
}
"""


@pytest.mark.parametrize("cc,std", [("gcc", "c11"), ("clang", "c11"), ("gcc", "c99"), ("g++", "c++17")])
def test_every_enum_is_a_32_bit_int_as_the_header_says(tmp_path, cc, std):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    src = tmp_path / ("sizes.cc" if cc == "g++" else "sizes.c")
    src.write_text(SIZES)
    exe = tmp_path / "sizes"
    subprocess.run([cc, f"-std={std}", "-Wall", "-Wextra", "-Werror", f"-I{REPO / 'include'}", "-o", str(exe), str(src)],
                   check=True)
    assert subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split() == ["4"] * 5


def test_the_header_refuses_to_compile_where_an_enum_is_not_an_int(tmp_path):
    """-fshort-enums makes enums as small as their values: the header's assertion stops the build."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    src = tmp_path / "short.c"
    src.write_text("#include <bulkhead/bulkhead.h>\n")
    r = subprocess.run(["gcc", "-std=c11", "-fshort-enums", "-c", f"-I{REPO / 'include'}", "-o", str(tmp_path / "o.o"),
                        str(src)], capture_output=True, text=True)
    assert r.returncode != 0 and "32-bit ints" in r.stderr, r.stderr


# ----------------------------------------------------------------------------- paths


def test_a_path_of_4095_bytes_is_looked_up_and_one_of_4096_is_invalid(walls, serve):
    _, plugins = walls
    s = started(serve, plugins)
    ok = attempt(s, op="long", root="box", flags=4095)
    assert ok["status"] == "BH_E_NOT_FOUND", ok  # reached the kernel, which found nothing
    for n in (4096, 1 << 20):
        out = attempt(s, op="long", root="box", flags=n)
        assert out["status"] == "BH_E_INVALID", out
        assert out["reason"] == f"stat: the path is {n} bytes; the longest accepted is 4095", out


def test_read_create_makes_the_file_and_read_truncate_empties_it(walls, serve):
    world, plugins = walls
    s = started(serve, plugins)
    assert attempt(s, op="open", root="box", path="fresh.txt", flags=O_READ | O_CREATE)["status"] == "BH_OK"
    made = world / "box" / "fresh.txt"
    assert made.exists() and made.stat().st_size == 0 and made.stat().st_mode & 0o777 == 0o600
    assert attempt(s, op="open", root="box", path="inside.txt", flags=O_READ | O_TRUNCATE)["status"] == "BH_OK"
    assert (world / "box" / "inside.txt").read_text() == ""
    # Both are changes: the read-only shelf refuses them and leaves nothing behind.
    out = attempt(s, op="open", root="shelf", path="fresh.txt", flags=O_READ | O_CREATE)
    assert out["status"] == "BH_E_NOT_ALLOWED", out
    assert not (world / "shelf" / "fresh.txt").exists()


def test_a_dir_list_callback_may_call_host_functions(walls, serve):
    _, plugins = walls
    s = started(serve, plugins)
    out = attempt(s, op="nested", root="box", path="")
    assert out["status"] == "BH_OK" and out["inner"] == "BH_OK", out
    sizes = dict(map(tuple, out["names"]))
    assert sorted(sizes) == ["inside.txt", "sub"] and sizes["inside.txt"] == 6, out
    # The server goes on serving, and the callback's log lines arrived.
    assert attempt(s, op="stat", root="box", path="sub/keep.txt")["size"] == 4
    assert "inside.txt" in s.stderr_text()


# ----------------------------------------------------------------------------- last_error


def test_a_success_does_not_clear_last_error(walls, serve):
    _, plugins = walls
    s = started(serve, plugins)
    out = attempt(s, op="kept_error", root="box", path="missing.txt", to="inside.txt")
    assert (out["first"], out["second"]) == ("BH_E_NOT_FOUND", "BH_OK"), out
    assert "missing.txt" in out["kept"], out


# ----------------------------------------------------------------------------- after BH_E_TOO_LARGE


def test_a_result_that_fits_after_one_that_did_not_still_answers_too_large(results):  # noqa: F811
    res = results.call("results__huge", {"via": "then_small", "mib": 2})
    assert error_kind(res) == "too_large", res
    log = results.stderr_text()
    assert "huge text: BH_E_TOO_LARGE" in log and "huge then small: BH_OK" in log, log[-2000:]


def test_result_error_after_too_large_is_what_the_client_sees(results):  # noqa: F811
    res = results.call("results__huge", {"via": "then_error", "mib": 2})
    assert error_kind(res) == "unavailable", res
    assert message(res) == "gave up after too_large"
    assert tool_text(results.call("results__shape", {"mode": "good"}))
