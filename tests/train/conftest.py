"""A small synthetic fixture made by the fake synthesis pipeline (formulaic data: for wiring tests only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltamem.synth import SynthConfig, SynthPipeline, fake_synth_model


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    SynthPipeline(fake_synth_model(), out, SynthConfig(personas=4, sessions=3, memories=(3, 4), turns=(4, 4))).run()
    return out
