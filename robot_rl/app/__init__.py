"""The composition root: the one place that builds a run from its config.

``build`` turns a RunConfig into the env and its wrappers (safety, reward model), policies,
agents and buffers; ``wiring`` adds the dashboard session and reset controllers; ``launch``
trains (demos, actor + learner processes, evaluation); ``learner_main`` and ``supervisor`` run
and restart the learner process; ``demos`` records scripted demonstrations; ``offline`` trains
the BC baseline. The CLI, the ROS nodes and the benchmarks call it; ``runtime/`` (the actor
and learner loops) knows none of it. tests/test_layering.py checks the direction.
"""
