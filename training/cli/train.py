"""``offers train``: fit every model and write a new artifact version."""

from __future__ import annotations

import logging
import os

import click

from training.cli.checks import (
    TRANSACTIONS_HELP,
    as_of_date,
    auto_engine,
    data_location,
    spark_conf,
)
from training.config import load_config
from training.progress import on_terminal


@click.command()
@click.argument("data_dir")
@click.option("--out", "artifacts_dir", required=True, type=click.Path(file_okay=False),
              help="Artifacts directory; the new version is written under it.")
@click.option("--as-of", default=None, callback=as_of_date,
              help="Train on rows strictly before this date (default: the day after the last "
                   "transaction).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="TOML file of training settings (see training/config.py).")
@click.option("--seed", type=int, default=None, help="Random seed (overrides the config).")
@click.option("--signing-key-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Sign the new version with the key in this file (else OFFERS_SIGNING_KEY "
                   "or OFFERS_SIGNING_KEY_FILE, if set).")
@click.option("--retune", is_flag=True,
              help="Search the recommender grid even if the previous version's tuned "
                   "parameters could be reused.")
@click.option("--engine", type=click.Choice(["auto", "pandas", "duckdb", "spark"]),
              default="auto", show_default=True,
              help="Where the per-line work runs (README: Engines): duckdb also reads and "
                   "checks the data files itself, so the lines never load into pandas; spark "
                   "also fits the recommender's ALS with Spark MLlib. Model fitting runs in "
                   "this process on every engine. auto: pandas up to 5,000,000 transaction "
                   "lines, duckdb above (or with --memory-limit), spark for a URL or with "
                   "Spark options; the choice is printed.")
@click.option("--memory-limit", default=None, metavar="SIZE",
              help="DuckDB memory limit (e.g. 2GB) of --engine duckdb, and of the load step "
                   "of --engine spark (DuckDB checks and cleans the files); above it DuckDB "
                   "spills.")
@click.option("--spark-master", default=None, metavar="URL",
              help="Spark master of --engine spark: local[*] (default), local[2], "
                   "spark://host:7077, yarn. Needs Java 17.")
@click.option("--staging-dir", default=None, type=click.Path(file_okay=False),
              help="Where --engine spark stages the cleaned lines as Parquet for Spark to "
                   "read (a fresh subdirectory, removed at the end): default a temporary "
                   "directory; required with a cluster master (a path the executors mount).")
@click.option("--spark-conf", "spark_settings", multiple=True, callback=spark_conf,
              metavar="KEY=VALUE",
              help="A Spark setting of --engine spark, as spark-submit's --conf (repeatable), "
                   "e.g. spark.driver.memory=8g. A local master's JVM gets a quarter of this "
                   "machine's memory as heap unless spark.driver.memory is set here or in "
                   "Spark's own configuration.")
@click.option("--transactions", default=None, metavar="PATH|GLOB", help=TRANSACTIONS_HELP)
def train(
    data_dir: str, artifacts_dir: str, as_of: str | None, config_file: str | None,
    seed: int | None, signing_key_file: str | None, retune: bool, engine: str,
    memory_limit: str | None, spark_master: str | None, staging_dir: str | None,
    spark_settings: dict, transactions: str | None,
) -> None:
    """Train segmentation, recommenders, churn, value and offer-response models on DATA_DIR.

    Each model is evaluated on a time-based validation split (the last weeks
    before --as-of held out). The new version becomes ARTIFACTS_DIR/current
    only once completely written, with report.html beside the models.
    """
    from models.lifecycle.reliability import MIN_SPENDERS
    from training.artifacts.signing import KEY_FILE_ENV, signing_key
    from training.baseline_flags import grouped_flag_lines, uplift_noise
    from training.pipeline import train as run_training

    if signing_key_file:  # read by the artifact writer (training.artifacts.signing)
        os.environ[KEY_FILE_ENV] = os.path.abspath(signing_key_file)
    signing_key()  # a bad key file is an error before hours of training, not after

    if not on_terminal():  # a terminal gets a progress bar instead of log lines
        logging.getLogger("offers.progress").setLevel(logging.INFO)
    config = load_config(config_file, seed=seed)
    if retune:
        config["recommend"]["reuse_tuned"] = False
    if engine == "auto":
        engine = auto_engine(data_dir, memory_limit, spark_master, staging_dir, spark_settings,
                             transactions)
    if memory_limit and engine == "pandas":
        raise click.UsageError("--memory-limit applies to --engine duckdb or spark only.")
    data_location(data_dir, engine, transactions)
    for name, value in (("--spark-master", spark_master), ("--staging-dir", staging_dir),
                        ("--spark-conf", spark_settings)):
        if value and engine != "spark":
            raise click.UsageError(f"{name} applies to --engine spark only.")
    # Only a non-default engine is passed on: callers (and test doubles) of the
    # older signature keep working.
    engine_options = {} if engine == "pandas" else {"engine": engine, "memory_limit": memory_limit}
    if engine == "spark":
        from features.relational.spark import check_spark

        check_spark(spark_master)  # no Java, or a master that does not answer: say so now
        engine_options.update(spark_master=spark_master, staging_dir=staging_dir,
                              spark_conf=spark_settings)
        if transactions is not None:
            engine_options["transactions"] = transactions
    version, run = run_training(data_dir, artifacts_dir, as_of=as_of, config=config,
                                **engine_options)
    m = run.metrics
    k = config["recommend"]["k"]
    skipped = m.get("skipped", {})
    click.echo(f"wrote {artifacts_dir}/{version} (now current), trained on rows before "
               f"{run.as_of.date()}")
    click.echo(f"  members scored: {len(run.members)}; segments: {m['segmentation']['n_clusters']} "
               "behavioural clusters")
    # What the cleaning policy dropped: why a member of the data may have no score.
    cleaning = getattr(run.dataset, "cleaning", None)
    for line in cleaning.lines(changed_only=True) if cleaning is not None else []:
        click.echo(f"  cleaning: {line} (docs/data.md)")
    for step, reason in skipped.items():
        click.echo(f"  SKIPPED {step}: {reason}")
    if "recommend" in m:
        rec = m["recommend"]
        click.echo(
            f"  recommendations NDCG@{k}: blend {rec[f'blend_ndcg@{k}']:.4f}, buy-again "
            f"{rec[f'buy_again_ndcg@{k}']:.4f}, popularity {rec[f'popularity_ndcg@{k}']:.4f}"
            f"; never bought: blend {rec[f'blend_ndcg@{k}_new']:.4f}, "
            f"popularity {rec[f'popularity_ndcg@{k}_new']:.4f}"
        )
        if f"top_frequency_precision@{k}" in rec:
            click.echo(f"  precision@{k}: blend {rec[f'blend_precision@{k}']:.4f}, personal "
                       f"top-frequency {rec[f'top_frequency_precision@{k}']:.4f}; never bought: "
                       f"blend {rec[f'blend_precision@{k}_new']:.4f}, popularity "
                       f"{rec[f'popularity_precision@{k}_new']:.4f}")
    if "churn" in m:
        churn = m["churn"]
        click.echo(f"  churn ({churn['horizon_days']}-day horizon): ROC-AUC "
                   f"{churn['roc_auc']:.3f} (recency baseline {churn['baseline']['roc_auc']:.3f})")
    if "value" in m:
        value = m["value"]
        click.echo(f"  spend: Spearman {value['spearman']:.3f} "
                   f"(past-spend baseline {value['baseline']['spearman']:.3f})")
        clv = value.get("clv_mean") or {}
        if clv.get("total_ratio") is not None:
            bands = ", ".join(f"{band} {ratio:.2f}"
                              for band, ratio in clv["by_last_purchase"].items()
                              if ratio is not None)
            unjudged = clv.get("not_judged") or []
            if unjudged:
                bands += (f" (not judged where fewer than {MIN_SPENDERS} members bought: "
                          f"{', '.join(unjudged)})")
            click.echo(f"  CLV's mean forecast: {clv['total_ratio']:.2f} x the spend of the "
                       f"validation window; by last purchase: {bands}")
    horizons = m.get("horizons") or {}
    if horizons.get("trained"):  # which model answers offers score --horizon-days N
        click.echo(f"  at any horizon (offers score --horizon-days): {horizons['served_by']}")
    offer = m["offer_response"]
    if "roc_auc" in offer:
        click.echo(f"  offer response ROC-AUC {offer['roc_auc']:.3f} on later sends")
    else:
        click.echo("  offer response: priors per offer type (too little offer history)")
    for line in grouped_flag_lines(m.get("flags", [])):
        click.echo(f"  FLAG {line}")
    uplift = m.get("uplift") or {}
    if uplift.get("trained"):
        better = ", ".join(uplift["better_than_random"]) or "none"
        served = uplift.get("served_types") or []
        shaky = [r["offer_type"] for r in uplift["models"] if r["outcome"] == "spend"
                 and r["offer_type"] in served and (uplift_noise(r) or (False,))[0]]
        click.echo(f"  uplift: {len(uplift['models'])} models; better than random and than "
                   f"targeting by P(redeem): {better}; ranked by incremental profit: "
                   f"{', '.join(served) or 'none'}"
                   + (f" (lead within the noise: {', '.join(shaky)})" if shaky else ""))
    elif uplift:
        click.echo(f"  uplift: not trained: {uplift['reason']}")
    click.echo(f"  total {run.wall_seconds:.1f} s; report: "
               f"{artifacts_dir}/{version}/report.html")
