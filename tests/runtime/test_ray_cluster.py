"""The multi-node path: a two-node Ray cluster on this machine (ray.cluster_utils.Cluster).

The head node has room for the learner only, so the twin actors must be placed on the
second node and reach the learner across nodes (their own raylet and object store).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from robot_rl.app.launch import train  # noqa: E402
from tests.runtime.test_ray_engine import ray_config  # noqa: E402


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Cluster]:
    """Head: 1 CPU (the learner); worker node: 2 CPUs (the actors)."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, logging_level=logging.WARNING)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.mark.slow
def test_actors_on_another_node_feed_the_learner(tmp_path: Path, two_nodes: Cluster) -> None:
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    config = ray_config(tmp_path, num_actors=2, env_steps=200)
    result = train(config, progress=False)
    actor_nodes = {a["node_id"] for a in result["actors"]}
    assert result["learner_node_id"] not in actor_nodes  # across nodes, not one raylet
    assert result["env_steps"] == 200
    assert result["learner_steps_received"] == 200
    assert result["learner_dropped_steps"] == 0
    assert all(a["weights_version"] >= 1 for a in result["actors"])
