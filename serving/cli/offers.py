"""``offers decide``, ``offers campaign`` and ``offers predict-response``: the offer engine
from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from features.errors import DataError
from features.files import read_frame, read_member_ids
from features.frame_sink import check_sink_path, is_parts_path, write_frame_or_parts
from features.storage import check_frame_path, write_frame_atomic

CATALOG_HELP = "Offer catalog (YAML/JSON, docs/catalog.md); default: the shipped catalog."
HISTORY_HELP = ("Past offer events for caps and the contact policy: a data directory "
                "(its offer_events) or an events file (.csv/.parquet).")
NOW_HELP = "The moment to decide for (ISO 8601); default: now."
LOG_HELP = ("Also log the decision(s) to this event store's decision log (an SQLite file or "
            "postgresql:// URL), for `offers replay` and `offers lift --arms`.")


def _log(location: str | None, records) -> None:
    """Write ``records`` to the decision log at ``location`` (nothing when None)."""
    if not location:
        return
    from serving.store import open_store
    from serving.store.decisions import DecisionLog

    store = open_store(location)
    try:
        DecisionLog(store).write(records)
    finally:
        store.close()


def _out_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--out``: a .csv or .parquet path, checked before any work (:class:`DataError`)."""
    if value is not None:
        check_frame_path(value)
    return value


def _out_sink(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--out``: a .csv/.parquet path or ``DIR/`` for Parquet parts, checked before any work."""
    if value is not None:
        check_sink_path(value)
        if is_parts_path(value):
            check_sink_path(f"{_holdouts_dir(value)}/")
    return value


def _holdouts_dir(out: str) -> Path:
    """Where the held-out members of a campaign written to ``out`` (``DIR/``) go."""
    path = Path(out)
    return path.with_name(f"{path.name}.holdouts")


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--now``: an ISO 8601 time, checked before the model is loaded."""
    if value is not None:
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, OverflowError):
            stamp = pd.NaT
        if stamp is pd.NaT:
            raise DataError(f"--now {value!r} is not a time; use ISO 8601 like "
                            "2024-03-31T14:05:00.")
    return value


def _member_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """MEMBER_ID by the API's rule: the same check and message as ``/v1/members/<id>``."""
    from serving.api.params import check_id

    return check_id(value)  # ApiError, an OffersError: "error: malformed member_id ..."


def _engine(artifacts_dir: str, catalog: str | None, version: str | None):
    from serving.engine import OfferEngine, load_bundle, load_catalog

    return OfferEngine(load_bundle(artifacts_dir, version), load_catalog(catalog))


def _history(path: str | None):
    if path is None:
        return None
    from serving.engine import InMemoryHistory

    p = Path(path)
    if p.is_dir():
        return InMemoryHistory.from_data_dir(p)
    if not p.is_file():
        raise DataError(f"history {p} is neither a data directory nor an events file.")
    return InMemoryHistory.from_events(read_frame(p, "history file", dtype=str))


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("member_id", callback=_member_id)
@click.option("--channel", type=click.Choice(["app", "email", "sms"]), default="app",
              show_default=True)
@click.option("--limit", default=3, show_default=True, type=click.IntRange(1, 10))
@click.option("--catalog", type=click.Path(dir_okay=False, exists=True), help=CATALOG_HELP)
@click.option("--now", default=None, callback=_moment, help=NOW_HELP)
@click.option("--history", type=click.Path(exists=True), help=HISTORY_HELP)
@click.option("--version", default=None, help="Version to use (default: current).")
@click.option("--log-db", default=None, help=LOG_HELP)
def decide(artifacts_dir, member_id, channel, limit, catalog, now, history, version,
           log_db) -> None:
    """Print the offers the engine chooses for MEMBER_ID, as JSON."""
    engine = _engine(artifacts_dir, catalog, version)
    decision, record = engine.decide_with_record(member_id, channel, limit=limit, now=now,
                                                 history=_history(history))
    _log(log_db, [record])
    click.echo(json.dumps(decision.to_dict(), indent=2, ensure_ascii=False))


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--catalog", type=click.Path(dir_okay=False, exists=True), help=CATALOG_HELP)
@click.option("--segment", default=None, help="Only members of this RFM segment.")
@click.option("--members", "members_file", type=click.Path(dir_okay=False, exists=True),
              help="Only these members (member_id column, or one id per line).")
@click.option("--channel", type=click.Choice(["app", "email", "sms"]), default="email",
              show_default=True)
@click.option("--budget", required=True, type=click.FloatRange(min=0),
              help="Most expected incentive cost to commit (currency).")
@click.option("--out", required=True, type=click.Path(), callback=_out_sink,
              help="Offers file for the email tool (.csv or .parquet), or DIR/ for a "
                   "directory of Parquet parts; the held-out members go to OUT's name + "
                   "'.holdouts' (DIR.holdouts/ for parts).")
@click.option("--campaign", "campaign_id", default=None,
              help="Campaign id (control group, codes); default <channel>-<date>.")
@click.option("--per-member", default=1, show_default=True, type=click.IntRange(1, 10))
@click.option("--now", default=None, callback=_moment, help=NOW_HELP)
@click.option("--history", type=click.Path(exists=True), help=HISTORY_HELP)
@click.option("--version", default=None, help="Version to use (default: current).")
@click.option("--log-db", default=None, help=LOG_HELP)
def campaign(artifacts_dir, catalog, segment, members_file, channel, budget, out, campaign_id,
             per_member, now, history, version, log_db) -> None:
    """Allocate offers to a segment or a member list within a budget; write them for email.

    Offers are chosen greedily by expected value per unit of expected cost within
    the budget and every cap (docs/catalog.md); the control group's offers are
    withheld and listed in the holdouts file for `offers lift`.
    """
    from serving.engine import allocate_campaign

    if segment and members_file:
        raise click.UsageError("give at most one of --segment and --members.")
    engine = _engine(artifacts_dir, catalog, version)
    ids = read_member_ids(members_file) if members_file else None
    result = allocate_campaign(engine, ids, budget=budget, channel=channel, segment=segment,
                               campaign=campaign_id, now=now, per_member=per_member,
                               history=_history(history))
    out_path = Path(out)
    if is_parts_path(out):  # the allocation is whole (one budget); only the output is split
        holdouts_path = _holdouts_dir(out)
        holdouts_out = f"{holdouts_path}/"
    else:
        holdouts_path = out_path.with_name(f"{out_path.stem}.holdouts{out_path.suffix}")
        holdouts_out = holdouts_path
    write_frame_or_parts(result.offers, out)
    write_frame_or_parts(result.holdouts, holdouts_out)
    if log_db:
        import uuid

        from serving.engine.exploration import campaign_records

        stamp = pd.Timestamp(now) if now else pd.Timestamp.now("UTC")
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        _log(log_db, campaign_records(result.offers, result.holdouts,
                                      job_id=f"cli-{uuid.uuid4().hex[:12]}",
                                      model_version=engine.bundle.version,
                                      decided_at=stamp.strftime("%Y-%m-%dT%H:%M:%SZ")))
    s = result.summary
    click.echo(
        f"campaign {s['campaign_id']}: {s['offers']} offers to {s['members_with_offers']} of "
        f"{s['audience']} members, expected cost {s['expected_cost']:.2f} of {s['budget']:.2f}, "
        f"expected value {s['expected_value']:.2f}; {s['held_out']} held out "
        f"({s['seconds']['total']:.2f} s)\nwrote {out_path} and {holdouts_path}"
    )


@click.command("predict-response")
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--sends", required=True, type=click.Path(dir_okay=False, exists=True),
              help="Planned sends (.csv or .parquet): member_id, offer_id, optional "
                   "timestamp (ISO 8601) and channel (app, email, sms; default email).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), callback=_out_file,
              help="Where to write the scored sends (.csv or .parquet).")
@click.option("--catalog", type=click.Path(dir_okay=False, exists=True), help=CATALOG_HELP)
@click.option("--now", default=None, callback=_moment,
              help="The moment of sends without a timestamp (ISO 8601); default: now.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True),
              help="Also score the offers of this data directory's offer events (on Complete "
                   "Journey campaign-<id>) with the learned response model.")
@click.option("--version", default=None, help="Version to use (default: current).")
def predict_response(artifacts_dir, sends, out, catalog, now, data_dir, version) -> None:
    """Score planned sends: P(redeem), expected cost and value of each (member, offer) row.

    Offers are the catalog's templates and, with --data, the data's own offers
    (P(redeem) only). Each row gets a status: ok, unknown_member (scored as a new
    member), unknown_offer, malformed_member_id or malformed_offer_id (the last
    three without scores).
    """
    from serving.api.params import ID_PATTERN
    from serving.engine.planned_sends import score_sends

    frame = read_frame(sends, "sends file", dtype=str, keep_default_na=False)
    engine = _engine(artifacts_dir, catalog, version)
    data = None
    if data_dir is not None:
        from serving.engine.data_offers import DataOffers

        data = DataOffers(engine.bundle, data_dir)
    scored = score_sends(engine, frame, now=now, id_pattern=ID_PATTERN, data_offers=data)
    write_frame_atomic(scored, Path(out))
    counts = scored["status"].value_counts()
    click.echo(f"scored {len(scored)} sends ({', '.join(f'{k}: {v}' for k, v in counts.items())})"
               f"; wrote {out}")
