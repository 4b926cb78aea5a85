"""The serving floor: a minimal WSGI app doing only the irreducible work of a request.

``bench/bench_serve.py`` runs it under the same gunicorn (sync workers, same
count) as ``offers serve`` and puts the same load on both, so the ratio of the
two is what Flask, the engine's business rules, rendering, the event store,
logging and metrics cost on top of the work no server can avoid:

* parse the path and query, check the bearer key (a SHA-256 digest lookup);
* look up the member's row (a dict);
* ``/recommendations``: score every item with numpy exactly as the served
  blend does (popularity + the member's ALS vector times the item factors +
  the member's buy-again entries, each normalised), take the top ``limit``
  items and the top 3 categories from the same scores;
* ``/offers``: the member's expected value of every offer template (the
  engine's member-only scores, precomputed at start-up as the engine itself
  does for programs of this size) minus the channel's send cost, masked by
  eligibility, top ``limit`` with one offer per category;
* encode the JSON body.

No framework, no history or caps look-up, no rendering of messages, no
logging. Start it with::

    gunicorn --workers 2 --chdir bench 'floor_app:create_app("ARTIFACTS_DIR", "KEY")'
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from urllib.parse import parse_qs

import numpy as np

JSON_HEADERS = [("Content-Type", "application/json")]


class Floor:
    """Arrays of one artifact version, laid out for the cheapest per-request answer.

    Parameters
    ----------
    artifacts_dir : str
        An artifacts directory; its ``current`` version is served.
    api_key : str
        The one bearer key accepted.
    """

    def __init__(self, artifacts_dir: str, api_key: str):
        from serving.engine import OfferEngine, load_bundle, load_catalog
        from serving.engine.scoring import score_members
        from training.artifacts.store import open_version

        opened = open_version(artifacts_dir)
        self.digest = hashlib.sha256(api_key.encode()).digest()
        load = opened.load_array
        params = json.loads(str(load("rec__model_params")))
        self.weights = params["weights"]
        self.member_index = {m: i for i, m in enumerate(load("rec__member_ids_").tolist())}
        self.item_ids = load("rec__item_ids_").tolist()
        pop = load("rec__popularity__item_scores_").astype(np.float32)
        self.popularity = pop / (pop.max() or 1.0)
        self.user_factors = load("rec__als__user_factors_")
        self.item_factors = load("rec__als__item_factors_")
        self.als_columns = load("rec__als__item_columns_").astype(np.int64)
        self.ba_indptr = load("rec__buy_again__scores_indptr_")
        self.ba_indices = load("rec__buy_again__scores_indices_")
        self.ba_data = load("rec__buy_again__scores_data_")

        bundle = load_bundle(artifacts_dir)
        engine = OfferEngine(bundle, load_catalog())
        self.categories = bundle.categories.tolist()
        self.item_category = bundle.item_category
        self.item_names = bundle.item_names.tolist()
        order = np.argsort(self.item_category, kind="stable")
        present, starts = np.unique(self.item_category[order], return_index=True)
        self.category_order, self.category_starts, self.present = order, starts, present
        # Offers: the engine's member-only scores of every member plus one unknown row,
        # with each channel's send cost and date rules applied (fixed for a bench run).
        self.row_of = {m: i for i, m in enumerate(bundle.members.ids.tolist())}
        rows = np.append(np.arange(len(bundle.members), dtype=np.int64), -1)
        now = np.datetime64(datetime.now(timezone.utc).replace(tzinfo=None), "s")
        self.ev, self.p, self.cost = {}, {}, {}
        for channel in ("app", "email", "sms"):
            scored = score_members(engine.scoring, rows, now, channel)
            self.ev[channel] = scored.ev.astype(np.float32)
            self.p[channel], self.cost[channel] = scored.p, scored.cost
            self.offer_category = scored.category
        self.offer_ids = [t.id for t in engine.catalog.offers]
        self.offer_titles = [t.title for t in engine.catalog.offers]

    # ------------------------------------------------------------ answers
    def recommendations(self, member_id: str, k: int) -> dict:
        """Top ``k`` items and top 3 categories by the blend's scores."""
        row = self.member_index.get(member_id, -1)
        w = self.weights
        scores = w["popularity"] * self.popularity
        if row >= 0:
            als = self.item_factors @ self.user_factors[row]
            scale = float(np.abs(als).max()) or 1.0
            scores[self.als_columns] += (w["als"] / scale) * als
            start, stop = self.ba_indptr[row], self.ba_indptr[row + 1]
            values = self.ba_data[start:stop]
            if len(values):
                scores[self.ba_indices[start:stop]] += (w["buy_again"] / (values.max() or 1.0)
                                                        ) * values
        top = np.argpartition(scores, -k)[-k:]
        top = top[np.argsort(-scores[top], kind="stable")]
        best = np.maximum.reduceat(scores[self.category_order], self.category_starts)
        cats = np.argpartition(best, -3)[-3:]
        cats = cats[np.argsort(-best[cats], kind="stable")]
        return {
            "member_id": member_id, "known": row >= 0,
            "items": [{"item_id": self.item_ids[i], "name": self.item_names[i],
                       "category": self.categories[self.item_category[i]],
                       "score": float(scores[i])} for i in top.tolist()],
            "categories": [{"category": self.categories[self.present[c]],
                            "score": float(best[c])} for c in cats.tolist()],
        }

    def offers(self, member_id: str, channel: str, limit: int) -> dict:
        """The ``limit`` eligible templates of highest expected value, one per category."""
        row = self.row_of.get(member_id, -1)
        ev = self.ev[channel][row]
        order = np.argsort(-ev, kind="stable").tolist()
        chosen, seen = [], set()
        categories = self.offer_category[row]
        for t in order:
            if len(chosen) == limit or not np.isfinite(ev[t]):
                break
            c = int(categories[t])
            if c >= 0 and c in seen:
                continue
            seen.add(c)
            chosen.append(t)
        p, cost = self.p[channel][row], self.cost[channel][row]
        return {
            "member_id": member_id, "known": row >= 0, "channel": channel,
            "offers": [{"offer_id": self.offer_ids[t], "title": self.offer_titles[t],
                        "score": round(float(ev[t]), 4), "p_redeem": round(float(p[t]), 4),
                        "cost": round(float(cost[t]), 4)} for t in chosen],
        }

    # ------------------------------------------------------------ WSGI
    def __call__(self, environ, start_response):
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not (header.startswith("Bearer ") and hashlib.sha256(
                header[7:].encode()).digest() == self.digest):
            return _send(start_response, "401 Unauthorized", {"error": "unknown API key"})
        parts = environ.get("PATH_INFO", "").split("/")
        if len(parts) != 5 or parts[1:3] != ["v1", "members"]:
            return _send(start_response, "404 Not Found", {"error": "not found"})
        query = parse_qs(environ.get("QUERY_STRING", ""))
        member_id, what = parts[3], parts[4]
        if what == "offers":
            body = self.offers(member_id, query.get("channel", ["app"])[0],
                               int(query.get("limit", ["3"])[0]))
        elif what == "recommendations":
            body = self.recommendations(member_id, int(query.get("limit", ["10"])[0]))
        else:
            return _send(start_response, "404 Not Found", {"error": "not found"})
        return _send(start_response, "200 OK", body)


def _send(start_response, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, JSON_HEADERS + [("Content-Length", str(len(data)))])
    return [data]


def create_app(artifacts_dir: str, api_key: str) -> Floor:
    """The floor's WSGI callable for gunicorn's ``module:create_app(...)`` syntax."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # as `offers serve`: one BLAS thread per worker
    return Floor(artifacts_dir, api_key)
