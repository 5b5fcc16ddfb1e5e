"""Speed and memory benchmarks of gantool (not tests): `python -m benchmarks --help`."""
