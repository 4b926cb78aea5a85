"""The recommender's arrays in a version: saved and read under one prefix."""

from __future__ import annotations

import numpy as np

from models.recommenders import recommender_from_arrays
from training.artifacts.schema import RECOMMENDER_PREFIX as PREFIX
from training.artifacts.store import ArtifactVersion, VersionWriter


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
    mapped = {}
    for key, array in model.to_arrays().items():
        name = f"{PREFIX}{key}"
        writer.save_array(name, array)
        # 0-d arrays (the class name, the parameters) stay in memory, as load_array does.
        mapped[key] = (np.load(writer.file(f"{name}.npy"), mmap_mode="r", allow_pickle=False)
                       if np.ndim(array) else array)
    return recommender_from_arrays(mapped)


def load_recommender(version: ArtifactVersion):
    """The blended recommender of ``version``, its arrays memory-mapped."""
    names = [f[len(PREFIX):-len(".npy")] for f in version.manifest["files"]
             if f.startswith(PREFIX) and f.endswith(".npy")]
    return recommender_from_arrays({n: version.load_array(f"{PREFIX}{n}") for n in names})
