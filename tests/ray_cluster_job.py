"""
A training job on an existing Ray cluster of two nodes (Ray's own test cluster, on this machine), joined as a job
on a cluster joins it: ``RAY_ADDRESS`` names the cluster and the evaluator asks for ``address="auto"``.

Run by ``test_ray_evaluator.py`` in a process of its own (the test process holds its own Ray session). Prints
one line of JSON: what the job found and whether it trained as local evaluation does.
"""

import json
import os

import numpy as np
import ray
from ray.cluster_utils import Cluster

from sb3_cosyne import CoSyNE, RayEvaluator


def node_of(_actor) -> str:
    return ray.get_runtime_context().get_node_id()


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=1, include_dashboard=False))
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        os.environ["RAY_ADDRESS"] = cluster.address
        kwargs = dict(pop_size=8, seed=3, n_eval_episodes=2, champion_episodes=2)
        # n_workers=None: one actor per free CPU of the cluster, one on each node here.
        with RayEvaluator("CartPole-v1", address="auto") as evaluator:
            remote = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(3000)
            nodes = ray.get([actor.__ray_call__.remote(node_of) for actor in evaluator.actors])
            joined = ray.get_runtime_context().gcs_address == cluster.gcs_address
        local = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(3000)
        report = {
            "joined the cluster": joined,
            "cluster nodes": len([node for node in ray.nodes() if node["Alive"]]),
            "actors": len(nodes),
            "nodes with an actor": len(set(nodes)),
            "generations": remote.generation,
            "same population": bool(np.array_equal(remote.strategy.population, local.strategy.population)),
            "same champion": bool(np.array_equal(remote.champion_params(), local.champion_params())),
            "same best fitness": remote.best_fitness == local.best_fitness,
        }
        print(json.dumps(report))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
