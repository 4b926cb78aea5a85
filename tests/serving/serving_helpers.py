"""Keys and configs shared by the serving tests."""

from __future__ import annotations

READ = "read-key-0123456789abcdef"
EVENTS = "events-key-0123456789abcdef"
ADMIN = "admin-key-0123456789abcdef"
ALL = "all-scopes-key-0123456789abcdef"
KEYS = {READ: ["read"], EVENTS: ["events"], ADMIN: ["admin"], ALL: ["read", "events", "admin"]}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_config(artifacts_dir, tmp_path, **overrides) -> dict:
    """A test app's config: the given artifacts, an SQLite store under ``tmp_path``, small caps."""
    return {
        "ARTIFACTS_DIR": str(artifacts_dir),
        "EVENTS_DB": str(tmp_path / "events.sqlite3"),
        "API_KEYS": KEYS,
        "BATCH_MAX_MEMBERS": 10,
        "STREAM_MAX_MEMBERS": 50,
        "EVENTS_MAX_PER_REQUEST": 20,
        "TESTING": True,
        **overrides,
    }


def clone_version(artifacts_dir, version: str, new_version: str, corrupt: bool = False) -> str:
    """Copy ``version`` as ``new_version`` (a valid version unless ``corrupt``)."""
    import json
    import shutil
    from pathlib import Path

    root = Path(artifacts_dir)
    dst = root / new_version
    shutil.copytree(root / version, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["version"] = new_version
    (dst / "manifest.json").write_text(json.dumps(manifest))
    if corrupt:
        with open(dst / "members.parquet", "ab") as fh:
            fh.write(b"tampered")
    return new_version
