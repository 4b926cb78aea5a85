"""Optional HMAC-SHA256 signatures of artifact manifests.

The manifest records the SHA-256 of every file of a version, so its hashes
catch corruption; they do not stop someone who can write the artifacts
directory from replacing files *and* rewriting the hashes. With a signing key
configured, training writes ``manifest.sig`` (HMAC-SHA256 of the exact bytes of
``manifest.json``) beside the manifest, and every loader refuses a version
whose signature is missing or wrong.

The key comes from the environment, so that training, ``offers serve`` (and
the gunicorn workers it forks) and every command that opens a version agree:

- ``OFFERS_SIGNING_KEY``: the key itself (at least 16 characters), or
- ``OFFERS_SIGNING_KEY_FILE``: a file holding it (surrounding whitespace is
  stripped), set by ``--signing-key-file`` where a command has that option.

The key never appears in logs or error messages.

>>> key = b"a-key-of-at-least-16-bytes"
>>> verify_manifest(b'{"version": "v1"}', sign_manifest(b'{"version": "v1"}', key), key)
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from features.errors import ArtifactError, ConfigError

SIGNATURE = "manifest.sig"
KEY_ENV = "OFFERS_SIGNING_KEY"
KEY_FILE_ENV = "OFFERS_SIGNING_KEY_FILE"
MIN_KEY_BYTES = 16
PREFIX = "hmac-sha256:"


def signing_key(env: Mapping[str, str] | None = None) -> bytes | None:
    """The configured signing key, or None when none is configured.

    Raises
    ------
    ConfigError
        When the key file cannot be read or the key is shorter than 16 bytes
        (the message names the variable, never the key).
    """
    env = os.environ if env is None else env
    if env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the signing key file {path} ({KEY_FILE_ENV}): "
                              f"{exc.strerror or exc}") from None
        source = f"the signing key file {path}"
    elif env.get(KEY_ENV):
        key = env[KEY_ENV].strip().encode()
        source = KEY_ENV
    else:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{source} holds a key shorter than {MIN_KEY_BYTES} bytes; use a long "
                          "random key, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`.")
    return key


def sign_manifest(manifest_bytes: bytes, key: bytes) -> str:
    """The signature text written to ``manifest.sig``."""
    return PREFIX + hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()


def verify_manifest(manifest_bytes: bytes, signature: str, key: bytes) -> bool:
    """Whether ``signature`` is the signature of ``manifest_bytes`` under ``key`` (constant time)."""
    expected = sign_manifest(manifest_bytes, key)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def check_signature(version_dir: Path, manifest_bytes: bytes, key: bytes | None) -> None:
    """Refuse ``version_dir`` unless it is signed with ``key`` (nothing to check without a key).

    Raises
    ------
    ArtifactError
        When a key is configured and ``manifest.sig`` is missing, unreadable or wrong.
    """
    if key is None:
        return
    sig_path = version_dir / SIGNATURE
    try:
        signature = sig_path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ArtifactError(
            f"version {version_dir.name} is not signed (no {SIGNATURE}) but a signing key is "
            f"configured; retrain it with the key set, or unset {KEY_ENV}/{KEY_FILE_ENV} to "
            "serve unsigned versions.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"version {version_dir.name}: cannot read {SIGNATURE} ({exc}); "
                            "retrain or roll back.") from None
    if not verify_manifest(manifest_bytes, signature, key):
        raise ArtifactError(
            f"version {version_dir.name}: {SIGNATURE} does not match manifest.json under the "
            "configured signing key; the version was altered or signed with another key. "
            "Retrain it or roll back with `offers rollback`.")
