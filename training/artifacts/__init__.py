"""The artifact contract: the version store and the schema of what a version holds.

This is the one part of :mod:`training` that :mod:`serving` may import:

- :mod:`.store` writes versions atomically and opens them only after every
  file's hash and the library versions are verified (:func:`start_version`,
  :func:`open_version`, :func:`set_current`, :func:`rollback`);
- :mod:`.schema` is the format: the names of a version's files, the member
  table's columns and types (list columns included) and :data:`FORMAT_VERSION`;
  the member table is written (:func:`write_members`) and read
  (:func:`read_members`) only through it;
- :mod:`.recommender` saves and reads the recommender's arrays;
- :mod:`.precomputed` saves and memory-maps each member's ranked recommendations;
- :mod:`.signing` signs manifests (HMAC-SHA256) when a key is configured, and
  checks the signature on open.

Imports: :mod:`features`, :mod:`models` and this package only.
"""

from features.errors import ArtifactError
from training.artifacts import schema
from training.artifacts.precomputed import (
    Precomputed,
    load_precomputed,
    precompute,
    save_precomputed,
)
from training.artifacts.recommender import (load_recommender, save_and_map_recommender,
                                           save_recommender)
from training.artifacts.schema import read_members, read_members_table, write_members
from training.artifacts.store import (
    CURRENT,
    FORMAT_VERSION,
    MANIFEST,
    ArtifactVersion,
    VersionWriter,
    current_version,
    library_versions,
    list_versions,
    open_version,
    rollback,
    set_current,
    sha256_file,
    start_version,
)

__all__ = [
    "CURRENT", "FORMAT_VERSION", "MANIFEST", "ArtifactError", "ArtifactVersion", "Precomputed",
    "VersionWriter",
    "current_version", "library_versions", "list_versions", "load_precomputed", "load_recommender",
    "open_version", "precompute",
    "read_members", "read_members_table", "rollback", "save_and_map_recommender", "save_precomputed",
    "save_recommender",
    "schema", "set_current", "sha256_file",
    "start_version", "write_members",
]
