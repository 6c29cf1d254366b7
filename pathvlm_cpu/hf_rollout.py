"""The `hf` rollout for verl: a `RolloutReplica` launching `HFRolloutServer`s, and the in-worker
`BaseRollout` adapter that streams the actor's weights into them."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import ray
import torch
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica

from pathvlm_cpu.hf_server import HFRolloutServer, server_name


class HFReplica(RolloutReplica):
    """One transformers server per replica, on the node of the replica's first worker."""

    async def launch_servers(self) -> None:
        if self.world_size != 1:
            raise ValueError(
                f"the hf rollout serves a replica from one process; set tensor/data/pipeline parallel sizes to 1 "
                f"(got a rollout world size of {self.world_size})"
            )
        options: dict[str, Any] = {"name": server_name(self.replica_rank) + self.name_suffix,
                                   "max_concurrency": self.max_concurrency}
        if self.workers:
            node_id = await self.workers[0].__ray_call__.remote(lambda worker: ray.get_runtime_context().get_node_id())
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
        server = ray.remote(HFRolloutServer).options(**options).remote(
            config=self.config, model_config=self.model_config, replica_rank=self.replica_rank
        )
        await server.set_global_steps.remote(None)  # waits for the model to load
        self.servers = [server]
        self._server_handle = server
        self._server_address = options["name"]


class HFServerAdapter(BaseRollout):
    """Lives in the actor's worker process; rank 0 of each replica feeds its server the new weights."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1) -> None:
        super().__init__(config, model_config, device_mesh)
        rollout_world_size = (self.config.tensor_model_parallel_size * self.config.data_parallel_size
                              * self.config.pipeline_model_parallel_size)
        rank = int(os.environ.get("RANK", 0))
        self.replica_rank = rank // rollout_world_size if replica_rank == -1 else replica_rank
        self.has_server = rank % rollout_world_size == 0
        self.bucket_bytes = self.config.checkpoint_engine.update_weights_bucket_megabytes << 20
        self._server = None

    def _server_handle(self) -> Any:
        # The replica launches the server after the workers are built: look it up on first use.
        if self._server is None:
            self._server = ray.get_actor(server_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        """Weights and cache stay resident in the server: nothing to resume."""

    async def release(self) -> None:
        """Weights and cache stay resident in the server: nothing to release."""

    @torch.no_grad()
    async def update_weights(self, weights: Generator[tuple[str, torch.Tensor], None, None],
                             wire_format: str = "named_tensors", global_steps: int | None = None,
                             peft_config: dict | None = None, **kwargs: Any) -> None:
        """Stream full tensors to the server in buckets. Every rank drains the generator, since
        producing full tensors from FSDP shards is collective. A LoRA run sends merged weights (base +
        adapter, under the base model's names) when `model.lora.merge` is set, as `lora=on` does."""
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf rollout takes wire_format='named_tensors', not {wire_format!r}")
        if peft_config is not None:
            raise NotImplementedError(
                "the hf rollout takes a LoRA run's merged weights, not its adapter: set "
                "actor_rollout_ref.model.lora.merge=true (conf/lora/on.yaml does)"
            )
        bucket: list[tuple[str, torch.Tensor]] = []
        size = 0
        for name, tensor in weights:
            full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
            if not self.has_server:
                continue
            bucket.append((name, full.detach().to("cpu", copy=True)))
            size += full.nbytes
            if size >= self.bucket_bytes:
                await self._server_handle().load_weights.remote(bucket)
                bucket, size = [], 0
        if self.has_server:
            if bucket:
                await self._server_handle().load_weights.remote(bucket)
            await self._server_handle().set_global_steps.remote(global_steps)
