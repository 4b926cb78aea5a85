"""``offers lift --arms``: per-arm table and plot from a decision log and a data directory."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from offers.cli import main


def test_lift_arms_command_prints_the_arms_and_draws_them(synth_data, tmp_path):
    events = pd.read_csv(next(synth_data.glob("offer_events.*"))) \
        if list(synth_data.glob("offer_events.csv")) else pd.read_parquet(
            next(synth_data.glob("offer_events.*")))
    start = pd.to_datetime(events["timestamp"]).min()
    members = events["member_id"].astype(str).unique()
    log = pd.DataFrame({"member_id": members,
                        "arm": ["A" if i % 2 else "B" for i in range(len(members))],
                        "decided_at": start.isoformat()})
    path = tmp_path / "decisions.csv"
    log.to_csv(path, index=False)
    plot = tmp_path / "arms.png"
    args = ["lift", str(synth_data), "--arms", str(path), "--window-days", "3650"]
    result = CliRunner().invoke(main, [*args, "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[0][:4] == ["arm", "members", "redeemers", "redemption_rate"]
    assert [r[0] for r in rows[1:3]] == ["A", "B"]
    assert plot.stat().st_size > 1000
    result = CliRunner().invoke(main, ["lift", str(synth_data), "--plot", str(plot)])
    assert result.exit_code != 0 and "--plot needs --arms" in result.output
