"""Which pipelines the bench runs: quix belongs to the default only where Quix Streams is installed, and
asking for it without the peer extra fails at once with a message naming the extra (no services started)."""

from __future__ import annotations

import asyncio

import pytest
import typer
from typer.testing import CliRunner

from rnnstream.bench import runner
from rnnstream.bench.quix import quix_available
from rnnstream.bench.runner import PIPELINES, BenchConfig, default_pipelines, run_bench
from rnnstream.cli.bench_cmd import bench
from rnnstream.errors import ConfigurationError


def test_the_default_is_every_pipeline_in_order_with_quix_where_installed() -> None:
    assert PIPELINES == ("faust", "aiokafka", "quix", "naive", "floor")
    expected = PIPELINES if quix_available() else ("faust", "aiokafka", "naive", "floor")
    assert default_pipelines() == expected == BenchConfig().pipelines


def test_quix_without_the_peer_extra_is_refused_with_the_extras_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "quix_available", lambda: False)
    assert "quix" not in default_pipelines()
    with pytest.raises(ConfigurationError, match=r"\[peer\]"):
        asyncio.run(run_bench(BenchConfig(pipelines=("quix",))))
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(bench)
    result = CliRunner().invoke(app, ["--pipelines", "quix,naive"])
    assert result.exit_code == 2
    assert "Quix Streams" in result.output and "[peer]" in result.output


def test_fewer_partitions_than_workers_is_refused_before_anything_starts() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(bench)
    result = CliRunner().invoke(app, ["--workers", "3", "--partitions", "2", "--pipelines", "faust"])
    assert result.exit_code == 2
    assert "--partitions 2" in result.output and "3 workers" in result.output


def test_the_partition_count_is_part_of_the_command_that_repeats_a_run() -> None:
    assert BenchConfig().partitions == 8
    assert "--partitions 4 " in BenchConfig(partitions=4).command()
