"""What tests of one topic share across tiers (tests/unit, tests/slow, tests/emulator), so that no test
module imports another. General helpers (model files, synthesis, terraform) are in tests/helpers.py.

    cli_runs      `ecs-autoscale` processes started and read line by line; STACK_DIR state and outputs
    doctor        the doctor tests' model, its names, and botocore clients that fail as AWS would
    estimate      the pinned assumptions of the hand-computed timelines, and runs of the model on them
    import_graph  the package's import graph, read statically
    jobs          deepsea-ai's video keys, the reference worker, and queue reads for the test's own view
    outage        a relay in front of the emulator that a test cuts and reopens, as a network outage
    request_check how the emulator's request check words botocore's models
    tiers         markers derived from fixtures, and each test file in its tier's folder (conftest.py)
"""
