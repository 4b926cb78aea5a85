"""The recommender's arrays in a version: saved and read under one prefix."""

from __future__ import annotations

from models.recommenders import recommender_from_arrays
from training.artifacts.schema import RECOMMENDER_PREFIX as PREFIX
from training.artifacts.store import ArtifactVersion, VersionWriter, read_array


def save_recommender(writer: VersionWriter, model) -> None:
    """Write ``model.to_arrays()`` as ``rec__<key>.npy`` files."""
    for key, array in model.to_arrays().items():
        writer.save_array(f"{PREFIX}{key}", array)


def save_and_map_recommender(writer: VersionWriter, model):
    """Write ``model`` into ``writer``'s version (:func:`save_recommender`) and return it
    rebuilt on the written arrays, memory-mapped read-only, as serving loads it.

    Training calls it as soon as the recommender is fitted: its arrays (half a
    gigabyte per million members) then leave the heap for the rest of the run, and
    the pages the later steps read (the member ids) come from the file.
    """
    save_recommender(writer, model)
    return recommender_from_arrays({key: read_array(writer.file(f"{PREFIX}{key}.npy"))
                                    for key in model.to_arrays()})


def load_recommender(version: ArtifactVersion):
    """The blended recommender of ``version``, its arrays memory-mapped."""
    names = [f[len(PREFIX):-len(".npy")] for f in version.manifest["files"]
             if f.startswith(PREFIX) and f.endswith(".npy")]
    return recommender_from_arrays({n: version.load_array(f"{PREFIX}{n}") for n in names})
