"""The pinned verl imports its trainer stack here, and Hydra finds our configs by pkg://."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["verl.trainer.main_ppo", "verl.trainer.ppo.ray_trainer",
                                    "verl.trainer.sft_trainer", "verl.utils.dataset.rl_dataset"])
def test_verl_trainer_modules_import(module):
    assert importlib.import_module(module)


def test_pinned_verl_version():
    import verl

    assert verl.__version__ == "0.9.1"
