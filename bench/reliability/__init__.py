"""`make reliability`: the faults users meet, each done many times to the real code, counted,
and written to docs/reliability.md with the command that made each figure (issue 8, point 5).

Run from the repository root: `.venv/bin/python -m bench.reliability [--only a,b] [--quick]`.
Each scenario module has a `run(quick) -> list[Row]`; `__main__` runs them and writes the
matrix. The harness reuses the test support (tests/support: sites, the sandbox process, the
clocks), so the figures come from the same setups as the tests."""
