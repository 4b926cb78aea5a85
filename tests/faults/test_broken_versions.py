"""Every way a version can be broken is one clear refusal, never a traceback.

Each breakage is applied to a copy of a trained version. It must be refused
by the loaders (:func:`open_version` / :func:`load_served`) with one
:class:`ArtifactError` line naming the version and the file, by ``offers
serve`` at start-up (``error: ...``, exit status 1), and by a reload (a JSON
422 while the old version keeps serving). Guards issue 16: a manifest without
``libraries`` (KeyError), a truncated manifest (JSONDecodeError) and a
corrupt ``.npy`` header with an updated hash (ValueError) gave tracebacks,
and the smoke-check message was wrapped twice.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fault_helpers import ADMIN, READ, free_port, rehash, rewrite_manifest

from features.errors import ArtifactError
from serving.model_state import load_served


def _drop_libraries(v):
    rewrite_manifest(v, lambda m: m.pop("libraries"))


def _truncate_manifest(v):
    data = (v / "manifest.json").read_bytes()
    (v / "manifest.json").write_bytes(data[: len(data) // 2])


def _corrupt_npy_header(v):
    path = v / "rec_item_category.npy"
    data = bytearray(path.read_bytes())
    data[10:40] = b"{'descr': garbage!!, 'xx': ((("
    path.write_bytes(bytes(data))
    rehash(v, path.name)


def _pickled_npy(v):
    np.save(v / "rec_item_category.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    rehash(v, "rec_item_category.npy")


def _garbage_parquet(v):
    (v / "items.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    rehash(v, "items.parquet")


def _members_without_columns(v):
    pd.DataFrame({"member_id": ["1", "2"]}).to_parquet(v / "members.parquet")
    rehash(v, "members.parquet")


def _missing_file(v):
    (v / "members.parquet").unlink()


def _extra_file(v):
    (v / "notes.txt").write_text("hello")


def _files_is_a_list(v):
    rewrite_manifest(v, lambda m: m.update(files=sorted(m["files"])))


def _libraries_is_text(v):
    rewrite_manifest(v, lambda m: m.update(libraries="numpy 2"))


def _format_mismatch(v):
    rewrite_manifest(v, lambda m: m.update(format=999))


def _manifest_is_a_list(v):
    (v / "manifest.json").write_text("[1, 2]")


def _empty_manifest(v):
    (v / "manifest.json").write_bytes(b"")


def _manifest_names_another_version(v):
    rewrite_manifest(v, lambda m: m.update(version="20000101T000000000000Z-0000"))


def _no_manifest(v):
    (v / "manifest.json").unlink()


def _changed_file(v):
    with open(v / "members.parquet", "ab") as fh:
        fh.write(b"tampered")


def _empty_array(v):
    np.save(v / "rec_item_category.npy", np.zeros((0,), dtype="<U3"))
    rehash(v, "rec_item_category.npy")


# breakage -> a word the message must contain (the file or entry at fault)
BREAKAGES = {
    "no libraries entry": (_drop_libraries, "libraries"),
    "truncated manifest": (_truncate_manifest, "manifest.json"),
    "corrupt npy header": (_corrupt_npy_header, "rec_item_category.npy"),
    "pickled npy": (_pickled_npy, "rec_item_category.npy"),
    "garbage parquet": (_garbage_parquet, "items.parquet"),
    "members without columns": (_members_without_columns, "members.parquet"),
    "missing file": (_missing_file, "members.parquet"),
    "extra file": (_extra_file, "notes.txt"),
    "files is a list": (_files_is_a_list, "'files'"),
    "libraries is text": (_libraries_is_text, "'libraries'"),
    "format mismatch": (_format_mismatch, "format 999"),
    "manifest is a list": (_manifest_is_a_list, "manifest.json"),
    "empty manifest": (_empty_manifest, "manifest.json"),
    "manifest names another version": (_manifest_names_another_version, "manifest.json"),
    "no manifest": (_no_manifest, "manifest.json"),
    "changed file": (_changed_file, "members.parquet"),
    "empty array": (_empty_array, ""),
}


@pytest.fixture(scope="module")
def catalog():
    from serving.engine import load_catalog

    return load_catalog(None)


def _check_message(message: str, name: str, word: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    assert name in message, message
    assert word in message, message
    assert message.count("failed its smoke check") <= 1, message


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_version_is_refused_with_one_clear_line(breakage, clone, artifacts_copy,
                                                         catalog):
    root, _ = artifacts_copy
    name = "20990101T000000000000Z-bad0"
    version_dir = clone(name)
    load_served(str(root), name, catalog, {})  # the clone itself is fine
    breaker, word = BREAKAGES[breakage]
    breaker(version_dir)
    with pytest.raises(ArtifactError) as refused:
        load_served(str(root), name, catalog, {})
    _check_message(str(refused.value), name, word)


@pytest.mark.parametrize("breakage", ["no libraries entry", "truncated manifest",
                                      "corrupt npy header", "members without columns",
                                      "empty array"])
def test_offers_serve_refuses_a_broken_version_at_start_up(breakage, clone, artifacts_copy,
                                                           serve_env):
    from offers.cli import main

    root, _ = artifacts_copy
    name = "20990101T000000000000Z-bad1"
    BREAKAGES[breakage][0](clone(name))
    result = CliRunner().invoke(main, ["serve", str(root), "--version", name, "--open",
                                  "--port", str(free_port())])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    _check_message(errors[0], name, BREAKAGES[breakage][1])


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_reload_refuses_a_broken_version_and_keeps_serving(breakage, clone, artifacts_copy,
                                                             make_app):
    root, good = artifacts_copy
    app = make_app(root)
    client = app.test_client()
    name = "20990101T000000000000Z-bad2"
    BREAKAGES[breakage][0](clone(name))
    answer = client.post("/v1/admin/reload", json={"version": name},
                         headers={"Authorization": f"Bearer {ADMIN}"})
    assert 400 <= answer.status_code < 600 and answer.status_code != 500, answer.data
    message = answer.get_json()["error"]["message"]
    _check_message(message, name, BREAKAGES[breakage][1])
    assert good in message  # says which version keeps serving
    served = client.get("/v1/model", headers={"Authorization": f"Bearer {READ}"})
    assert served.get_json()["version"] == good


def test_the_smoke_check_failure_is_said_once(clone, artifacts_copy, monkeypatch, catalog):
    from serving.engine.bundle import ModelBundle

    root, _ = artifacts_copy
    name = "20990101T000000000000Z-bad3"
    clone(name)
    monkeypatch.setattr(ModelBundle, "profile", lambda self, member, tiers=None: None)
    with pytest.raises(ArtifactError) as refused:
        load_served(str(root), name, catalog, {})
    assert str(refused.value).count("failed its smoke check") == 1, refused.value
    assert str(refused.value).count(name) == 1, refused.value


def test_listing_versions_skips_a_broken_manifest(clone, artifacts_copy):
    from training.artifacts import list_versions

    root, good = artifacts_copy
    _truncate_manifest(clone("20990101T000000000000Z-bad4"))
    assert [m["version"] for m in list_versions(root)] == [good]
    assert json.loads((root / good / "manifest.json").read_text())["version"] == good
