"""dagwright's benchmarks (BENCHMARKS.md): `python -m benchmarks` from the repository root.

Every (workload, system, policy, mode, seed) runs in virtual time (`virtual`) against a
fresh in-process emulator (`env`); `harness` runs the matrix, `report` prints it,
`overhead` measures CPU cost in real time.
"""
